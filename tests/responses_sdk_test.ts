// The Responses API front end end to end through the official OpenAI SDK (`client.responses`):
// what reaches the fake InternLM, what reaches the client, and what the store keeps. The SDK's
// `responses.stream` helper checks the event order as it accumulates.
import assert from "node:assert/strict";
import OpenAI from "openai";
import {
  completion,
  type FakeUpstream,
  openaiError,
  rateLimited,
  type Responder,
} from "./fake_upstream.ts";
import { slowly, sseEvents } from "./fake_stream.ts";
import {
  type StartOptions,
  type TestProxy,
  withProxy as withUpstreamAndProxy,
  withStreamingUpstream,
} from "./proxy.ts";

const MODEL = "internlm/internlm2.5-latest";
/** A model that takes InternLM's thinking_mode (InternLM2.5 does not). */
const THINKER = "internlm/intern-s1";

function withClient(
  responder: Responder,
  fn: (client: OpenAI, up: FakeUpstream, proxy: TestProxy) => Promise<void>,
  options: StartOptions = {},
) {
  return withUpstreamAndProxy(
    responder,
    ({ up, proxy }) =>
      fn(new OpenAI({ baseURL: proxy.baseUrl, apiKey: "client-key", maxRetries: 0 }), up, proxy),
    options,
  );
}

type Message = { role: string; content?: unknown; tool_calls?: unknown[]; tool_call_id?: string };
const sent = (up: FakeUpstream, i: number) => up.chatRequests()[i].body!;
const messages = (up: FakeUpstream, i: number) => sent(up, i).messages as Message[];

/** The raw events of a stream, parsed, for checks the SDK helper does not make. */
async function rawEvents(proxy: TestProxy, body: unknown): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${proxy.baseUrl}/responses`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/event-stream");
  const events: Record<string, unknown>[] = [];
  for (const block of (await res.text()).split("\n\n")) {
    const lines = block.split("\n");
    const name = lines.find((l) => l.startsWith("event: "))?.slice(7);
    const data = lines.find((l) => l.startsWith("data: "))?.slice(6);
    if (data === undefined) continue;
    const event = JSON.parse(data);
    assert.equal(name, event.type, "the SSE event name is the event's type");
    events.push(event);
  }
  return events;
}

/** The invariants Codex and the SDKs rely on, whatever the answer. */
function assertWellFormed(events: Record<string, unknown>[]): void {
  events.forEach((e, i) => assert.equal(e.sequence_number, i, `sequence_number of event ${i}`));
  assert.equal(events[0].type, "response.created");
  assert.equal(events[1].type, "response.in_progress");
  const terminal = events.filter((e) =>
    ["response.completed", "response.incomplete", "response.failed"].includes(e.type as string)
  );
  assert.equal(terminal.length, 1, "exactly one terminal event");
  assert.equal(events.at(-1), terminal[0], "the terminal event is the last");
  const added = events.filter((e) => e.type === "response.output_item.added");
  const done = events.filter((e) => e.type === "response.output_item.done");
  const failed = terminal[0].type === "response.failed";
  // Every item is closed, but on a failure, when the last may have been cut off.
  const closed = added.slice(0, failed ? done.length : added.length);
  assert.deepEqual(done.map((e) => e.output_index), closed.map((e) => e.output_index));
  const final = (terminal[0].response as { output: Record<string, unknown>[] }).output;
  assert.deepEqual(final, done.map((e) => e.item), "the final output is what the items said");
  for (const [i, a] of closed.entries()) {
    const item = a.item as Record<string, unknown>;
    const finished = done[i].item as Record<string, unknown>;
    assert.equal(finished.id, item.id);
    assert.equal(finished.call_id, item.call_id, "call_id is the same in added and done");
  }
}

Deno.test("responses.create: text, reasoning summary, usage; instructions become the system message", async () => {
  const reply = completion("Paris.", {
    reasoning_content: "The user asks for a capital.",
    usage: { prompt_tokens: 21, completion_tokens: 9, total_tokens: 30 },
  });
  await withClient(() => reply, async (client, up) => {
    const response = await client.responses.create({
      model: THINKER,
      instructions: "Answer in one word.",
      input: "Capital of France?",
      reasoning: { effort: "high", summary: "auto" },
      max_output_tokens: 200,
      temperature: 0.3,
      metadata: { run: "t1" },
    });
    assert.match(response.id, /^resp_[0-9a-f]{32}$/);
    assert.equal(response.object, "response");
    assert.equal(response.status, "completed");
    assert.equal(response.model, THINKER);
    assert.equal(response.output_text, "Paris.");
    assert.deepEqual(response.output.map((item) => item.type), ["reasoning", "message"]);
    const reasoning = response.output[0] as OpenAI.Responses.ResponseReasoningItem;
    assert.deepEqual(reasoning.summary, [{
      type: "summary_text",
      text: "The user asks for a capital.",
    }]);
    const message = response.output[1] as OpenAI.Responses.ResponseOutputMessage;
    assert.deepEqual(message.content, [{
      type: "output_text",
      text: "Paris.",
      annotations: [],
      logprobs: [],
    }]);
    assert.deepEqual(response.usage, {
      input_tokens: 21,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 9,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 30,
    });
    assert.deepEqual(response.metadata, { run: "t1" });
    const body = sent(up, 0);
    assert.deepEqual(body.messages, [
      { role: "system", content: "Answer in one word." },
      { role: "user", content: "Capital of France?" },
    ]);
    assert.equal(body.model, "intern-s1");
    assert.equal(body.stream, false, "InternLM is always called non-streaming");
    assert.equal(body.thinking_mode, true, "reasoning.effort high → thinking on");
    assert.equal(body.max_tokens, 200);
    assert.equal(body.temperature, 0.3);
    assert.equal(body.metadata, undefined, "metadata stays with the proxy");
  });
});

Deno.test("responses.create: reasoning.effort none turns InternLM's thinking off", async () => {
  await withClient(() => completion("ok"), async (client, up) => {
    await client.responses.create({ model: THINKER, input: "hi", reasoning: { effort: "none" } });
    assert.equal(sent(up, 0).thinking_mode, false);
  });
});

Deno.test("responses.stream: the SDK helper accepts the event order; every invariant holds", async () => {
  const reply = completion("A fairly long answer, cut into several deltas by the proxy.", {
    reasoning_content: "Let me think about this for a moment.",
  });
  await withClient(() => reply, async (client, _up, proxy) => {
    const stream = client.responses.stream({ model: MODEL, input: "Tell me something." });
    const types: string[] = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    const final = await stream.finalResponse();
    assert.equal(final.status, "completed");
    assert.equal(final.output_text, "A fairly long answer, cut into several deltas by the proxy.");
    assert.equal(text, final.output_text);
    assert.ok(types.filter((t) => t === "response.output_text.delta").length > 1);
    assert.ok(types.includes("response.reasoning_summary_text.delta"));
    const stored = await client.responses.retrieve(final.id);
    // The helper adds `parsed` to text parts; the rest is what the proxy stored.
    assert.deepEqual(stored.output.map((item) => item.id), final.output.map((item) => item.id));
    assert.equal(stored.output_text, final.output_text, "the stored response is the streamed one");

    const events = await rawEvents(proxy, { model: MODEL, input: "again", stream: true });
    assertWellFormed(events);
    assert.deepEqual(events.map((e) => e.type).filter((t) => !String(t).endsWith(".delta")), [
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
  });
});

const weatherTool = {
  type: "function" as const,
  name: "get_weather",
  description: "Weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};

Deno.test("function tools: a call comes back as function_call, its output goes up as a tool message", async () => {
  let turn = 0;
  const responder: Responder = () =>
    turn++ === 0
      ? completion(null, {
        tool_calls: [{
          id: "call_w1",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
        }],
      })
      : completion("It is 3°C in Oslo.");
  await withClient(responder, async (client, up, proxy) => {
    const first = await client.responses.create({
      model: MODEL,
      input: "Weather in Oslo?",
      tools: [weatherTool],
      tool_choice: "auto",
    });
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    assert.equal(call.type, "function_call");
    assert.equal(call.call_id, "call_w1");
    assert.equal(call.name, "get_weather");
    assert.equal(call.arguments, '{"city":"Oslo"}');
    assert.match(call.id!, /^fc_/);
    assert.deepEqual(sent(up, 0).tools, [{
      type: "function",
      function: {
        name: "get_weather",
        description: "Weather in a city",
        parameters: weatherTool.parameters,
        strict: false,
      },
    }]);
    assert.equal(sent(up, 0).tool_choice, "auto");

    const second = await client.responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: [{ type: "function_call_output", call_id: "call_w1", output: "3°C, cloudy" }],
      tools: [weatherTool],
    });
    assert.equal(second.output_text, "It is 3°C in Oslo.");
    assert.deepEqual(messages(up, 1), [
      { role: "user", content: "Weather in Oslo?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "call_w1",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Oslo"}' },
        }],
      },
      { role: "tool", tool_call_id: "call_w1", content: "3°C, cloudy" },
    ]);

    // Streamed, the call's events carry the same ids as the final response.
    turn = 0;
    const events = await rawEvents(proxy, {
      model: MODEL,
      input: "Weather in Oslo?",
      tools: [weatherTool],
      stream: true,
    });
    assertWellFormed(events);
    const args = events.filter((e) => e.type === "response.function_call_arguments.delta")
      .map((e) => e.delta).join("");
    assert.equal(args, '{"city":"Oslo"}');
    const argsDone = events.find((e) => e.type === "response.function_call_arguments.done")!;
    assert.equal(argsDone.arguments, '{"city":"Oslo"}');
  });
});

Deno.test("an output for a call nobody made is a 400 naming the item", async () => {
  await withClient(() => completion("x"), async (client, up) => {
    await assert.rejects(
      client.responses.create({
        model: MODEL,
        input: [{ type: "function_call_output", call_id: "call_nope", output: "?" }],
      }),
      (err: InstanceType<typeof OpenAI.BadRequestError>) => {
        assert.equal(err.status, 400);
        assert.equal(err.param, "input[0]");
        return true;
      },
    );
    assert.equal(up.chatRequests().length, 0);
  });
});

const GRAMMAR = 'start: begin_patch hunk+ end_patch\nbegin_patch: "*** Begin Patch" LF';
const applyPatch = {
  type: "custom" as const,
  name: "apply_patch",
  description: "Use the `apply_patch` tool to edit files.",
  format: { type: "grammar" as const, syntax: "lark" as const, definition: GRAMMAR },
};
const PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n";

Deno.test("custom tools: a function with one string argument up, custom_tool_call items down", async () => {
  let turn = 0;
  const responder: Responder = () =>
    turn++ % 2 === 0
      ? completion(null, {
        tool_calls: [{
          id: "call_p1",
          type: "function",
          function: { name: "apply_patch", arguments: JSON.stringify({ input: PATCH }) },
        }],
      })
      : completion("Patched.");
  await withClient(responder, async (client, up, proxy) => {
    const first = await client.responses.create({
      model: MODEL,
      input: "Add a.txt",
      tools: [applyPatch, { type: "web_search" }],
      store: false,
    });
    const tools = sent(up, 0).tools as { function: Record<string, unknown> }[];
    assert.equal(tools.length, 1, "the built-in web_search tool is left out");
    assert.equal(tools[0].function.name, "apply_patch");
    assert.match(tools[0].function.description as string, /lark grammar:\nstart: begin_patch/);
    assert.deepEqual(tools[0].function.parameters, {
      type: "object",
      properties: {
        input: { type: "string", description: "The tool's whole input, as raw text." },
      },
      required: ["input"],
      additionalProperties: false,
    });
    const call = first.output[0] as OpenAI.Responses.ResponseCustomToolCall;
    assert.equal(call.type, "custom_tool_call");
    assert.equal(call.input, PATCH);
    assert.equal(call.call_id, "call_p1");
    assert.match(call.id!, /^ctc_/);

    // store: false, so the client replays the call (as Codex does) with its output.
    const second = await client.responses.create({
      model: MODEL,
      input: [
        { role: "user", content: "Add a.txt" },
        { type: "custom_tool_call", call_id: "call_p1", name: "apply_patch", input: PATCH },
        { type: "custom_tool_call_output", call_id: "call_p1", output: "Done!" },
      ],
      tools: [applyPatch],
      store: false,
    });
    assert.equal(second.output_text, "Patched.");
    assert.deepEqual(messages(up, 1).slice(1), [
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "call_p1",
          type: "function",
          function: { name: "apply_patch", arguments: JSON.stringify({ input: PATCH }) },
        }],
      },
      { role: "tool", tool_call_id: "call_p1", content: "Done!" },
    ]);

    const events = await rawEvents(proxy, {
      model: MODEL,
      input: "Add a.txt",
      tools: [applyPatch],
      stream: true,
    });
    assertWellFormed(events);
    const types = events.map((e) => e.type);
    assert.ok(!types.includes("response.function_call_arguments.delta"));
    const input = events.filter((e) => e.type === "response.custom_tool_call_input.delta")
      .map((e) => e.delta).join("");
    assert.equal(input, PATCH);
    const done = events.find((e) => e.type === "response.custom_tool_call_input.done")!;
    assert.equal(done.input, PATCH);
    assert.ok(!types.includes("response.output_text.delta"), "never as plain text");
  });
});

Deno.test("previous_response_id: a chain of three turns sends the whole conversation; instructions are not carried", async () => {
  let n = 0;
  await withClient(() => completion(`answer ${++n}`), async (client, up) => {
    const first = await client.responses.create({
      model: MODEL,
      instructions: "Be brief.",
      input: "one",
    });
    const second = await client.responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: "two",
    });
    const third = await client.responses.create({
      model: MODEL,
      previous_response_id: second.id,
      input: [{ role: "user", content: [{ type: "input_text", text: "three" }] }],
    });
    assert.equal(third.output_text, "answer 3");
    assert.equal(third.previous_response_id, second.id);
    assert.deepEqual(messages(up, 2), [
      { role: "user", content: "one" },
      { role: "assistant", content: "answer 1" },
      { role: "user", content: "two" },
      { role: "assistant", content: "answer 2" },
      { role: "user", content: "three" },
    ]);
    // input_items lists what the model saw: the earlier turns too.
    const items = await client.responses.inputItems.list(third.id, { order: "asc" });
    const texts = items.data.map((item) =>
      (item as { content: { text: string }[] }).content[0].text
    );
    assert.deepEqual(texts, ["one", "answer 1", "two", "answer 2", "three"]);
  });
});

Deno.test("store: false keeps nothing; a replay of Codex's items (developer messages, echoed ids) works", async () => {
  await withClient(() => completion("fine"), async (client, up) => {
    const response = await client.responses.create({ model: MODEL, input: "hi", store: false });
    await assert.rejects(client.responses.retrieve(response.id), OpenAI.NotFoundError);
    const reasoningId = "rs_0123456789abcdef0123456789abcdef_1";
    await client.responses.create({
      model: MODEL,
      store: false,
      include: ["reasoning.encrypted_content"],
      prompt_cache_key: "session-1",
      input: [
        {
          type: "message",
          role: "developer",
          content: [{ type: "input_text", text: "You are Codex." }],
        },
        { type: "message", role: "user", content: [{ type: "input_text", text: "ls" }] },
        {
          type: "reasoning",
          id: reasoningId,
          summary: [{ type: "summary_text", text: "Need to list files." }],
          encrypted_content: null,
        },
        {
          type: "function_call",
          id: "fc_0123456789abcdef0123456789abcdef_2",
          call_id: "call_1",
          name: "exec_command",
          arguments: '{"cmd":"ls"}',
        },
        { type: "function_call_output", call_id: "call_1", output: "a.txt\n" },
      ],
    });
    assert.deepEqual(messages(up, 1), [
      { role: "system", content: "You are Codex." },
      { role: "user", content: "ls" },
      {
        role: "assistant",
        content: null,
        reasoning_content: "Need to list files.",
        tool_calls: [{
          id: "call_1",
          type: "function",
          function: { name: "exec_command", arguments: '{"cmd":"ls"}' },
        }],
      },
      { role: "tool", tool_call_id: "call_1", content: "a.txt\n" },
    ]);
    for (const field of ["include", "prompt_cache_key", "store", "input", "instructions"]) {
      assert.equal(sent(up, 1)[field], undefined, `${field} does not go upstream`);
    }
  });
});

Deno.test("retrieve, input_items (paged), delete; unknown ids are 404s", async () => {
  await withClient(() => completion("stored answer"), async (client, up) => {
    const created = await client.responses.create({
      model: MODEL,
      input: [
        { role: "user", content: "a" },
        { role: "user", content: "b" },
        { role: "user", content: "c" },
      ],
    });
    const retrieved = await client.responses.retrieve(created.id);
    assert.deepEqual(retrieved.output, created.output);
    assert.equal(retrieved.output_text, "stored answer");

    const page1 = await client.responses.inputItems.list(created.id, { limit: 2 });
    assert.equal(page1.data.length, 2);
    assert.equal(page1.has_more, true);
    const all = [];
    for await (const item of client.responses.inputItems.list(created.id, { limit: 2 })) {
      all.push(item);
    }
    const texts = all.map((item) => (item as { content: { text: string }[] }).content[0].text);
    assert.deepEqual(texts, ["c", "b", "a"], "newest first, every page followed");

    // An item_reference is resolved from the store.
    await client.responses.create({
      model: MODEL,
      input: [{ type: "item_reference", id: created.output[0].id! }, {
        role: "user",
        content: "d",
      }],
    });
    assert.deepEqual(messages(up, 1), [
      { role: "assistant", content: "stored answer" },
      { role: "user", content: "d" },
    ]);

    await client.responses.delete(created.id);
    await assert.rejects(client.responses.retrieve(created.id), OpenAI.NotFoundError);
    await assert.rejects(client.responses.delete(created.id), OpenAI.NotFoundError);
    await assert.rejects(
      client.responses.create({ model: MODEL, previous_response_id: created.id, input: "more" }),
      (err: InstanceType<typeof OpenAI.NotFoundError>) => {
        assert.equal(err.status, 404);
        assert.equal(err.code, "previous_response_not_found");
        assert.equal(err.param, "previous_response_id");
        return true;
      },
    );
    assert.equal(up.chatRequests().length, 2, "the failed turn never reached the upstream");
  });
});

Deno.test("a length cut-off is status incomplete, in the object and as the stream's last event", async () => {
  const reply = completion("This answer was cut", { finish_reason: "length" });
  await withClient(() => reply, async (client, _up, proxy) => {
    const response = await client.responses.create({
      model: MODEL,
      input: "Write a novel.",
      max_output_tokens: 5,
    });
    assert.equal(response.status, "incomplete");
    assert.deepEqual(response.incomplete_details, { reason: "max_output_tokens" });
    assert.equal((response.output[0] as { status: string }).status, "incomplete");
    const events = await rawEvents(proxy, { model: MODEL, input: "again", stream: true });
    assertWellFormed(events);
    const last = events.at(-1)!;
    assert.equal(last.type, "response.incomplete");
    assert.equal((last.response as { status: string }).status, "incomplete");
  });
});

Deno.test("upstream 429: a RateLimitError with retry-after; 5xx: a server error; neither stored", async () => {
  await withClient(() => rateLimited(7), async (client, _up, proxy) => {
    await assert.rejects(
      client.responses.create({ model: MODEL, input: "hi" }),
      (err: InstanceType<typeof OpenAI.RateLimitError>) => {
        assert.equal(err.status, 429);
        assert.equal(err.headers.get("retry-after"), "7");
        assert.equal(err.code, "rate_limit_exceeded");
        return true;
      },
    );
    // A stream refused before it started is refused the same way, with the real status.
    const res = await fetch(`${proxy.baseUrl}/responses`, {
      method: "POST",
      body: JSON.stringify({ model: MODEL, input: "hi", stream: true }),
    });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get("retry-after")) >= 1);
    await res.body?.cancel();
  });
  await withClient(() => openaiError(503, "overloaded"), async (client) => {
    await assert.rejects(
      client.responses.create({ model: MODEL, input: "hi" }),
      (err: InstanceType<typeof OpenAI.APIError>) => err.status === 502 || err.status === 503,
    );
  }, { configText: "backends:\n  internlm:\n    type: internlm\n    max_retries: 0\n" });
});

const SLOW = "streaming:\n  keepalive_interval: 0.05\n";

Deno.test("a failure after the stream started is a response.failed event; nothing is stored", async () => {
  await withClient(() => ({ ...rateLimited(20), delayMs: 300 }), async (client, _up, proxy) => {
    const events = await rawEvents(proxy, { model: MODEL, input: "hi", stream: true });
    assertWellFormed(events);
    const failed = events.at(-1)!;
    assert.equal(failed.type, "response.failed");
    const response = failed.response as {
      id: string;
      status: string;
      error: Record<string, string>;
    };
    assert.equal(response.status, "failed");
    assert.equal(response.error.code, "rate_limit_exceeded");
    assert.match(response.error.message, /try again in 20s/, "Codex reads the delay from here");
    assert.ok(
      events.filter((e) => e.type === "response.in_progress").length >= 2,
      "keep-alives are in_progress events while the upstream thinks",
    );
    await assert.rejects(client.responses.retrieve(response.id), OpenAI.NotFoundError);
  }, { configText: SLOW });
  await withClient(() => ({ kind: "hang" }), async (_client, _up, proxy) => {
    const events = await rawEvents(proxy, { model: MODEL, input: "hi", stream: true });
    assertWellFormed(events);
    const response = events.at(-1)!.response as { error: Record<string, string> };
    assert.equal(response.error.code, "upstream_timeout");
  }, {
    configText: SLOW + "backends:\n  internlm:\n    type: internlm\n    timeout: 0.3\n" +
      "    max_retries: 0\n",
  });
});

Deno.test("a slow answer: keep-alives first, then the whole answer; the SDK helper still accepts it", async () => {
  await withClient(() => completion("late but fine", { delayMs: 250 }), async (client) => {
    const stream = client.responses.stream({ model: MODEL, input: "hi" });
    let inProgress = 0;
    let created = 0;
    for await (const event of stream) {
      if (event.type === "response.in_progress") inProgress++;
      if (event.type === "response.created") created++;
    }
    const final = await stream.finalResponse();
    assert.equal(final.output_text, "late but fine");
    assert.ok(inProgress >= 2, `${inProgress} in_progress events`);
    assert.equal(created, 1);
  }, { configText: SLOW });
});

Deno.test("hang-up: the client leaving a stream cancels the upstream call, and nothing is stored", async () => {
  await withClient(() => ({ kind: "hang" }), async (client, up, proxy) => {
    const controller = new AbortController();
    const res = await fetch(`${proxy.baseUrl}/responses`, {
      method: "POST",
      body: JSON.stringify({ model: MODEL, input: "hi", stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await reader.read();
    const id = /"id":"(resp_[0-9a-f]+)"/.exec(value!)![1];
    controller.abort();
    await reader.cancel().catch(() => {});
    await up.waitForAbort(0, 2000);
    await assert.rejects(client.responses.retrieve(id), OpenAI.NotFoundError);
  }, { configText: SLOW });
});

// ---- a backend that streams (type: openai): the live path, chunk by chunk ----

/** A proxy whose backend `local` is `type: openai` in front of a fake server that streams. */
function withLiveUpstream(
  responder: Responder,
  fn: (client: OpenAI, up: FakeUpstream, proxy: TestProxy) => Promise<void>,
): Promise<void> {
  return withStreamingUpstream(
    responder,
    ({ up, proxy }) =>
      fn(new OpenAI({ baseURL: proxy.baseUrl, apiKey: "client-key", maxRetries: 0 }), up, proxy),
  );
}

const LIVE = "local/served-model";

Deno.test("live upstream stream: reasoning and text relayed as they come; usage from the last chunk", async () => {
  const script = {
    reasoning: ["Let me ", "see."],
    content: ["Str", "eam", "ed!"],
    usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
  };
  await withLiveUpstream(
    () => ({ kind: "sse", parts: slowly(sseEvents(script), 5) }),
    async (client, up) => {
      const stream = client.responses.stream({ model: LIVE, input: "hi" });
      const deltas: string[] = [];
      for await (const e of stream) {
        if (e.type === "response.output_text.delta") deltas.push(e.delta);
      }
      const final = await stream.finalResponse();
      assert.deepEqual(deltas, ["Str", "eam", "ed!"], "one delta per upstream chunk");
      assert.equal(final.output_text, "Streamed!");
      assert.deepEqual(
        (final.output[0] as OpenAI.Responses.ResponseReasoningItem).summary[0].text,
        "Let me see.",
      );
      assert.equal(final.usage?.total_tokens, 17);
      assert.equal(final.model, "local/served-model");
      assert.equal(sent(up, 0).stream, true);
      const stored = await client.responses.retrieve(final.id);
      assert.equal(stored.output_text, "Streamed!");
    },
  );
});

Deno.test("live upstream stream: tool calls arriving in pieces become function_call and custom_tool_call items", async () => {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    `data: ${
      JSON.stringify({
        id: "c",
        object: "chat.completion.chunk",
        created: 1,
        model: "served-model",
        choices: [{ index: 0, delta, finish_reason: finish }],
      })
    }\n\n`;
  const call = (index: number, fn: Record<string, unknown>, id?: string) =>
    chunk({ tool_calls: [{ index, ...(id && { id, type: "function" }), function: fn }] });
  const patchArgs = JSON.stringify({ input: PATCH });
  const parts = [
    chunk({ role: "assistant", content: "" }),
    call(0, { name: "get_weather", arguments: '{"ci' }, "call_a"),
    call(0, { arguments: 'ty":"Oslo"}' }),
    call(1, { name: "apply_patch", arguments: patchArgs.slice(0, 20) }, "call_b"),
    call(1, { arguments: patchArgs.slice(20) }),
    chunk({}, "tool_calls"),
    "data: [DONE]\n\n",
  ];
  await withLiveUpstream(() => ({ kind: "sse", parts }), async (client, _up, proxy) => {
    const stream = client.responses.stream({
      model: LIVE,
      input: "go",
      tools: [weatherTool, applyPatch],
    });
    const final = await stream.finalResponse();
    assert.deepEqual(final.output.map((i) => i.type), ["function_call", "custom_tool_call"]);
    const [weather, patch] = final.output as [
      OpenAI.Responses.ResponseFunctionToolCall,
      OpenAI.Responses.ResponseCustomToolCall,
    ];
    assert.deepEqual([weather.call_id, weather.arguments], ["call_a", '{"city":"Oslo"}']);
    assert.deepEqual([patch.call_id, patch.input], ["call_b", PATCH]);
    const events = await rawEvents(proxy, {
      model: LIVE,
      input: "go",
      tools: [weatherTool, applyPatch],
      stream: true,
    });
    assertWellFormed(events);
    const args = events.filter((e) => e.type === "response.function_call_arguments.delta");
    assert.deepEqual(args.map((e) => e.delta), ['{"ci', 'ty":"Oslo"}']);
  });
});

Deno.test("live upstream stream breaking off: response.failed after what was done; nothing stored", async () => {
  const parts = sseEvents({ content: ["partial ", "answer"], done: false }).slice(0, 3);
  await withLiveUpstream(() => ({ kind: "sse", parts, fail: true }), async (client, _up, proxy) => {
    const events = await rawEvents(proxy, { model: LIVE, input: "hi", stream: true });
    assertWellFormed(events);
    const failed = events.at(-1)!;
    assert.equal(failed.type, "response.failed");
    const response = failed.response as { id: string; output: unknown[]; error: { code: string } };
    assert.deepEqual(response.output, [], "the message was never done");
    assert.match(response.error.code, /upstream/);
    await assert.rejects(client.responses.retrieve(response.id), OpenAI.NotFoundError);
  });
});
