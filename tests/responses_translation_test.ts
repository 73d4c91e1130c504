// The Responses translation rule by rule, both ways: request items and tools into chat, chat
// answers (whole and streamed) into output items and events.
import assert from "node:assert/strict";
import { ApiError } from "../src/canonical/errors.ts";
import type { ChatCompletionChunk } from "../src/canonical/types.ts";
import { Logger } from "../src/operations/log.ts";
import { ItemIds, newResponseId, responseOfItem } from "../src/frontends/responses/ids.ts";
import { type ResponseContext, toResponse } from "../src/frontends/responses/response.ts";
import { responsesStreamWriter } from "../src/frontends/responses/stream_writer.ts";
import { itemsToMessages, toChatRequest } from "../src/frontends/responses/to_chat.ts";
import { chatToolChoice, customInput } from "../src/frontends/responses/tools.ts";
import type { ResponseObject } from "../src/frontends/responses/types.ts";
import { validateResponsesRequest } from "../src/frontends/responses/validate.ts";
import { completionOf } from "./completion_fixture.ts";

const lines: string[] = [];
const log = new Logger("debug", (line) => lines.push(line));
const msgs = (items: Record<string, unknown>[], instructions?: string) =>
  itemsToMessages(items, instructions, log);

function rejects400(fn: () => unknown, param: string) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.param, param);
    return true;
  });
}

// ---- request: items → messages ----

Deno.test("items: a string input is one user message; instructions come first as system", () => {
  const request = validateResponsesRequest({ model: "m", input: "hi" }, false);
  assert.deepEqual(msgs(request.input, "Be brief."), [
    { role: "system", content: "Be brief." },
    { role: "user", content: "hi" },
  ]);
});

Deno.test("items: message roles (developer → system) and parts (text joined, images kept)", () => {
  assert.deepEqual(
    msgs([
      { type: "message", role: "developer", content: [{ type: "input_text", text: "rules" }] },
      { role: "system", content: "more rules" },
      {
        role: "user",
        content: [
          { type: "input_text", text: "look" },
          { type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "low" },
        ],
      },
      {
        role: "user",
        content: [{ type: "input_text", text: "a" }, { type: "input_text", text: "b" }],
      },
      {
        role: "assistant",
        content: [{ type: "output_text", text: "x" }, { type: "refusal", refusal: "no" }],
      },
    ]),
    [
      { role: "system", content: "rules" },
      { role: "system", content: "more rules" },
      {
        role: "user",
        content: [
          { type: "text", text: "look" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "low" } },
        ],
      },
      { role: "user", content: "a\nb" },
      { role: "assistant", content: "xno" },
    ],
  );
});

Deno.test("items: a turn's reasoning, text and calls make one assistant message; outputs are tool messages", () => {
  assert.deepEqual(
    msgs([
      { role: "user", content: "go" },
      {
        type: "reasoning",
        summary: [{ type: "summary_text", text: "plan" }],
        encrypted_content: "x",
      },
      { role: "assistant", content: "on it" },
      { type: "function_call", call_id: "c1", name: "f", arguments: "{}" },
      { type: "custom_tool_call", call_id: "c2", name: "apply_patch", input: "PATCH" },
      { type: "function_call_output", call_id: "c1", output: "one" },
      {
        type: "custom_tool_call_output",
        call_id: "c2",
        output: [{ type: "input_text", text: "two" }, { type: "input_image", image_url: "u" }],
      },
      { type: "reasoning", summary: [], content: [{ type: "reasoning_text", text: "raw" }] },
      { role: "assistant", content: "done" },
    ]),
    [
      { role: "user", content: "go" },
      {
        role: "assistant",
        content: "on it",
        reasoning_content: "plan",
        tool_calls: [
          { id: "c1", type: "function", function: { name: "f", arguments: "{}" } },
          {
            id: "c2",
            type: "function",
            function: { name: "apply_patch", arguments: '{"input":"PATCH"}' },
          },
        ],
      },
      { role: "tool", tool_call_id: "c1", content: "one" },
      { role: "tool", tool_call_id: "c2", content: "two\n[input_image omitted]" },
      { role: "assistant", content: "done", reasoning_content: "raw" },
    ],
  );
});

Deno.test("items: types a chat upstream cannot use are left out and logged at debug", () => {
  lines.length = 0;
  assert.deepEqual(
    msgs([
      { type: "web_search_call", id: "ws_1", status: "completed" },
      { type: "local_shell_call", call_id: "x", action: {} },
      { role: "user", content: "hi" },
    ]),
    [{ role: "user", content: "hi" }],
  );
  assert.equal(lines.filter((l) => l.includes("left out")).length, 2);
});

Deno.test("items: malformed ones are 400s naming the field", () => {
  rejects400(() => msgs([{ role: "robot", content: "x" }]), "input[0].role");
  rejects400(() => msgs([{ role: "user", content: 42 }]), "input[0].content");
  rejects400(
    () => msgs([{ role: "user", content: [{ type: "input_file" }] }]),
    "input[0].content[0].type",
  );
  rejects400(
    () => msgs([{ role: "user", content: [{ type: "input_image", file_id: "f" }] }]),
    "input[0].content[0].image_url",
  );
  rejects400(
    () => msgs([{ type: "function_call", call_id: "c", name: "f" }]),
    "input[0].arguments",
  );
  rejects400(() => msgs([{ type: "function_call_output", call_id: "c", output: "o" }]), "input[0]");
  rejects400(() => msgs([{ content: "no role or type" }]), "input[0].type");
  rejects400(
    () => msgs([{ role: "system", content: [{ type: "input_image", image_url: "u" }] }]),
    "input[0].content",
  );
});

// ---- request: top-level fields and tools ----

Deno.test("request: fields map to chat (tools, choice, limits, effort, text.format); the rest stays behind", () => {
  const request = validateResponsesRequest({
    model: "m",
    input: "hi",
    tools: [
      { type: "function", name: "f", parameters: null },
      { type: "custom", name: "raw", description: "freeform" },
      { type: "file_search", vector_store_ids: [] },
      { type: "namespace", name: "ns", tools: [] },
    ],
    tool_choice: { type: "custom", name: "raw" },
    parallel_tool_calls: false,
    max_output_tokens: 64,
    top_p: 0.5,
    reasoning: { effort: "low", summary: "detailed" },
    text: {
      format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true },
    },
    service_tier: "flex",
    truncation: "auto",
    user: "u1",
  }, false);
  const { chat, customTools } = toChatRequest(request, request.input, "internlm/x", log);
  assert.deepEqual([...customTools], ["raw"]);
  assert.deepEqual(chat, {
    model: "internlm/x",
    messages: [{ role: "user", content: "hi" }],
    stream_options: { include_usage: true },
    tools: [
      { type: "function", function: { name: "f", parameters: { type: "object", properties: {} } } },
      {
        type: "function",
        function: {
          name: "raw",
          description: "freeform",
          parameters: {
            type: "object",
            properties: {
              input: { type: "string", description: "The tool's whole input, as raw text." },
            },
            required: ["input"],
            additionalProperties: false,
          },
        },
      },
    ],
    tool_choice: { type: "function", function: { name: "raw" } },
    parallel_tool_calls: false,
    max_tokens: 64,
    top_p: 0.5,
    reasoning_effort: "low",
    response_format: {
      type: "json_schema",
      json_schema: { name: "out", schema: { type: "object" }, strict: true },
    },
  });
});

Deno.test("tool_choice: modes pass, named tools become functions, built-ins leave it to the model", () => {
  assert.equal(chatToolChoice("required"), "required");
  assert.deepEqual(chatToolChoice({ type: "function", name: "f" }), {
    type: "function",
    function: { name: "f" },
  });
  assert.equal(chatToolChoice({ type: "allowed_tools", mode: "required", tools: [] }), "required");
  assert.equal(chatToolChoice({ type: "web_search_preview" }), "auto");
  assert.equal(chatToolChoice(undefined), undefined);
});

Deno.test("validate: wrong types are 400s naming the field; nulls are absent", () => {
  const ok = validateResponsesRequest(
    { model: "m", input: "x", temperature: null, store: null },
    false,
  );
  assert.equal(ok.store, true, "store defaults to true");
  assert.equal(ok.temperature, undefined);
  for (
    const [body, param] of [
      [{ input: "x" }, "model"],
      [{ model: "m" }, "input"],
      [{ model: "m", input: 3 }, "input"],
      [{ model: "m", input: [1] }, "input[0]"],
      [{ model: "m", input: "x", stream: "yes" }, "stream"],
      [{ model: "m", input: "x", max_output_tokens: 0 }, "max_output_tokens"],
      [{ model: "m", input: "x", temperature: 3 }, "temperature"],
      [{ model: "m", input: "x", tools: [{}] }, "tools[0]"],
      [{ model: "m", input: "x", reasoning: { effort: "max" } }, "reasoning.effort"],
      [{ model: "m", input: "x", text: { format: { type: "xml" } } }, "text.format.type"],
      [{ model: "m", input: "x", text: { format: { type: "json_schema" } } }, "text.format.name"],
      [{ model: "m", input: "x", previous_response_id: 5 }, "previous_response_id"],
    ] as const
  ) {
    rejects400(() => validateResponsesRequest(body, false), param);
  }
  assert.equal(validateResponsesRequest({ input: "x" }, true).model, undefined, "forced model");
});

// ---- answer: chat → output items ----

function context(custom: string[] = []): ResponseContext {
  const id = newResponseId();
  return {
    id,
    createdAt: 1,
    request: validateResponsesRequest({ model: "m", input: "x" }, false),
    customTools: new Set(custom),
    ids: new ItemIds(id),
  };
}

Deno.test("answer: reasoning, text and calls become items in order, with ids and call_ids", () => {
  const ctx = context(["apply_patch"]);
  const response = toResponse(
    completionOf({
      reasoning_content: "hmm",
      content: "Here:",
      tool_calls: [
        { id: "call_a", type: "function", function: { name: "f", arguments: '{"x":1}' } },
        {
          id: "call_b",
          type: "function",
          function: { name: "apply_patch", arguments: '{"input":"P"}' },
        },
        { id: "", type: "function", function: { name: "apply_patch", arguments: "not json" } },
      ],
    }, "tool_calls"),
    ctx,
  );
  assert.equal(response.status, "completed");
  assert.deepEqual(response.output.map((i) => [i.type, i.id.split("_")[0]]), [
    ["reasoning", "rs"],
    ["message", "msg"],
    ["function_call", "fc"],
    ["custom_tool_call", "ctc"],
    ["custom_tool_call", "ctc"],
  ]);
  assert.deepEqual(response.output[2], {
    type: "function_call",
    id: response.output[2].id,
    status: "completed",
    call_id: "call_a",
    name: "f",
    arguments: '{"x":1}',
  });
  assert.equal((response.output[3] as { input: string }).input, "P");
  const last = response.output[4] as { input: string; call_id: string; id: string };
  assert.equal(last.input, "not json", "arguments that are no {input} pass as they are");
  assert.equal(last.call_id, `call_${last.id}`, "a call without an id gets one");
  assert.equal(responseOfItem(response.output[0].id), ctx.id, "item ids name their response");
  assert.deepEqual(response.usage, {
    input_tokens: 30,
    input_tokens_details: { cached_tokens: 10 },
    output_tokens: 7,
    output_tokens_details: { reasoning_tokens: 3 },
    total_tokens: 37,
  });
  assert.equal(response.output_text, undefined, "the SDKs compute it from a JSON response");
});

Deno.test("answer: finish reasons length and content_filter make the response incomplete", () => {
  for (
    const [finish, reason] of [["length", "max_output_tokens"], [
      "content_filter",
      "content_filter",
    ]]
  ) {
    const response = toResponse(completionOf({ content: "cut" }, finish), context());
    assert.equal(response.status, "incomplete");
    assert.deepEqual(response.incomplete_details, { reason });
  }
});

Deno.test("customInput: the input string, or the raw arguments when they are not {input: string}", () => {
  assert.equal(customInput('{"input":"a\\nb"}'), "a\nb");
  assert.equal(customInput('{"input":3}'), '{"input":3}');
  assert.equal(customInput("raw"), "raw");
});

// ---- answer: chat chunks → events ----

function chunk(delta: ChatCompletionChunk["choices"][0]["delta"], finish: string | null = null) {
  return {
    id: "c",
    object: "chat.completion.chunk" as const,
    created: 1,
    model: "openai/gpt",
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

function parse(text: string): Record<string, unknown>[] {
  return text.split("\n\n").filter((b) => b.includes("data: ")).map((b) =>
    JSON.parse(b.slice(b.indexOf("data: ") + 6))
  );
}

Deno.test("live stream: chunks become items opened and closed in order; the final response is stored", () => {
  let completed: ResponseObject | undefined;
  const writer = responsesStreamWriter({
    ctx: context(["apply_patch"]),
    model: "openai/gpt",
    pieceSize: 32,
    onComplete: (r) => completed = r,
  });
  let text = writer.keepAlive() + writer.keepAlive();
  text += writer.chunk(chunk({ role: "assistant", reasoning_content: "th" }));
  text += writer.chunk(chunk({ reasoning_content: "ink" }));
  text += writer.chunk(chunk({ content: "Hi " }));
  text += writer.chunk(chunk({ content: "there" }));
  text += writer.chunk(chunk({
    tool_calls: [{
      index: 0,
      id: "call_1",
      type: "function",
      function: { name: "f", arguments: '{"a"' },
    }],
  }));
  text += writer.chunk(chunk({ tool_calls: [{ index: 0, function: { arguments: ":1}" } }] }));
  text += writer.chunk(chunk({
    tool_calls: [{ index: 1, id: "call_2", function: { name: "apply_patch", arguments: '{"inp' } }],
  }));
  text += writer.chunk(chunk({ tool_calls: [{ index: 1, function: { arguments: 'ut":"P"}' } }] }));
  text += writer.chunk(chunk({}, "tool_calls"));
  text += writer.chunk({
    ...chunk({}),
    choices: [],
    usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
  });
  text += writer.end();
  const events = parse(text);
  events.forEach((e, i) => assert.equal(e.sequence_number, i));
  assert.deepEqual(events.map((e) => e.type), [
    "response.created",
    "response.in_progress",
    "response.in_progress",
    "response.output_item.added",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done",
    "response.reasoning_summary_part.done",
    "response.output_item.done",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.output_item.added",
    "response.custom_tool_call_input.delta",
    "response.custom_tool_call_input.done",
    "response.output_item.done",
    "response.completed",
  ]);
  assert.ok(completed);
  assert.equal(completed.model, "openai/gpt");
  assert.deepEqual(completed.output.map((i) => i.type), [
    "reasoning",
    "message",
    "function_call",
    "custom_tool_call",
  ]);
  const last = events.at(-1)!.response as { output_text: string };
  assert.equal(last.output_text, "Hi there", "the SDKs' stream helpers read it from here");
  assert.equal((completed.output[2] as { arguments: string }).arguments, '{"a":1}');
  assert.equal((completed.output[3] as { input: string }).input, "P");
  assert.equal(completed.usage?.total_tokens, 3);
  assert.deepEqual({ ...last, output_text: undefined }, { ...completed, output_text: undefined });
});

Deno.test("whole answer after keep-alives: one response.created, numbered on from them", () => {
  // InternLM answers whole, often after the keep-alives started the stream (opencode and pi saw
  // response.created twice).
  const writer = responsesStreamWriter({
    ctx: context(),
    model: "m",
    pieceSize: 32,
    onComplete: () => {},
  });
  let text = writer.keepAlive() + writer.keepAlive();
  const out: string[] = [];
  writer.completionParts!(completionOf({ content: "late" }), out);
  text += out.join("");
  text += writer.end();
  const events = parse(text);
  events.forEach((e, i) => assert.equal(e.sequence_number, i));
  assert.deepEqual(events.map((e) => e.type).slice(0, 4), [
    "response.created",
    "response.in_progress",
    "response.in_progress",
    "response.output_item.added",
  ]);
  assert.equal(events.filter((e) => e.type === "response.created").length, 1);
  assert.equal(events.at(-1)!.type, "response.completed");
});

Deno.test("live stream: an error reports only the items that were closed, and stores nothing", () => {
  let completed = false;
  const writer = responsesStreamWriter({
    ctx: context(),
    model: "m",
    pieceSize: 32,
    onComplete: () => completed = true,
  });
  let text = writer.chunk(chunk({ reasoning_content: "a" }));
  text += writer.chunk(chunk({ content: "b" }));
  text += writer.error(
    new ApiError(502, "InternLM stream broke off", { code: "upstream_stream_broken" }),
  );
  const last = parse(text).at(-1)!;
  assert.equal(last.type, "response.failed");
  const response = last.response as ResponseObject;
  assert.deepEqual(response.error, {
    code: "upstream_stream_broken",
    message: "InternLM stream broke off",
  });
  assert.deepEqual(response.output.map((i) => i.type), ["reasoning"]);
  assert.equal(completed, false);
});

Deno.test("tools: a namespace's tools are offered by name; additional_tools items add tools", () => {
  const request = validateResponsesRequest({
    model: "m",
    input: [
      {
        type: "additional_tools",
        role: "developer",
        tools: [{
          type: "namespace",
          name: "functions",
          tools: [
            {
              type: "custom",
              name: "exec",
              format: { type: "grammar", syntax: "lark", definition: "start: /.+/" },
            },
            { type: "function", name: "wait", parameters: { type: "object" } },
          ],
        }],
      },
      { role: "user", content: "hi" },
    ],
    tools: [{ type: "namespace", name: "clock", tools: [{ type: "function", name: "sleep" }] }],
  }, false);
  const { chat, customTools } = toChatRequest(request, request.input, "x", log);
  const names = (chat.tools as { function: { name: string } }[]).map((t) => t.function.name);
  assert.deepEqual(names, ["sleep", "exec", "wait"]);
  assert.deepEqual([...customTools], ["exec"]);
  assert.deepEqual(chat.messages, [{ role: "user", content: "hi" }], "the item adds no message");
});

Deno.test("items: a call left without an output (an interrupted turn) is answered as interrupted", () => {
  const interrupted = "The call was interrupted: it produced no output.";
  const call = (id: string) => ({ type: "function_call", call_id: id, name: "f", arguments: "{}" });
  const toolCall = (id: string) => ({
    id,
    type: "function",
    function: { name: "f", arguments: "{}" },
  });
  assert.deepEqual(
    msgs([
      call("a"),
      call("b"),
      { type: "function_call_output", call_id: "a", output: "A" },
      { role: "user", content: "stop" },
      call("c"),
    ]),
    [
      { role: "assistant", content: null, tool_calls: [toolCall("a"), toolCall("b")] },
      { role: "tool", tool_call_id: "a", content: "A" },
      { role: "tool", tool_call_id: "b", content: interrupted },
      { role: "user", content: "stop" },
      { role: "assistant", content: null, tool_calls: [toolCall("c")] },
      { role: "tool", tool_call_id: "c", content: interrupted },
    ],
  );
});
