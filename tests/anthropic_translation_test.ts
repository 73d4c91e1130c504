// The Anthropic front end's translation, rule by rule, both ways: request → canonical chat
// request, canonical completion → message, canonical chunks → Anthropic events, errors → status
// and type. End-to-end behaviour is in anthropic_sdk_test.ts and anthropic_claude_code_test.ts.
import assert from "node:assert/strict";
import { ApiError } from "../src/canonical/errors.ts";
import type { ChatCompletion, ChatCompletionChunk } from "../src/canonical/types.ts";
import { anthropicError } from "../src/frontends/anthropic/errors.ts";
import { toChatRequest } from "../src/frontends/anthropic/request.ts";
import { toAnthropicMessage } from "../src/frontends/anthropic/response.ts";
import { anthropicStreamWriter } from "../src/frontends/anthropic/stream_writer.ts";
import { validateMessagesRequest } from "../src/frontends/anthropic/validate.ts";
import { INTERRUPTED } from "../src/pipeline/tool_pairs.ts";
import { synthesizedEvents } from "../src/streams/synthesize.ts";
import { completionOf } from "./completion_fixture.ts";

const LIMITS = { maxBodyBytes: 1 << 20, maxMessages: 100, maxDepth: 64 };

function translate(extra: Record<string, unknown>) {
  const body = {
    model: "m",
    max_tokens: 100,
    messages: [{ role: "user", content: "hi" }],
    ...extra,
  };
  return toChatRequest(validateMessagesRequest(body, LIMITS, false));
}

const call = (id: string, name = "Write", args = "{}") => ({
  id,
  type: "function",
  function: { name, arguments: args },
});

// --- Request: Anthropic → canonical -------------------------------------------------------------

const REQUEST_RULES: Array<
  [string, Record<string, unknown>, (chat: Record<string, unknown>) => void]
> = [
  [
    "system string → first system message",
    { system: "be brief" },
    (c) => assert.deepEqual((c.messages as unknown[])[0], { role: "system", content: "be brief" }),
  ],
  [
    "system text blocks → one system message, cache_control stripped",
    {
      system: [{ type: "text", text: "a", cache_control: { type: "ephemeral" } }, {
        type: "text",
        text: "b",
      }],
    },
    (c) => assert.deepEqual((c.messages as unknown[])[0], { role: "system", content: "a\nb" }),
  ],
  [
    "Claude Code's billing-header system block is left out",
    {
      system: [{ type: "text", text: "x-anthropic-billing-header: cc_version=2.1; x;" }, {
        type: "text",
        text: "real",
      }],
    },
    (c) => assert.deepEqual((c.messages as unknown[])[0], { role: "system", content: "real" }),
  ],
  [
    "role system inside messages → system message in place (string or blocks)",
    {
      messages: [
        { role: "user", content: "q" },
        { role: "system", content: [{ type: "text", text: "env" }] },
        { role: "system", content: "more" },
      ],
    },
    (c) =>
      assert.deepEqual(c.messages, [
        { role: "user", content: "q" },
        { role: "system", content: "env" },
        { role: "system", content: "more" },
      ]),
  ],
  [
    "text blocks → one string; image base64 and url → image_url parts",
    {
      messages: [{
        role: "user",
        content: [
          { type: "text", text: "look" },
          { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } },
          { type: "image", source: { type: "url", url: "https://x.test/a.png" } },
        ],
      }],
    },
    (c) =>
      assert.deepEqual((c.messages as unknown[])[0], {
        role: "user",
        content: [
          { type: "text", text: "look" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
          { type: "image_url", image_url: { url: "https://x.test/a.png" } },
        ],
      }),
  ],
  [
    "tool_use → tool_calls; tool_result (string, blocks, is_error) → tool messages in order",
    {
      messages: [
        { role: "user", content: "go" },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "plan", signature: "sig" },
            { type: "text", text: "calling" },
            { type: "tool_use", id: "t1", name: "Read", input: { path: "a" } },
            { type: "tool_use", id: "t2", name: "Bash", input: {} },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "t1", content: "file a" },
            {
              type: "tool_result",
              tool_use_id: "t2",
              is_error: true,
              content: [{ type: "text", text: "exit 1" }],
            },
            { type: "text", text: "and?" },
          ],
        },
      ],
    },
    (c) =>
      assert.deepEqual((c.messages as unknown[]).slice(1), [
        {
          role: "assistant",
          content: "calling",
          tool_calls: [call("t1", "Read", '{"path":"a"}'), call("t2", "Bash", "{}")],
        },
        { role: "tool", tool_call_id: "t1", content: "file a" },
        { role: "tool", tool_call_id: "t2", content: "Error: exit 1" },
        { role: "user", content: "and?" },
      ]),
  ],
  [
    "an image in a tool result → the user turn after the results",
    {
      messages: [
        { role: "assistant", content: [{ type: "tool_use", id: "s", name: "Shot", input: {} }] },
        {
          role: "user",
          content: [{
            type: "tool_result",
            tool_use_id: "s",
            content: [{ type: "text", text: "shot" }, {
              type: "image",
              source: { type: "url", url: "u" },
            }],
          }],
        },
      ],
    },
    (c) =>
      assert.deepEqual((c.messages as unknown[]).slice(1), [
        { role: "tool", tool_call_id: "s", content: "shot" },
        { role: "user", content: [{ type: "image_url", image_url: { url: "u" } }] },
      ]),
  ],
  [
    "unpaired tool_use and tool_result are repaired (src/pipeline/tool_pairs.ts)",
    {
      messages: [
        { role: "user", content: "go" },
        { role: "assistant", content: [{ type: "tool_use", id: "a", name: "Write", input: {} }] },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "ghost", content: "boo" }, {
            type: "text",
            text: "next",
          }],
        },
      ],
    },
    (c) =>
      assert.deepEqual((c.messages as unknown[]).slice(2), [
        { role: "tool", tool_call_id: "a", content: INTERRUPTED },
        { role: "user", content: "[Result of tool call ghost]\nboo" },
        { role: "user", content: "next" },
      ]),
  ],
  [
    "thinking and redacted_thinking in history are never sent on",
    {
      messages: [{
        role: "assistant",
        content: [{ type: "redacted_thinking", data: "xx" }, {
          type: "thinking",
          thinking: "t",
          signature: "",
        }, { type: "text", text: "A" }],
      }, { role: "user", content: "q" }],
    },
    (c) => assert.deepEqual((c.messages as unknown[])[0], { role: "assistant", content: "A" }),
  ],
  [
    "tools: input_schema → parameters; server tools and deferred tools left out",
    {
      tools: [
        {
          name: "Write",
          description: "writes",
          input_schema: { type: "object" },
          cache_control: { type: "ephemeral" },
        },
        { type: "web_search_20250305", name: "web_search" },
        { name: "Later", input_schema: { type: "object" }, defer_loading: true },
      ],
    },
    (c) =>
      assert.deepEqual(c.tools, [{
        type: "function",
        function: { name: "Write", description: "writes", parameters: { type: "object" } },
      }]),
  ],
  ...([
    [{ type: "auto" }, "auto"],
    [{ type: "any" }, "required"],
    [{ type: "none" }, "none"],
    [{ type: "tool", name: "Write" }, { type: "function", function: { name: "Write" } }],
  ] as const).map((
    [choice, expected],
  ): [string, Record<string, unknown>, (c: Record<string, unknown>) => void] => [
    `tool_choice ${choice.type} → ${JSON.stringify(expected)}`,
    { tools: [{ name: "Write", input_schema: {} }], tool_choice: choice },
    (c) => assert.deepEqual(c.tool_choice, expected),
  ]),
  [
    "disable_parallel_tool_use → parallel_tool_calls: false",
    {
      tools: [{ name: "W", input_schema: {} }],
      tool_choice: { type: "auto", disable_parallel_tool_use: true },
    },
    (c) => assert.equal(c.parallel_tool_calls, false),
  ],
  [
    "sampling fields, stop_sequences → stop, metadata.user_id → user",
    {
      temperature: 0.2,
      top_p: 0.9,
      top_k: 5,
      stop_sequences: ["END"],
      metadata: { user_id: "u1" },
    },
    (c) => {
      assert.equal(c.temperature, 0.2);
      assert.equal(c.top_p, 0.9);
      assert.equal(c.max_tokens, 100);
      assert.deepEqual(c.stop, ["END"]);
      assert.equal(c.user, "u1");
      assert.equal(c.top_k, undefined);
    },
  ],
  [
    "stream → stream with usage at the end",
    { stream: true },
    (c) => assert.deepEqual([c.stream, c.stream_options], [true, { include_usage: true }]),
  ],
  ...([["enabled", true], ["adaptive", true], ["disabled", false]] as const).map(
    ([type, mode]): [string, Record<string, unknown>, (c: Record<string, unknown>) => void] => [
      `thinking ${type} → thinking_mode ${mode}`,
      { thinking: { type, budget_tokens: 1024, display: "omitted" } },
      (c) => assert.equal(c.thinking_mode, mode),
    ],
  ),
  [
    "Claude Code's output_config and context_management are accepted and dropped",
    { output_config: { effort: "medium" }, context_management: { edits: [] } },
    (c) => assert.deepEqual(Object.keys(c).sort(), ["max_tokens", "messages", "model"]),
  ],
];

for (const [name, extra, check] of REQUEST_RULES) {
  Deno.test(`anthropic request: ${name}`, () => check(translate(extra).chat));
}

Deno.test("anthropic request: what is left out is listed for the debug log", () => {
  const { dropped } = translate({
    top_k: 3,
    output_config: {},
    tools: [{ type: "bash_20250124", name: "bash" }],
  });
  assert.deepEqual(dropped, ["tool bash (bash_20250124)", "top_k", "output_config"]);
});

// --- Validation -----------------------------------------------------------------------------------

const INVALID: Array<[string, Record<string, unknown>]> = [
  ["model", { model: 42 }],
  ["messages", { messages: [] }],
  ["messages.0", { messages: ["hi"] }],
  ["messages.0.role", { messages: [{ role: "tool", content: "x" }] }],
  ["messages.0.content", { messages: [{ role: "user", content: 5 }] }],
  ["messages.0.content.0", { messages: [{ role: "user", content: [{ text: "no type" }] }] }],
  ["messages.0.content.0.text", {
    messages: [{ role: "user", content: [{ type: "text", text: 1 }] }],
  }],
  ["messages.0.content.0.source.type", {
    messages: [{ role: "user", content: [{ type: "image", source: { type: "file" } }] }],
  }],
  ["messages.0.content.0.input", {
    messages: [{
      role: "assistant",
      content: [{ type: "tool_use", id: "a", name: "b", input: "x" }],
    }],
  }],
  ["messages.0.content.0.is_error", {
    messages: [{
      role: "user",
      content: [{ type: "tool_result", tool_use_id: "a", is_error: "yes" }],
    }],
  }],
  ["system", { system: 5 }],
  ["max_tokens", { max_tokens: "100" }],
  ["max_tokens", { max_tokens: 0 }],
  ["temperature", { temperature: "hot" }],
  ["stop_sequences", { stop_sequences: "END" }],
  ["stream", { stream: "yes" }],
  ["tools.0.input_schema", { tools: [{ name: "a" }] }],
  ["tool_choice.type", { tool_choice: { type: "sometimes" } }],
  ["tool_choice.name", { tool_choice: { type: "tool" } }],
  ["thinking.type", { thinking: { type: "deep" } }],
  ["metadata", { metadata: { user_id: 5 } }],
];

for (const [field, extra] of INVALID) {
  Deno.test(`anthropic validation: a wrong ${field} is a 400 naming it`, () => {
    const body = {
      model: "m",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
      ...extra,
    };
    assert.throws(() => validateMessagesRequest(body, LIMITS, false), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 400);
      assert.equal(anthropicError(err).body.error.type, "invalid_request_error");
      assert.ok(err.message.startsWith(`${field}:`), err.message);
      return true;
    });
  });
}

Deno.test("anthropic validation: model may be absent when the operator forces one", () => {
  const body = { messages: [{ role: "user", content: "hi" }] };
  assert.throws(() => validateMessagesRequest(body, LIMITS, false));
  assert.equal(validateMessagesRequest(body, LIMITS, true).model, undefined);
});

// --- Response: canonical → Anthropic --------------------------------------------------------------

Deno.test("anthropic response: blocks thinking → text → tool_use, msg_ id, usage with cache reads", () => {
  const message = toAnthropicMessage(
    completionOf({
      content: "Hi",
      reasoning_content: "hmm",
      tool_calls: [call("c1", "Write", '{"a":1}')],
    }, "tool_calls"),
    [],
  );
  assert.deepEqual(message, {
    id: "msg_abc",
    type: "message",
    role: "assistant",
    model: "internlm/intern-s1",
    content: [
      { type: "thinking", thinking: "hmm", signature: "llm-proxy" },
      { type: "text", text: "Hi" },
      { type: "tool_use", id: "c1", name: "Write", input: { a: 1 } },
    ],
    stop_reason: "tool_use",
    stop_sequence: null,
    usage: {
      input_tokens: 20,
      output_tokens: 7,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 10,
    },
  });
});

const STOPS: Array<[string, Record<string, unknown>, string, string | null]> = [
  ["stop", {}, "end_turn", null],
  ["length", {}, "max_tokens", null],
  ["content_filter", {}, "refusal", null],
  ["stop", { stop_reason: "END" }, "stop_sequence", "END"],
  ["stop", { stop_reason: "OTHER" }, "end_turn", null],
];
for (const [finish, extra, reason, sequence] of STOPS) {
  Deno.test(`anthropic response: finish ${finish} ${JSON.stringify(extra)} → ${reason}`, () => {
    const m = toAnthropicMessage(completionOf({ content: "x" }, finish, extra), ["END"]);
    assert.deepEqual([m.stop_reason, m.stop_sequence], [reason, sequence]);
  });
}

Deno.test("anthropic response: thinking is signed, and sent back it stays behind", () => {
  // pi replays a thinking block with an empty signature as a text block: the model would then
  // read its reasoning as its own earlier answer.
  const m = toAnthropicMessage(completionOf({ content: "A", reasoning_content: "plan" }), []);
  const thinking = m.content[0] as { type: string; signature: string };
  assert.equal(thinking.type, "thinking");
  assert.notEqual(thinking.signature, "");
  const next = translate({
    messages: [{ role: "user", content: "q" }, { role: "assistant", content: m.content }, {
      role: "user",
      content: "again",
    }],
  });
  assert.deepEqual(next.chat.messages[1], { role: "assistant", content: "A" });
});

Deno.test("anthropic response: tool_use whenever a call went out, whatever the finish reason", () => {
  const m = toAnthropicMessage(completionOf({ tool_calls: [call("c")] }, "stop"), []);
  assert.equal(m.stop_reason, "tool_use");
});

Deno.test("anthropic response: unparseable tool arguments are a readable 502, not a crash", () => {
  assert.throws(
    () => toAnthropicMessage(completionOf({ tool_calls: [call("c", "Write", "{oops")] }), []),
    (err: unknown) =>
      err instanceof ApiError && err.status === 502 && /Write.*\{oops/.test(err.message),
  );
});

// --- Errors ---------------------------------------------------------------------------------------

const ERRORS: Array<[number, string | undefined, number, string]> = [
  [400, undefined, 400, "invalid_request_error"],
  [401, undefined, 401, "authentication_error"],
  [403, undefined, 403, "permission_error"],
  [404, undefined, 404, "not_found_error"],
  [413, undefined, 413, "request_too_large"],
  [429, undefined, 429, "rate_limit_error"],
  [500, "internal_error", 500, "api_error"],
  [502, "upstream_error", 529, "overloaded_error"],
  [503, "server_shutting_down", 529, "overloaded_error"],
  [503, "no_api_key", 503, "api_error"],
  [502, "upstream_keys_rejected", 502, "api_error"],
  [504, "upstream_timeout", 504, "timeout_error"],
];
for (const [status, code, want, type] of ERRORS) {
  Deno.test(`anthropic errors: ${status} ${code ?? ""} → ${want} ${type}`, () => {
    const mapped = anthropicError(new ApiError(status, "m", { code }));
    assert.deepEqual(mapped, {
      status: want,
      body: { type: "error", error: { type, message: "m" } },
    });
  });
}

// --- Stream: canonical chunks → Anthropic events --------------------------------------------------

/** `[event name, data]` of each event in `text`. */
function events(text: string): Array<[string, Record<string, unknown>]> {
  return text.split("\n\n").filter((e) => e.trim() !== "").map((e) => {
    const name = /^event: (.+)$/m.exec(e)?.[1] ?? "(none)";
    return [name, JSON.parse(/^data: (.+)$/m.exec(e)![1])];
  });
}

function chunk(
  delta: ChatCompletionChunk["choices"][0]["delta"],
  finish: string | null = null,
): ChatCompletionChunk {
  return {
    id: "chatcmpl-s",
    object: "chat.completion.chunk",
    created: 1,
    model: "b/m",
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

Deno.test("anthropic stream: live chunks → strict block indices, one open block at a time", () => {
  const w = anthropicStreamWriter({ pieceSize: 8, stopSequences: [] });
  let text = "";
  text += w.chunk(chunk({ role: "assistant", content: "" }));
  text += w.chunk(chunk({ reasoning_content: "think" }));
  text += w.chunk(chunk({ content: "Hel" }));
  text += w.chunk(chunk({ content: "lo" }));
  text += w.chunk(
    chunk({
      tool_calls: [{ index: 0, id: "t", type: "function", function: { name: "W", arguments: "" } }],
    }),
  );
  text += w.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }));
  // Content and finish together: the last piece is not lost.
  text += w.chunk(
    chunk({ tool_calls: [{ index: 0, function: { arguments: "1}" } }] }, "tool_calls"),
  );
  text += w.chunk({
    ...chunk({}),
    choices: [],
    usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 },
  });
  text += w.end();
  const got = events(text);
  assert.deepEqual(got.map(([name, d]) => `${name}${d.index ?? ""}`), [
    "message_start",
    "content_block_start0",
    "content_block_delta0",
    "content_block_delta0",
    "content_block_stop0",
    "content_block_start1",
    "content_block_delta1",
    "content_block_delta1",
    "content_block_stop1",
    "content_block_start2",
    "content_block_delta2",
    "content_block_delta2",
    "content_block_stop2",
    "message_delta",
    "message_stop",
  ]);
  assert.equal((got[0][1].message as Record<string, unknown>).id, "msg_s");
  assert.deepEqual(got[2][1].delta, { type: "thinking_delta", thinking: "think" });
  assert.deepEqual(got[3][1].delta, { type: "signature_delta", signature: "llm-proxy" });
  assert.deepEqual(got[9][1].content_block, { type: "tool_use", id: "t", name: "W", input: {} });
  assert.deepEqual(got[11][1].delta, { type: "input_json_delta", partial_json: "1}" });
  assert.deepEqual(got[13][1], {
    type: "message_delta",
    delta: { stop_reason: "tool_use", stop_sequence: null },
    usage: { input_tokens: 5, output_tokens: 3, cache_read_input_tokens: 0 },
  });
});

async function synthesized(completion: ChatCompletion, pieceSize = 4): Promise<string> {
  const w = anthropicStreamWriter({ pieceSize, stopSequences: [] });
  let text = "";
  for await (const e of synthesizedEvents(completion, { pieceSize, includeUsage: true }, w)) {
    if ("frames" in e) text += e.frames;
  }
  return text + w.end();
}

Deno.test("anthropic stream: a whole answer → message_start with the real input tokens", async () => {
  const got = events(
    await synthesized(completionOf({ content: "Hello world", reasoning_content: "hm" })),
  );
  const start = got[0][1].message as Record<string, Record<string, unknown>>;
  assert.equal(start.usage.input_tokens, 20);
  assert.equal(start.usage.output_tokens, 0);
  const text = got.filter(([, d]) => (d.delta as Record<string, unknown>)?.type === "text_delta")
    .map(([, d]) => (d.delta as Record<string, string>).text).join("");
  assert.equal(text, "Hello world");
  assert.equal(got.filter(([n]) => n === "content_block_start").length, 2);
  assert.deepEqual(got.at(-2)?.[1].usage, {
    input_tokens: 20,
    output_tokens: 7,
    cache_read_input_tokens: 10,
  });
});

Deno.test("anthropic stream: the fast path and the chunk path write the same events", async () => {
  const completion = completionOf({
    content: "Hello world",
    reasoning_content: "hm",
    tool_calls: [call("c", "W", '{"k":"v"}')],
  }, "tool_calls");
  const fast = await synthesized(structuredClone(completion));
  const w = anthropicStreamWriter({ pieceSize: 4, stopSequences: [] });
  const slow = { ...w, completionParts: undefined };
  let text = "";
  for await (
    const e of synthesizedEvents(
      structuredClone(completion),
      { pieceSize: 4, includeUsage: true },
      slow,
    )
  ) {
    if ("frames" in e) text += e.frames;
  }
  assert.equal(fast, text + w.end());
});

Deno.test("anthropic stream: an error after the start is `event: error` in Anthropic's shape", () => {
  const w = anthropicStreamWriter({ pieceSize: 4, stopSequences: [] });
  assert.deepEqual(events(w.error(new ApiError(502, "boom", { code: "upstream_error" }))), [
    ["error", { type: "error", error: { type: "overloaded_error", message: "boom" } }],
  ]);
  assert.equal(w.keepAlive(), 'event: ping\ndata: {"type":"ping"}\n\n');
});

Deno.test("anthropic stream: an empty stream still starts, stops and says end_turn", () => {
  const w = anthropicStreamWriter({ pieceSize: 4, stopSequences: [] });
  const got = events(w.end());
  assert.deepEqual(got.map(([n]) => n), ["message_start", "message_delta", "message_stop"]);
  assert.equal((got[1][1].delta as Record<string, unknown>).stop_reason, "end_turn");
});

Deno.test("anthropic stream: a whole answer with bad tool arguments fails before the first byte", () => {
  const w = anthropicStreamWriter({ pieceSize: 4, stopSequences: [] });
  assert.throws(() => w.whole?.(completionOf({ tool_calls: [call("c", "W", "nope")] })), ApiError);
});

Deno.test("anthropic stream: a call's id repeated on every delta, or never sent, is still one block", () => {
  const w = anthropicStreamWriter({ pieceSize: 4, stopSequences: [] });
  let text = "";
  for (const piece of ['{"a"', ":1}"]) {
    text += w.chunk(chunk({
      tool_calls: [{
        index: 0,
        id: "same",
        type: "function",
        function: { name: "W", arguments: piece },
      }],
    }));
  }
  text += w.chunk(chunk({ tool_calls: [{ index: 1, function: { name: "X", arguments: "{}" } }] }));
  text += w.end();
  const starts = events(text).filter(([n]) => n === "content_block_start").map(([, d]) =>
    d.content_block as Record<string, string>
  );
  assert.deepEqual(starts.map((b) => b.name), ["W", "X"]);
  assert.equal(starts[0].id, "same");
  assert.match(starts[1].id, /^toolu_[0-9a-f]{32}$/);
  const json = events(text).filter(([, d]) => d.index === 0 && d.type === "content_block_delta")
    .map(([, d]) => (d.delta as Record<string, string>).partial_json).join("");
  assert.equal(json, '{"a":1}');
});
