/**
 * The benchmark's upstream: answers `POST …/chat/completions` as fast as this runtime can, with a
 * fixed `chat.completion` (or, for `stream: true`, the same answer as a ready-made OpenAI event
 * stream), so that what is measured is whatever sits in front of it. Unlike tests/fake_upstream.ts
 * it records nothing and cannot be scripted.
 *
 * The answer's size follows the request's `max_tokens`, as a real model's would: 1024 or more
 * gets a ~4 KB answer, anything else ~1 KB. Responses are built and encoded once, at start-up.
 *
 * Usage: `deno run --allow-net bench/fake_upstream.ts --port PORT [--delay-ms MS]`
 *
 * @module
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string" }, "delay-ms": { type: "string", default: "0" } },
});
const port = Number(values.port);
const delayMs = Number(values["delay-ms"]);
if (!Number.isInteger(port) || !(delayMs >= 0)) {
  console.error("usage: fake_upstream.ts --port PORT [--delay-ms MS]");
  Deno.exit(2);
}

const MODEL = "internlm2.5-latest";
const CREATED = 1_760_000_000;
const encoder = new TextEncoder();

/** Prose of roughly `bytes` bytes (ASCII, so bytes = characters). */
function prose(bytes: number): string {
  const sentence = "The proxy forwards this answer without changing a single word of it. ";
  return sentence.repeat(Math.ceil(bytes / sentence.length)).slice(0, bytes).trimEnd() + ".";
}

function completionBody(content: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created: CREATED,
    model: MODEL,
    choices: [{
      index: 0,
      message: { role: "assistant", content, refusal: null },
      logprobs: null,
      finish_reason: "stop",
    }],
    usage: { prompt_tokens: 420, completion_tokens: content.length >> 2, total_tokens: 0 },
  }));
}

/** What a natively streaming upstream would send: the answer in 32-character deltas. */
function streamBody(content: string): Uint8Array<ArrayBuffer> {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    `data: ${
      JSON.stringify({
        id: "chatcmpl-bench",
        object: "chat.completion.chunk",
        created: CREATED,
        model: MODEL,
        choices: [{ index: 0, delta, finish_reason: finish }],
      })
    }\n\n`;
  let out = chunk({ role: "assistant", content: "" });
  for (let i = 0; i < content.length; i += 32) out += chunk({ content: content.slice(i, i + 32) });
  return encoder.encode(out + chunk({}, "stop") + "data: [DONE]\n\n");
}

// The completion JSON around the content is ~300 bytes; these make ~1 KB and ~4 KB bodies.
const SHORT = prose(700);
const LONG = prose(3800);
const answers = {
  short: { json: completionBody(SHORT), sse: streamBody(SHORT) },
  long: { json: completionBody(LONG), sse: streamBody(LONG) },
};
const JSON_HEADERS = { "content-type": "application/json" };
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };

Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
  if (req.method !== "POST" || !req.url.endsWith("/chat/completions")) {
    return new Response('{"error":{"message":"not found","type":"invalid_request_error"}}', {
      status: 404,
      headers: JSON_HEADERS,
    });
  }
  // Parsed like a real upstream would; a malformed body is a 400, as there.
  let body: { max_tokens?: unknown; stream?: unknown };
  try {
    body = await req.json();
  } catch {
    return new Response('{"error":{"message":"bad json","type":"invalid_request_error"}}', {
      status: 400,
      headers: JSON_HEADERS,
    });
  }
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  const answer = typeof body.max_tokens === "number" && body.max_tokens >= 1024
    ? answers.long
    : answers.short;
  return body.stream === true
    ? new Response(answer.sse, { headers: SSE_HEADERS })
    : new Response(answer.json, { headers: JSON_HEADERS });
});
