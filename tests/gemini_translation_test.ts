// Gemini front end, rule by rule: each translation of a request (Gemini → chat) and of an answer
// (chat → Gemini) in a table, plus the schema conversion, the error shape, and the routes Gemini
// shares with OpenAI.
import assert from "node:assert/strict";
import { completionOf } from "./completion_fixture.ts";
import { WRITE_FILE } from "./gemini.ts";
import { ApiError } from "../src/canonical/errors.ts";
import type { ChatCompletion } from "../src/canonical/types.ts";
import { Logger } from "../src/operations/log.ts";
import { RouteTable } from "../src/edge/routes.ts";
import { gemini } from "../src/frontends/gemini/frontend.ts";
import { openAIChat } from "../src/frontends/openai_chat/frontend.ts";
import { NO_RESPONSE } from "../src/frontends/gemini/contents.ts";
import { geminiErrorBody, grpcStatus } from "../src/frontends/gemini/errors.ts";
import { modelFromPath, toChatRequest } from "../src/frontends/gemini/request.ts";
import {
  finishReason,
  functionCallPart,
  toGeminiResponse,
  usageMetadata,
} from "../src/frontends/gemini/response.ts";
import { toJsonSchema } from "../src/frontends/gemini/schema.ts";

const debugLines: string[] = [];
const log = new Logger("debug", (line) => debugLines.push(line));
const user = (text: string) => ({ role: "user", parts: [{ text }] });
const translate = (body: Record<string, unknown>) => toChatRequest(body, "gemini-x", log);
const messagesOf = (contents: unknown[], extra: Record<string, unknown> = {}) =>
  translate({ contents, ...extra }).chat.messages;

// ---- Gemini → chat: contents ----

const CONTENT_RULES: Array<[string, unknown[], Record<string, unknown>, unknown[]]> = [
  ["a user text part is a user message", [user("Hi")], {}, [{ role: "user", content: "Hi" }]],
  [
    "text parts of one turn are joined by newlines",
    [{ role: "user", parts: [{ text: "a" }, { text: "b" }] }],
    {},
    [{ role: "user", content: "a\nb" }],
  ],
  ["a missing role is user", [{ parts: [{ text: "x" }] }], {}, [{ role: "user", content: "x" }]],
  [
    "systemInstruction is a system message first",
    [user("Hi")],
    { systemInstruction: { parts: [{ text: "Be" }, { text: "brief" }] } },
    [{ role: "system", content: "Be\nbrief" }, { role: "user", content: "Hi" }],
  ],
  [
    "snake_case field names work too",
    [{ role: "user", parts: [{ inline_data: { mime_type: "image/png", data: "QUJD" } }] }],
    { system_instruction: "Sys" },
    [
      { role: "system", content: "Sys" },
      {
        role: "user",
        content: [{ type: "image_url", image_url: { url: "data:image/png;base64,QUJD" } }],
      },
    ],
  ],
  [
    "inlineData images become data URLs beside the text",
    [{
      role: "user",
      parts: [{ text: "What is it?" }, { inlineData: { mimeType: "image/jpeg", data: "/9j/" } }],
    }],
    {},
    [{
      role: "user",
      content: [
        { type: "text", text: "What is it?" },
        { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/" } },
      ],
    }],
  ],
  [
    "inline audio is input_audio, other media a file part",
    [{
      role: "user",
      parts: [
        { inlineData: { mimeType: "audio/wav", data: "UklG" } },
        { inlineData: { mimeType: "application/pdf", data: "JVBE", displayName: "a.pdf" } },
      ],
    }],
    {},
    [{
      role: "user",
      content: [
        { type: "input_audio", input_audio: { data: "UklG", format: "wav" } },
        {
          type: "file",
          file: { file_data: "data:application/pdf;base64,JVBE", filename: "a.pdf" },
        },
      ],
    }],
  ],
  [
    "fileData with an http(s) image URL is an image_url",
    [{
      role: "user",
      parts: [{ fileData: { mimeType: "image/png", fileUri: "https://x.test/a.png" } }],
    }],
    {},
    [{
      role: "user",
      content: [{ type: "image_url", image_url: { url: "https://x.test/a.png" } }],
    }],
  ],
  [
    "model text is an assistant message; thoughts and signatures in history are dropped",
    [
      user("Hi"),
      {
        role: "model",
        parts: [{ text: "secret plan", thought: true }, { text: "Hello" }, {
          thoughtSignature: "c2ln",
        }],
      },
      user("Again"),
    ],
    {},
    [
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello" },
      { role: "user", content: "Again" },
    ],
  ],
  [
    "a model turn of thoughts only leaves no message",
    [user("Hi"), { role: "model", parts: [{ text: "hmm", thought: true }] }, user("?")],
    {},
    [{ role: "user", content: "Hi" }, { role: "user", content: "?" }],
  ],
  [
    "functionCall with an id keeps it; functionResponse pairs by id; {output} is bare text",
    [
      user("Write it"),
      {
        role: "model",
        parts: [{
          functionCall: { id: "w1", name: "write_file", args: { path: "a" } },
          thoughtSignature: "c2ln",
        }],
      },
      {
        role: "user",
        parts: [{ functionResponse: { id: "w1", name: "write_file", response: { output: "ok" } } }],
      },
    ],
    {},
    [
      { role: "user", content: "Write it" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{
          id: "w1",
          type: "function",
          function: { name: "write_file", arguments: '{"path":"a"}' },
        }],
      },
      { role: "tool", tool_call_id: "w1", content: "ok" },
    ],
  ],
  [
    "calls without ids get positional ids; responses pair by name, then order",
    [
      user("Go"),
      {
        role: "model",
        parts: [
          { text: "Reading both." },
          { functionCall: { name: "read", args: { p: 1 } } },
          { functionCall: { name: "list", args: {} } },
          { functionCall: { name: "read", args: { p: 2 } } },
        ],
      },
      {
        role: "user",
        parts: [
          { functionResponse: { name: "list", response: { files: [] } } },
          { functionResponse: { name: "read", response: { output: "one" } } },
          { functionResponse: { name: "read", response: { error: "two failed" } } },
          { text: "Now summarise." },
        ],
      },
    ],
    {},
    [
      { role: "user", content: "Go" },
      {
        role: "assistant",
        content: "Reading both.",
        tool_calls: [
          { id: "call_1_0", type: "function", function: { name: "read", arguments: '{"p":1}' } },
          { id: "call_1_1", type: "function", function: { name: "list", arguments: "{}" } },
          { id: "call_1_2", type: "function", function: { name: "read", arguments: '{"p":2}' } },
        ],
      },
      { role: "tool", tool_call_id: "call_1_1", content: '{"files":[]}' },
      { role: "tool", tool_call_id: "call_1_0", content: "one" },
      { role: "tool", tool_call_id: "call_1_2", content: '{"error":"two failed"}' },
      { role: "user", content: "Now summarise." },
    ],
  ],
  [
    "a response whose id matches no call pairs by name",
    [
      user("Go"),
      { role: "model", parts: [{ functionCall: { id: "a", name: "f" } }] },
      { role: "function", parts: [{ functionResponse: { id: "zzz", name: "f", response: {} } }] },
    ],
    {},
    [
      { role: "user", content: "Go" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "a", type: "function", function: { name: "f", arguments: "{}" } }],
      },
      { role: "tool", tool_call_id: "a", content: "{}" },
    ],
  ],
  [
    "a call left unanswered when the conversation moves on gets a tool message saying so",
    [
      user("Go"),
      {
        role: "model",
        parts: [{ functionCall: { id: "a", name: "f" } }, { functionCall: { id: "b", name: "g" } }],
      },
      {
        role: "user",
        parts: [{ functionResponse: { id: "a", name: "f", response: { output: "1" } } }, {
          text: "Stop there.",
        }],
      },
    ],
    {},
    [
      { role: "user", content: "Go" },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          { id: "a", type: "function", function: { name: "f", arguments: "{}" } },
          { id: "b", type: "function", function: { name: "g", arguments: "{}" } },
        ],
      },
      { role: "tool", tool_call_id: "a", content: "1" },
      { role: "tool", tool_call_id: "b", content: NO_RESPONSE },
      { role: "user", content: "Stop there." },
    ],
  ],
  [
    "contents ending on the model's calls answer them too",
    [user("Go"), { role: "model", parts: [{ functionCall: { id: "a", name: "f" } }] }],
    {},
    [
      { role: "user", content: "Go" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "a", type: "function", function: { name: "f", arguments: "{}" } }],
      },
      { role: "tool", tool_call_id: "a", content: NO_RESPONSE },
    ],
  ],
  [
    "code execution parts from history are fenced text",
    [{
      role: "user",
      parts: [
        { executableCode: { language: "PYTHON", code: "print(1)" } },
        { codeExecutionResult: { outcome: "OUTCOME_OK", output: "1" } },
      ],
    }],
    {},
    [{ role: "user", content: "```python\nprint(1)\n```\n```output\n1\n```" }],
  ],
];

for (const [rule, contents, extra, expected] of CONTENT_RULES) {
  Deno.test(`gemini → chat: ${rule}`, () => {
    assert.deepEqual(messagesOf(contents, extra), expected);
  });
}

Deno.test("gemini → chat: the same history gives the same ids on every turn", () => {
  const history = [
    user("Go"),
    { role: "model", parts: [{ functionCall: { name: "f", args: {} } }] },
    { role: "user", parts: [{ functionResponse: { name: "f", response: { output: "1" } } }] },
  ];
  const first = messagesOf(history);
  const later = messagesOf([
    ...history,
    { role: "model", parts: [{ text: "Done" }] },
    user("More"),
  ]);
  assert.deepEqual(later.slice(0, first.length), first);
});

const BAD_CONTENTS: Array<[string, Record<string, unknown>, RegExp]> = [
  ["no contents", {}, /contents/],
  ["empty contents", { contents: [] }, /contents/],
  ["contents not an array", { contents: "hi" }, /contents/],
  ["a content not an object", { contents: [42] }, /contents\[0\]/],
  ["no parts", { contents: [{ role: "user" }] }, /contents\[0\]\.parts/],
  ["empty parts", { contents: [{ role: "user", parts: [] }] }, /contents\[0\]\.parts/],
  ["an unknown role", { contents: [{ role: "system", parts: [{ text: "x" }] }] }, /role/],
  ["text not a string", { contents: [{ parts: [{ text: 5 }] }] }, /parts\[0\]\.text/],
  ["a part with no data", { contents: [{ parts: [{}] }] }, /parts\[0\]/],
  [
    "inlineData without data",
    { contents: [{ parts: [{ inlineData: { mimeType: "image/png" } }] }] },
    /inlineData\.data/,
  ],
  [
    "fileData that is not http(s)",
    { contents: [{ parts: [{ fileData: { fileUri: "gs://b/x.png" } }] }] },
    /fileUri/,
  ],
  [
    "functionCall without a name",
    { contents: [user("x"), { role: "model", parts: [{ functionCall: { args: {} } }] }] },
    /functionCall\.name/,
  ],
  [
    "functionCall args not an object",
    {
      contents: [user("x"), { role: "model", parts: [{ functionCall: { name: "f", args: [] } }] }],
    },
    /args/,
  ],
  [
    "a functionResponse with no call before it",
    { contents: [{ parts: [{ functionResponse: { name: "f", response: {} } }] }] },
    /functionResponse/,
  ],
  [
    "a second response to one call",
    {
      contents: [
        user("x"),
        { role: "model", parts: [{ functionCall: { name: "f" } }] },
        {
          parts: [
            { functionResponse: { name: "f", response: {} } },
            { functionResponse: { name: "f", response: {} } },
          ],
        },
      ],
    },
    /unanswered/,
  ],
  [
    "a response after the conversation moved on",
    {
      contents: [
        user("x"),
        {
          role: "model",
          parts: [{ functionCall: { name: "f" } }, { functionCall: { name: "g" } }],
        },
        { parts: [{ functionResponse: { name: "f", response: {} } }, { text: "stop" }] },
        { parts: [{ functionResponse: { name: "g", response: {} } }] },
      ],
    },
    /unanswered/,
  ],
  ["a system instruction with an image", {
    contents: [user("x")],
    systemInstruction: { parts: [{ inlineData: { mimeType: "image/png", data: "x" } }] },
  }, /systemInstruction/],
  ["cachedContent", { contents: [user("x")], cachedContent: "cachedContents/1" }, /cached/],
];

for (const [what, body, message] of BAD_CONTENTS) {
  Deno.test(`gemini → chat: ${what} is a 400 naming the field`, () => {
    assert.throws(() => translate(body), (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 400);
      assert.match(err.message, message);
      return true;
    });
  });
}

// ---- Gemini → chat: tools, tool config, generation config ----

const WRITE_TOOL = {
  type: "function",
  function: {
    name: "write_file",
    description: "Writes a file.",
    parameters: WRITE_FILE.parametersJsonSchema,
  },
};
const G_TOOL = {
  type: "function",
  function: { name: "g", parameters: { type: "object", properties: {} } },
};

const REQUEST_RULES: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
  [
    "parametersJsonSchema is the function's parameters",
    { tools: [{ functionDeclarations: [WRITE_FILE] }] },
    { tools: [WRITE_TOOL] },
  ],
  [
    "OpenAPI-style parameters are converted; no parameters is an empty object schema",
    {
      tools: [{
        functionDeclarations: [
          { name: "f", parameters: { type: "OBJECT", properties: { n: { type: "INTEGER" } } } },
          { name: "g" },
        ],
      }],
    },
    {
      tools: [
        {
          type: "function",
          function: {
            name: "f",
            parameters: { type: "object", properties: { n: { type: "integer" } } },
          },
        },
        {
          type: "function",
          function: { name: "g", parameters: { type: "object", properties: {} } },
        },
      ],
    },
  ],
  [
    "built-in tools are left out",
    { tools: [{ googleSearch: {} }, { codeExecution: {} }, { urlContext: {} }] },
    {},
  ],
  [
    "mode AUTO is tool_choice auto",
    {
      tools: [{ functionDeclarations: [WRITE_FILE] }],
      toolConfig: { functionCallingConfig: { mode: "AUTO" } },
    },
    { tools: [WRITE_TOOL], tool_choice: "auto" },
  ],
  [
    "mode NONE is tool_choice none",
    {
      tools: [{ functionDeclarations: [WRITE_FILE] }],
      toolConfig: { functionCallingConfig: { mode: "NONE" } },
    },
    { tools: [WRITE_TOOL], tool_choice: "none" },
  ],
  [
    "mode ANY is required",
    {
      tools: [{ functionDeclarations: [WRITE_FILE, { name: "g" }] }],
      toolConfig: { functionCallingConfig: { mode: "ANY" } },
    },
    { tools: [WRITE_TOOL, G_TOOL], tool_choice: "required" },
  ],
  [
    "ANY with one allowed name forces that function and keeps only it",
    {
      tools: [{ functionDeclarations: [WRITE_FILE, { name: "g" }] }],
      toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["g"] } },
    },
    {
      tools: [G_TOOL],
      tool_choice: { type: "function", function: { name: "g" } },
    },
  ],
  [
    "generationConfig sampling and length fields",
    {
      generationConfig: {
        temperature: 0.2,
        topP: 0.9,
        topK: 40,
        maxOutputTokens: 100,
        stopSequences: ["END"],
        candidateCount: 2,
        seed: 7,
        presencePenalty: 0.1,
        frequencyPenalty: 0.3,
      },
      safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_NONE" }],
    },
    {
      temperature: 0.2,
      top_p: 0.9,
      max_tokens: 100,
      stop: ["END"],
      n: 2,
      seed: 7,
      presence_penalty: 0.1,
      frequency_penalty: 0.3,
    },
  ],
  [
    "JSON mode without a schema is json_object",
    { generationConfig: { responseMimeType: "application/json" } },
    { response_format: { type: "json_object" } },
  ],
  [
    "responseJsonSchema (upper-case types, as Gemini CLI sends them) is a json_schema",
    {
      generationConfig: {
        responseMimeType: "application/json",
        responseJsonSchema: {
          type: "OBJECT",
          properties: { score: { type: "INTEGER" } },
          required: ["score"],
        },
      },
    },
    {
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "response",
          schema: {
            type: "object",
            properties: { score: { type: "integer" } },
            required: ["score"],
          },
        },
      },
    },
  ],
  [
    "responseSchema (OpenAPI style) is a json_schema",
    {
      generationConfig: {
        responseMimeType: "application/json",
        responseSchema: { type: "ARRAY", items: { type: "STRING" } },
      },
    },
    {
      response_format: {
        type: "json_schema",
        json_schema: { name: "response", schema: { type: "array", items: { type: "string" } } },
      },
    },
  ],
  [
    "a schema without JSON mode changes nothing",
    { generationConfig: { responseSchema: { type: "STRING" } } },
    {},
  ],
  ["thinkingBudget 0 is thinking off", {
    generationConfig: { thinkingConfig: { thinkingBudget: 0 } },
  }, { thinking_mode: false }],
  ["thinkingBudget -1 (dynamic) is thinking on", {
    generationConfig: { thinkingConfig: { thinkingBudget: -1 } },
  }, { thinking_mode: true }],
  ["thinkingLevel HIGH is thinking on", {
    generationConfig: { thinkingConfig: { thinkingLevel: "HIGH", includeThoughts: true } },
  }, { thinking_mode: true }],
  ["thinkingLevel minimal is thinking off", {
    generationConfig: { thinkingConfig: { thinkingLevel: "minimal" } },
  }, { thinking_mode: false }],
  ["includeThoughts alone leaves thinking to the backend", {
    generationConfig: { thinkingConfig: { includeThoughts: true } },
  }, {}],
];

for (const [rule, extra, expected] of REQUEST_RULES) {
  Deno.test(`gemini → chat: ${rule}`, () => {
    const { chat } = translate({ contents: [user("Hi")], ...extra });
    const { model, messages, ...rest } = chat;
    assert.equal(model, "gemini-x");
    assert.deepEqual(messages, [{ role: "user", content: "Hi" }]);
    assert.deepEqual(rest, expected);
  });
}

Deno.test("gemini → chat: built-in tools left out are logged at debug", () => {
  debugLines.length = 0;
  translate({ contents: [user("Hi")], tools: [{ googleSearch: {} }] });
  assert.ok(debugLines.some((l) => l.includes("googleSearch")), debugLines.join("\n"));
});

Deno.test("gemini → chat: includeThoughts is reported for the answer", () => {
  const on = translate({
    contents: [user("x")],
    generationConfig: { thinkingConfig: { includeThoughts: true } },
  });
  assert.equal(on.includeThoughts, true);
  assert.equal(translate({ contents: [user("x")] }).includeThoughts, false);
});

const BAD_CONFIG: Array<[string, Record<string, unknown>, RegExp]> = [
  ["temperature a string", { generationConfig: { temperature: "hot" } }, /temperature/],
  ["maxOutputTokens a fraction", { generationConfig: { maxOutputTokens: 1.5 } }, /maxOutputTokens/],
  ["candidateCount 0", { generationConfig: { candidateCount: 0 } }, /candidateCount/],
  ["stopSequences not strings", { generationConfig: { stopSequences: [1] } }, /stopSequences/],
  ["generationConfig not an object", { generationConfig: [] }, /generationConfig/],
  ["an unknown thinkingLevel", {
    generationConfig: { thinkingConfig: { thinkingLevel: "MAX" } },
  }, /thinkingLevel/],
  ["tools not an array", { tools: {} }, /tools/],
  ["a declaration without a name", { tools: [{ functionDeclarations: [{}] }] }, /name/],
  ["a schema that is not an object", {
    tools: [{ functionDeclarations: [{ name: "f", parameters: "OBJECT" }] }],
  }, /parameters/],
  ["an unknown mode", {
    tools: [{ functionDeclarations: [{ name: "f" }] }],
    toolConfig: { functionCallingConfig: { mode: "SOMETIMES" } },
  }, /mode/],
  ["allowed names that name nothing", {
    tools: [{ functionDeclarations: [{ name: "f" }] }],
    toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["g"] } },
  }, /allowedFunctionNames/],
];

for (const [what, extra, message] of BAD_CONFIG) {
  Deno.test(`gemini → chat: ${what} is a 400`, () => {
    assert.throws(() => translate({ contents: [user("x")], ...extra }), (err: unknown) => {
      assert.ok(err instanceof ApiError && err.status === 400, String(err));
      assert.match(err.message, message);
      return true;
    });
  });
}

Deno.test("gemini → chat: the path's model, with a doubled models/ prefix dropped", () => {
  assert.equal(modelFromPath("gemini-2.5-pro"), "gemini-2.5-pro");
  assert.equal(modelFromPath("models/internlm/intern-s1"), "internlm/intern-s1");
  assert.throws(() => modelFromPath("models/"), ApiError);
});

// ---- schemas ----

const SCHEMA_RULES: Array<[string, unknown, "openapi" | "json", unknown]> = [
  ["upper-case types are lower-cased", { type: "STRING" }, "openapi", { type: "string" }],
  ["lower-case types stay", { type: "number" }, "openapi", { type: "number" }],
  ["TYPE_UNSPECIFIED is no type", { type: "TYPE_UNSPECIFIED", description: "d" }, "openapi", {
    description: "d",
  }],
  ["nullable adds null", { type: "STRING", nullable: true }, "openapi", {
    type: ["string", "null"],
  }],
  [
    "int64 bounds as strings are numbers",
    {
      type: "ARRAY",
      minItems: "1",
      maxItems: "3",
      items: { type: "STRING", maxLength: "10" },
    },
    "openapi",
    { type: "array", minItems: 1, maxItems: 3, items: { type: "string", maxLength: 10 } },
  ],
  [
    "propertyOrdering is dropped, example becomes examples",
    {
      type: "OBJECT",
      propertyOrdering: ["b", "a"],
      properties: { a: { type: "STRING", example: "x" }, b: { type: "BOOLEAN" } },
    },
    "openapi",
    {
      type: "object",
      properties: { a: { type: "string", examples: ["x"] }, b: { type: "boolean" } },
    },
  ],
  [
    "anyOf, enum and format carry over",
    {
      anyOf: [{ type: "STRING", enum: ["a", "b"], format: "enum" }, { type: "NULL" }],
    },
    "openapi",
    { anyOf: [{ type: "string", enum: ["a", "b"], format: "enum" }, { type: "null" }] },
  ],
  [
    "a property named type is a property, not a keyword",
    {
      type: "OBJECT",
      properties: { type: { type: "STRING" } },
    },
    "openapi",
    { type: "object", properties: { type: { type: "string" } } },
  ],
  [
    "JSON Schema keeps its keywords and nested upper-case types are lowered",
    {
      type: "object",
      $defs: { n: { type: "INTEGER" } },
      properties: { list: { type: "array", items: { $ref: "#/$defs/n" } } },
      additionalProperties: false,
      nullable: true,
    },
    "json",
    {
      type: "object",
      $defs: { n: { type: "integer" } },
      properties: { list: { type: "array", items: { $ref: "#/$defs/n" } } },
      additionalProperties: false,
      nullable: true,
    },
  ],
  ["JSON Schema type lists", { type: ["STRING", "null"] }, "json", { type: ["string", "null"] }],
];

for (const [rule, input, dialect, expected] of SCHEMA_RULES) {
  Deno.test(`schema (${dialect}): ${rule}`, () => {
    assert.deepEqual(toJsonSchema(input, "p", dialect), expected);
  });
}

// ---- chat → Gemini ----

const RESPONSE_RULES: Array<[string, ChatCompletion, boolean, unknown[]]> = [
  ["content is a text part", completionOf({ content: "Hello" }), false, [{ text: "Hello" }]],
  [
    "reasoning is a thought part, first, when thoughts are asked for",
    completionOf({ content: "Hi", reasoning_content: "think" }),
    true,
    [{ text: "think", thought: true }, { text: "Hi" }],
  ],
  [
    "reasoning is left out otherwise",
    completionOf({ content: "Hi", reasoning_content: "think" }),
    false,
    [{ text: "Hi" }],
  ],
  [
    "tool calls are functionCall parts with parsed args and the id",
    completionOf({
      content: "Writing.",
      tool_calls: [
        { id: "c1", type: "function", function: { name: "write_file", arguments: '{"a":1}' } },
        { id: "", type: "function", function: { name: "list", arguments: "" } },
      ],
    }, "tool_calls"),
    false,
    [
      { text: "Writing." },
      { functionCall: { id: "c1", name: "write_file", args: { a: 1 } } },
      { functionCall: { id: "call_1", name: "list", args: {} } },
    ],
  ],
  ["no content is no parts", completionOf({ content: "" }, "length"), false, []],
];

for (const [rule, completion, thoughts, parts] of RESPONSE_RULES) {
  Deno.test(`chat → gemini: ${rule}`, () => {
    const response = toGeminiResponse(completion, thoughts);
    assert.deepEqual(response.candidates[0].content, { role: "model", parts });
    assert.equal(response.modelVersion, "internlm/intern-s1");
    assert.equal(response.responseId, "chatcmpl-abc");
  });
}

const FINISH_RULES: Array<[string | null, string]> = [
  ["stop", "STOP"],
  ["tool_calls", "STOP"],
  ["length", "MAX_TOKENS"],
  ["content_filter", "SAFETY"],
  ["something_new", "OTHER"],
  [null, "STOP"],
];

for (const [chat, gemini] of FINISH_RULES) {
  Deno.test(`chat → gemini: finish_reason ${chat} is ${gemini}`, () => {
    assert.equal(finishReason(chat), gemini);
  });
}

Deno.test("chat → gemini: arguments that are not a JSON object are MALFORMED_FUNCTION_CALL", () => {
  assert.equal(
    functionCallPart({ id: "x", function: { name: "f", arguments: "{broken" } }, 0),
    undefined,
  );
  assert.equal(
    functionCallPart({ id: "x", function: { name: "f", arguments: "[1]" } }, 0),
    undefined,
  );
  const response = toGeminiResponse(
    completionOf({
      tool_calls: [{ id: "x", type: "function", function: { name: "f", arguments: "{broken" } }],
    }, "tool_calls"),
    false,
  );
  assert.equal(response.candidates[0].finishReason, "MALFORMED_FUNCTION_CALL");
  assert.deepEqual(response.candidates[0].content.parts, []);
});

Deno.test("chat → gemini: usage, with reasoning and cached tokens counted apart", () => {
  assert.deepEqual(usageMetadata({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 }), {
    promptTokenCount: 5,
    candidatesTokenCount: 7,
    totalTokenCount: 12,
  });
  assert.deepEqual(
    usageMetadata({
      prompt_tokens: 50,
      completion_tokens: 30,
      total_tokens: 80,
      completion_tokens_details: { reasoning_tokens: 20 },
      prompt_tokens_details: { cached_tokens: 40 },
    }),
    {
      promptTokenCount: 50,
      candidatesTokenCount: 10,
      thoughtsTokenCount: 20,
      cachedContentTokenCount: 40,
      totalTokenCount: 80,
    },
  );
  const response = toGeminiResponse({
    ...completionOf({ content: "x" }),
    usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
  }, false);
  assert.equal(response.usageMetadata?.totalTokenCount, 3);
});

Deno.test("chat → gemini: every choice is a candidate with its index", () => {
  const completion = completionOf({ content: "a" });
  completion.choices.push({
    index: 1,
    message: { role: "assistant", content: "b" },
    finish_reason: "length",
  });
  const { candidates } = toGeminiResponse(completion, false);
  assert.deepEqual(candidates.map((c) => [c.index, c.content.parts, c.finishReason]), [
    [0, [{ text: "a" }], "STOP"],
    [1, [{ text: "b" }], "MAX_TOKENS"],
  ]);
});

// ---- errors ----

const STATUS_NAMES: Array<[number, string]> = [
  [400, "INVALID_ARGUMENT"],
  [401, "UNAUTHENTICATED"],
  [403, "PERMISSION_DENIED"],
  [404, "NOT_FOUND"],
  [413, "INVALID_ARGUMENT"],
  [429, "RESOURCE_EXHAUSTED"],
  [500, "INTERNAL"],
  [502, "UNAVAILABLE"],
  [503, "UNAVAILABLE"],
  [504, "DEADLINE_EXCEEDED"],
];

for (const [status, name] of STATUS_NAMES) {
  Deno.test(`errors: HTTP ${status} is ${name}`, () => {
    assert.equal(grpcStatus(status), name);
    assert.deepEqual(geminiErrorBody(new ApiError(status, "m")), {
      error: { code: status, message: "m", status: name },
    });
  });
}

Deno.test("errors: a retry-after becomes a RetryInfo detail", () => {
  const body = geminiErrorBody(
    new ApiError(429, "slow down", { headers: { "retry-after": "7" } }),
  );
  assert.deepEqual(body.error.details, [{
    "@type": "type.googleapis.com/google.rpc.RetryInfo",
    retryDelay: "7s",
  }]);
});

// ---- routes shared with OpenAI ----

Deno.test("routes: GET /v1/models is Gemini's for Google's clients, OpenAI's for the rest", () => {
  const table = new RouteTable([openAIChat, gemini]);
  const at = (headers: Record<string, string>, url = "http://x/v1/models") =>
    table.lookup("GET", new URL(url).pathname, new Request(url, { headers }));
  const frontendOf = (l: ReturnType<typeof at>) =>
    l.kind === "route" ? l.match.frontend.name : l.kind === "method" ? l.frontend.name : "none";
  assert.equal(frontendOf(at({})), "openai_chat");
  assert.equal(frontendOf(at({ "x-goog-api-key": "k" })), "gemini");
  assert.equal(frontendOf(at({ "x-goog-api-client": "google-genai-sdk/3.3.0" })), "gemini");
  assert.equal(frontendOf(at({}, "http://x/v1/models?key=k")), "gemini");
  assert.equal(frontendOf(at({}, "http://x/v1/models/internlm/intern-s1")), "openai_chat");
  assert.equal(frontendOf(at({ "x-goog-api-key": "k" }, "http://x/v1/models/a/b")), "gemini");
  assert.equal(frontendOf(at({}, "http://x/v1beta/models")), "gemini");
  const put = table.lookup(
    "PUT",
    "/v1/models/m:generateContent",
    new Request("http://x/", {
      method: "PUT",
      headers: { "x-goog-api-client": "g" },
    }),
  );
  assert.equal(frontendOf(put), "gemini", "a wrong method is answered in the client's dialect");
});
