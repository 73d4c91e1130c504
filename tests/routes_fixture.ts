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

/** OpenAI chat completions. */
const openaiChat: FrontendCall = {
  name: "openai_chat",
  async ask(proxy, model, stream, extra = {}) {
    const res = await fetch(`${proxy.baseUrl}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model,
        messages: [{ role: "user", content: "Hello!" }],
        stream,
        ...extra,
      }),
    });
    if (!res.ok) {
      const body = await res.json();
      return { status: res.status, headers: res.headers, error: body.error?.message };
    }
    if (!stream) {
      const body = await res.json();
      return {
        status: res.status,
        headers: res.headers,
        model: body.model,
        content: body.choices[0].message.content,
      };
    }
    const data = parseSse(await res.text()).data;
    const events = data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
    const errorEvent = events.find((e) => e.error);
    const chunks = events.filter((e) => !e.error);
    const models = new Set(chunks.map((c) => c.model));
    assert.ok(models.size <= 1, `chunks disagree on the model: ${[...models]}`);
    return {
      status: res.status,
      headers: res.headers,
      model: chunks[0]?.model,
      content: chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""),
      error: errorEvent?.error?.message,
    };
  },
};

/** Anthropic Messages. */
const anthropicMessages: FrontendCall = {
  name: "anthropic",
  async ask(proxy, model, stream, extra = {}) {
    const res = await fetch(`${proxy.origin}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model,
        max_tokens: 256,
        messages: [{ role: "user", content: "Hello!" }],
        stream,
        ...extra,
      }),
    });
    if (!res.ok) {
      const body = await res.json();
      return { status: res.status, headers: res.headers, error: body.error?.message };
    }
    if (!stream) {
      const body = await res.json();
      const text = body.content.filter((b: { type: string }) => b.type === "text");
      return {
        status: res.status,
        headers: res.headers,
        model: body.model,
        content: text.map((b: { text: string }) => b.text).join(""),
      };
    }
    const events = parseSse(await res.text()).data.map((d) => JSON.parse(d));
    const start = events.find((e) => e.type === "message_start");
    const text = events.filter((e) =>
      e.type === "content_block_delta" && e.delta.type === "text_delta"
    );
    return {
      status: res.status,
      headers: res.headers,
      model: start?.message?.model,
      content: text.map((e) => e.delta.text).join(""),
      error: events.find((e) => e.type === "error")?.error?.message,
    };
  },
};

/** OpenAI Responses (a chat-style `messages` extra becomes `input`). */
const openaiResponses: FrontendCall = {
  name: "responses",
  async ask(proxy, model, stream, extra = {}) {
    const { messages, max_tokens, ...rest } = extra as Record<string, unknown>;
    const res = await fetch(`${proxy.baseUrl}/responses`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model,
        input: messages ?? "Hello!",
        stream,
        ...(max_tokens === undefined ? {} : { max_output_tokens: max_tokens }),
        ...rest,
      }),
    });
    if (!res.ok) {
      const body = await res.json();
      return { status: res.status, headers: res.headers, error: body.error?.message };
    }
    const text = (response: { output?: Array<{ type: string; content?: { text: string }[] }> }) =>
      (response.output ?? []).filter((i) => i.type === "message")
        .flatMap((i) => i.content ?? []).map((c) => c.text).join("");
    if (!stream) {
      const body = await res.json();
      return { status: res.status, headers: res.headers, model: body.model, content: text(body) };
    }
    const events = parseSse(await res.text()).data.map((d) => JSON.parse(d));
    const done = events.find((e) => e.type === "response.completed");
    const failed = events.find((e) => e.type === "response.failed");
    return {
      status: res.status,
      headers: res.headers,
      model: done?.response?.model,
      content: done ? text(done.response) : "",
      error: failed?.response?.error?.message,
    };
  },
};

/** Gemini generateContent (chat-style `messages`, `tools`, `max_tokens` extras translated). */
const geminiGenerate: FrontendCall = {
  name: "gemini",
  async ask(proxy, model, stream, extra = {}) {
    const { messages, max_tokens, tools, ...rest } = extra as Record<string, unknown>;
    const contents = (messages as { role: string; content: unknown }[] | undefined)?.map((m) => ({
      role: m.role === "assistant" ? "model" : "user",
      parts: typeof m.content === "string" ? [{ text: m.content }] : m.content,
    })) ?? [{ role: "user", parts: [{ text: "Hello!" }] }];
    const method = stream ? "streamGenerateContent?alt=sse" : "generateContent";
    const res = await fetch(`${proxy.origin}/v1beta/models/${model}:${method}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        contents,
        ...(tools === undefined ? {} : { tools }),
        ...(max_tokens === undefined ? {} : { generationConfig: { maxOutputTokens: max_tokens } }),
        ...rest,
      }),
    });
    if (!res.ok) {
      const body = await res.json();
      return { status: res.status, headers: res.headers, error: body.error?.message };
    }
    type Answer = {
      modelVersion?: string;
      error?: { message: string };
      candidates?: { content?: { parts?: { text?: string; thought?: boolean }[] } }[];
    };
    const text = (a: Answer) =>
      (a.candidates?.[0]?.content?.parts ?? []).filter((p) => !p.thought).map((p) => p.text ?? "")
        .join("");
    if (!stream) {
      const body: Answer = await res.json();
      return {
        status: res.status,
        headers: res.headers,
        model: body.modelVersion,
        content: text(body),
      };
    }
    const events: Answer[] = parseSse(await res.text()).data.map((d) => JSON.parse(d));
    const answers = events.filter((e) => !e.error);
    const models = new Set(answers.map((e) => e.modelVersion));
    assert.ok(models.size <= 1, `events disagree on the model: ${[...models]}`);
    return {
      status: res.status,
      headers: res.headers,
      model: answers[0]?.modelVersion,
      content: answers.map(text).join(""),
      error: events.find((e) => e.error)?.error?.message,
    };
  },
};

/** Every front end the routing tests go through; a new dialect adds its own here. */
export const FRONTEND_CALLS: readonly FrontendCall[] = [
  openaiChat,
  anthropicMessages,
  openaiResponses,
  geminiGenerate,
];
