/**
 * Routing fixtures: a proxy in front of two fake upstreams, `internlm` (type internlm) and
 * `local` (type openai, streaming natively), with whatever `models:` map and settings a test
 * gives, plus one way per front end to ask it for a model.
 *
 * @module
 */

import assert from "node:assert/strict";
import { FakeUpstream, type Responder } from "./fake_upstream.ts";
import { parseSse, startProxy, type TestProxy } from "./proxy.ts";
import type { Overrides } from "../src/config/config.ts";

/** The two upstreams behind a {@link withRoutes} proxy. */
export interface Upstreams {
  internlm: FakeUpstream;
  local: FakeUpstream;
}

/** Options of {@link withRoutes}. */
export interface RoutesOptions {
  /** YAML added at the top level (a `models:` map, `report_model`, …). */
  extra?: string;
  /**
   * YAML added under `backends.internlm` / `backends.local` (indented by the fixture); each has
   * one key unless this sets `api_keys`.
   */
  internlm?: string;
  local?: string;
  overrides?: Overrides;
  responders?: { internlm?: Responder; local?: Responder };
}

/** The example map, with the chain on `gpt-*`. */
export const EXAMPLE_MAP = `models:
  "claude-*haiku*": internlm/intern-s1-mini
  "claude-*":       internlm/intern-s1
  "gpt-*":          [internlm/intern-s1, local/qwen3-32b]
  "*":              internlm/intern-latest
`;

const withKey = (yaml = "", key: string) =>
  /^api_keys:/m.test(yaml) ? yaml : `api_keys: [${key}]\n${yaml}`;

const indent = (yaml: string) => yaml.split("\n").map((l) => (l ? `    ${l}` : l)).join("\n");

/**
 * Runs `fn` against a proxy with backends `internlm` (the default) and `local`; closes all.
 *
 * @example
 * ```ts
 * await withRoutes({ extra: EXAMPLE_MAP }, async (proxy, { internlm }) => { ... });
 * ```
 */
export async function withRoutes(
  options: RoutesOptions,
  fn: (proxy: TestProxy, ups: Upstreams) => Promise<void>,
): Promise<void> {
  const internlm = await FakeUpstream.start(options.responders?.internlm);
  const local = await FakeUpstream.start(options.responders?.local);
  local.streams = true;
  try {
    const configText = `backends:
  internlm:
    type: internlm
    api_url: ${internlm.baseUrl}
${indent(withKey(options.internlm, "internlm-key"))}
  local:
    type: openai
    api_url: ${local.baseUrl}
${indent(withKey(options.local, "local-key"))}
default_backend: internlm
${options.extra ?? ""}`;
    // No env keys and no `upstream`: INTERNAI_API_BASE_URL would override the api_urls.
    const proxy = await startProxy({ keys: [], configText, overrides: options.overrides });
    try {
      await fn(proxy, { internlm, local });
    } finally {
      await proxy.close();
    }
  } finally {
    await internlm.close();
    await local.close();
  }
}

/** What a front end's answer said, as the tests compare it. */
export interface Asked {
  status: number;
  /** The model the answer reports (every chunk's, for a stream: they must agree). */
  model?: string;
  content?: string;
  headers: Headers;
  /** The error message, for a non-2xx answer (or an error event in a stream). */
  error?: string;
}

/** One way of asking for a model, per front end on main. */
export interface FrontendCall {
  name: string;
  ask(
    proxy: TestProxy,
    model: string,
    stream: boolean,
    extra?: Record<string, unknown>,
  ): Promise<Asked>;
}

/** What a dialect reads from a 2xx answer: the model, the text, and an error event's message. */
type Reading = Pick<Asked, "model" | "content" | "error">;

/**
 * How a dialect reads a 2xx answer: its JSON body (each reader names the shape it reads), or its
 * stream's SSE data lines.
 */
interface Reader {
  whole(body: unknown): Reading;
  events(data: string[]): Reading;
}

/**
 * POSTs `body` as JSON to `url` and reads the answer: a non-2xx one for its `error.message`
 * (every dialect's error body has one), a 2xx one with `reader`.
 */
async function post(
  url: string,
  headers: Record<string, string>,
  body: Record<string, unknown>,
  stream: boolean,
  reader: Reader,
): Promise<Asked> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  if (!res.ok) {
    const error = await res.json();
    return { status: res.status, headers: res.headers, error: error.error?.message };
  }
  const reading = stream
    ? reader.events(parseSse(await res.text()).data)
    : reader.whole(await res.json());
  return { status: res.status, headers: res.headers, ...reading };
}

/** OpenAI chat completions. */
const openaiChat: FrontendCall = {
  name: "openai_chat",
  ask(proxy, model, stream, extra = {}) {
    const body = { model, messages: [{ role: "user", content: "Hello!" }], stream, ...extra };
    return post(`${proxy.baseUrl}/chat/completions`, {}, body, stream, {
      whole: (body: { model: string; choices: { message: { content: string } }[] }) => ({
        model: body.model,
        content: body.choices[0].message.content,
      }),
      events(data) {
        const events = data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
        const chunks = events.filter((e) => !e.error);
        const models = new Set(chunks.map((c) => c.model));
        assert.ok(models.size <= 1, `chunks disagree on the model: ${[...models]}`);
        return {
          model: chunks[0]?.model,
          content: chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""),
          error: events.find((e) => e.error)?.error?.message,
        };
      },
    });
  },
};

/** Anthropic Messages. */
const anthropicMessages: FrontendCall = {
  name: "anthropic",
  ask(proxy, model, stream, extra = {}) {
    const body = {
      model,
      max_tokens: 256,
      messages: [{ role: "user", content: "Hello!" }],
      stream,
      ...extra,
    };
    const headers = { "anthropic-version": "2023-06-01" };
    return post(`${proxy.origin}/v1/messages`, headers, body, stream, {
      whole(body: { model: string; content: { type: string; text?: string }[] }) {
        const text = body.content.filter((b) => b.type === "text");
        return { model: body.model, content: text.map((b) => b.text).join("") };
      },
      events(data) {
        const events = data.map((d) => JSON.parse(d));
        const text = events.filter((e) =>
          e.type === "content_block_delta" && e.delta.type === "text_delta"
        );
        return {
          model: events.find((e) => e.type === "message_start")?.message?.model,
          content: text.map((e) => e.delta.text).join(""),
          error: events.find((e) => e.type === "error")?.error?.message,
        };
      },
    });
  },
};

/** A Responses response, as far as the tests read it. */
type ResponsesAnswer = {
  model?: string;
  output?: Array<{ type: string; content?: { text: string }[] }>;
};

/** The text of a Responses response's message items. */
const responseText = (response: ResponsesAnswer) =>
  (response.output ?? []).filter((i) => i.type === "message")
    .flatMap((i) => i.content ?? []).map((c) => c.text).join("");

/** OpenAI Responses (a chat-style `messages` extra becomes `input`). */
const openaiResponses: FrontendCall = {
  name: "responses",
  ask(proxy, model, stream, extra = {}) {
    const { messages, max_tokens, ...rest } = extra as Record<string, unknown>;
    const body = {
      model,
      input: messages ?? "Hello!",
      stream,
      ...(max_tokens === undefined ? {} : { max_output_tokens: max_tokens }),
      ...rest,
    };
    return post(`${proxy.baseUrl}/responses`, {}, body, stream, {
      whole: (body: ResponsesAnswer) => ({ model: body.model, content: responseText(body) }),
      events(data) {
        const events = data.map((d) => JSON.parse(d));
        const done = events.find((e) => e.type === "response.completed");
        return {
          model: done?.response?.model,
          content: done ? responseText(done.response) : "",
          error: events.find((e) => e.type === "response.failed")?.response?.error?.message,
        };
      },
    });
  },
};

/** A Gemini answer, as far as the tests read it. */
type GeminiAnswer = {
  modelVersion?: string;
  error?: { message: string };
  candidates?: { content?: { parts?: { text?: string; thought?: boolean }[] } }[];
};

/** The text of a Gemini answer's first candidate, thoughts left out. */
const geminiText = (a: GeminiAnswer) =>
  (a.candidates?.[0]?.content?.parts ?? []).filter((p) => !p.thought).map((p) => p.text ?? "")
    .join("");

/** Gemini generateContent (chat-style `messages`, `tools`, `max_tokens` extras translated). */
const geminiGenerate: FrontendCall = {
  name: "gemini",
  ask(proxy, model, stream, extra = {}) {
    const { messages, max_tokens, tools, ...rest } = extra as Record<string, unknown>;
    const contents = (messages as { role: string; content: unknown }[] | undefined)?.map((m) => ({
      role: m.role === "assistant" ? "model" : "user",
      parts: typeof m.content === "string" ? [{ text: m.content }] : m.content,
    })) ?? [{ role: "user", parts: [{ text: "Hello!" }] }];
    const method = stream ? "streamGenerateContent?alt=sse" : "generateContent";
    const body = {
      contents,
      ...(tools === undefined ? {} : { tools }),
      ...(max_tokens === undefined ? {} : { generationConfig: { maxOutputTokens: max_tokens } }),
      ...rest,
    };
    return post(`${proxy.origin}/v1beta/models/${model}:${method}`, {}, body, stream, {
      whole: (body: GeminiAnswer) => ({ model: body.modelVersion, content: geminiText(body) }),
      events(data) {
        const events: GeminiAnswer[] = data.map((d) => JSON.parse(d));
        const answers = events.filter((e) => !e.error);
        const models = new Set(answers.map((e) => e.modelVersion));
        assert.ok(models.size <= 1, `events disagree on the model: ${[...models]}`);
        return {
          model: answers[0]?.modelVersion,
          content: answers.map(geminiText).join(""),
          error: events.find((e) => e.error)?.error?.message,
        };
      },
    });
  },
};

/** Every front end the routing tests go through; a new dialect adds its own here. */
export const FRONTEND_CALLS: readonly FrontendCall[] = [
  openaiChat,
  anthropicMessages,
  openaiResponses,
  geminiGenerate,
];
