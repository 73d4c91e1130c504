// The Gemini front end end to end with Google's own SDK (`@google/genai`) as the client, its base
// URL pointed at the proxy, in front of a fake InternLM: answers, function calling round trips
// (with and without ids), thoughts, images, countTokens, the model list, errors in Google's shape, client keys
// as x-goog-api-key or ?key= (and never in a log line), and a hang-up cancelling the upstream.
import assert from "node:assert/strict";
import { WRITE_FILE } from "./gemini.ts";
import { ApiError, type Content, GoogleGenAI } from "@google/genai";
import { toChatRequest } from "../src/frontends/gemini/request.ts";
import { Logger } from "../src/operations/log.ts";
import { countChatTokens } from "../src/pipeline/token_count.ts";
import { completion, openaiError, rateLimited, type Responder } from "./fake_upstream.ts";
import { eventually, type StartOptions, type TestProxy, withProxy } from "./proxy.ts";

const MODEL = "internlm/intern-s1";

function client(proxy: TestProxy, apiKey = "unused", apiVersion?: string): GoogleGenAI {
  return new GoogleGenAI({ apiKey, httpOptions: { baseUrl: proxy.origin, apiVersion } });
}

function withGemini(
  responder: Responder,
  fn: (ai: GoogleGenAI, ctx: Parameters<Parameters<typeof withProxy>[1]>[0]) => Promise<void>,
  options: StartOptions = {},
): Promise<void> {
  return withProxy(responder, (ctx) => fn(client(ctx.proxy), ctx), options);
}

/** The SDK's error for a failed call, checked to be one. */
async function sdkError(call: Promise<unknown>): Promise<ApiError> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected the SDK's ApiError, got ${err}`);
    return err;
  }
  throw new Error("the call succeeded");
}

/** The `{"error":…}` JSON the SDK puts in its message. */
function errorBody(err: ApiError): { code: number; message: string; status: string } {
  return JSON.parse(err.message.slice(err.message.indexOf("{"))).error;
}

Deno.test("genai generateContent: text, usage, model and id; the upstream gets a chat request", async () => {
  await withGemini(
    () =>
      completion("Hello from InternLM", {
        usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 },
      }),
    async (ai, { up }) => {
      const response = await ai.models.generateContent({
        model: MODEL,
        contents: "Say hello",
        config: { systemInstruction: "Be brief.", temperature: 0.3, maxOutputTokens: 50 },
      });
      assert.equal(response.text, "Hello from InternLM");
      assert.equal(response.candidates?.[0].finishReason, "STOP");
      assert.equal(response.modelVersion, MODEL);
      assert.match(response.responseId ?? "", /^chatcmpl-/);
      assert.deepEqual(
        { ...response.usageMetadata },
        { promptTokenCount: 7, candidatesTokenCount: 4, totalTokenCount: 11 },
      );
      const sent = up.chatRequests()[0].body!;
      assert.equal(sent.model, "intern-s1");
      assert.deepEqual(sent.messages, [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Say hello" },
      ]);
      assert.equal(sent.temperature, 0.3);
      assert.equal(sent.max_tokens, 50);
    },
  );
});

Deno.test("genai generateContent: the /v1beta paths work as /v1 does", async () => {
  await withProxy(() => completion("beta"), async ({ proxy }) => {
    const ai = client(proxy, "unused", "v1beta");
    const response = await ai.models.generateContent({ model: MODEL, contents: "x" });
    assert.equal(response.text, "beta");
    assert.ok(
      proxy.logs.some((l) =>
        l.includes("POST /v1beta/models/internlm/intern-s1:generateContent 200")
      ),
    );
  });
});

for (const withIds of [true, false]) {
  Deno.test(`genai function calling round trip ${withIds ? "with" : "without"} ids`, async () => {
    await withGemini(
      (req) => {
        const messages = req.body!.messages as Record<string, unknown>[];
        if (messages.some((m) => m.role === "tool")) return completion("Wrote notes.txt.");
        return completion(null, {
          tool_calls: [{
            id: "call_up_1",
            type: "function",
            function: {
              name: "write_file",
              arguments: JSON.stringify({ file_path: "notes.txt", content: "hi" }),
            },
          }],
        });
      },
      async (ai, { up }) => {
        const config = { tools: [{ functionDeclarations: [WRITE_FILE] }] };
        const first = await ai.models.generateContent({
          model: MODEL,
          contents: "Write notes.txt",
          config,
        });
        const call = first.functionCalls?.[0];
        assert.deepEqual(call, {
          id: "call_up_1",
          name: "write_file",
          args: { file_path: "notes.txt", content: "hi" },
        });
        assert.equal(first.candidates?.[0].finishReason, "STOP");
        const sentTools = up.chatRequests()[0].body!.tools as Array<{ function: unknown }>;
        assert.deepEqual(sentTools[0].function, {
          name: "write_file",
          description: "Writes a file.",
          parameters: WRITE_FILE.parametersJsonSchema,
        });

        const strip = (o: Record<string, unknown>) => {
          if (!withIds) delete o.id;
          return o;
        };
        const history: Content[] = [
          { role: "user", parts: [{ text: "Write notes.txt" }] },
          { role: "model", parts: [{ functionCall: strip({ ...call }) }] },
          {
            role: "user",
            parts: [{
              functionResponse: strip({
                id: call!.id,
                name: "write_file",
                response: { output: "ok" },
              }),
            }],
          },
        ];
        const second = await ai.models.generateContent({ model: MODEL, contents: history, config });
        assert.equal(second.text, "Wrote notes.txt.");
        const messages = up.chatRequests()[1].body!.messages as Array<Record<string, unknown>>;
        const id = withIds ? "call_up_1" : "call_1_0";
        assert.deepEqual(messages.slice(1), [
          {
            role: "assistant",
            content: null,
            tool_calls: [{
              id,
              type: "function",
              function: {
                name: "write_file",
                arguments: JSON.stringify({ file_path: "notes.txt", content: "hi" }),
              },
            }],
          },
          { role: "tool", tool_call_id: id, content: "ok" },
        ]);
      },
    );
  });
}

Deno.test("genai thoughts: a thought part only with includeThoughts; thinking budget 0 turns it off", async () => {
  await withGemini(
    () => completion("42", { reasoning_content: "Six times seven." }),
    async (ai, { up }) => {
      const withThoughts = await ai.models.generateContent({
        model: MODEL,
        contents: "6*7?",
        config: { thinkingConfig: { includeThoughts: true } },
      });
      assert.deepEqual(withThoughts.candidates?.[0].content?.parts, [
        { text: "Six times seven.", thought: true },
        { text: "42" },
      ]);
      assert.equal(withThoughts.text, "42");
      const without = await ai.models.generateContent({ model: MODEL, contents: "6*7?" });
      assert.deepEqual(without.candidates?.[0].content?.parts, [{ text: "42" }]);
      await ai.models.generateContent({
        model: MODEL,
        contents: "6*7?",
        config: { thinkingConfig: { thinkingBudget: 0 } },
      });
      assert.equal(up.chatRequests()[2].body!.thinking_mode, false);
    },
  );
});

Deno.test("genai images: inline image data reaches the upstream as an image_url data URL", async () => {
  await withGemini(() => completion("A red pixel."), async (ai, { up }) => {
    const png =
      "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
    const response = await ai.models.generateContent({
      model: MODEL,
      contents: [{
        role: "user",
        parts: [{ text: "What is this?" }, { inlineData: { mimeType: "image/png", data: png } }],
      }],
    });
    assert.equal(response.text, "A red pixel.");
    const messages = up.chatRequests()[0].body!.messages as Array<Record<string, unknown>>;
    assert.deepEqual(messages[0].content, [
      { type: "text", text: "What is this?" },
      { type: "image_url", image_url: { url: `data:image/png;base64,${png}` } },
    ]);
  });
});

Deno.test("genai models: list and get in Gemini's shape, also under /v1 (OpenAI's list stays OpenAI's)", async () => {
  await withProxy(undefined, async ({ proxy }) => {
    for (const apiVersion of ["v1", "v1beta"]) {
      const ai = client(proxy, "unused", apiVersion);
      const names: string[] = [];
      for await (const model of await ai.models.list()) names.push(model.name ?? "");
      assert.ok(names.includes("models/internlm/intern-s1"), names.join(", "));
      const model = await ai.models.get({ model: MODEL });
      assert.equal(model.name, "models/internlm/intern-s1");
      assert.ok(model.supportedActions?.includes("generateContent"));
      const unprefixed = await ai.models.get({ model: "intern-s1" });
      assert.equal(unprefixed.name, "models/internlm/intern-s1");
      const missing = await sdkError(ai.models.get({ model: "no-such-model" }));
      assert.equal(missing.status, 404);
      assert.equal(errorBody(missing).status, "NOT_FOUND");
    }
    // A client without Google's headers still gets OpenAI's list at /v1/models.
    const openai = await (await fetch(`${proxy.origin}/v1/models`)).json();
    assert.equal(openai.object, "list");
  });
});

Deno.test("genai errors: upstream and proxy failures in Google's shape with gRPC status names", async () => {
  let reply = openaiError(400, "context too long");
  await withGemini(() => reply, async (ai) => {
    const cases: Array<[() => unknown, number, string, RegExp]> = [
      [
        () => (reply = openaiError(400, "context too long")),
        400,
        "INVALID_ARGUMENT",
        /context too long/,
      ],
      [() => (reply = openaiError(500, "boom")), 502, "UNAVAILABLE", /boom/],
      [() => (reply = rateLimited(9)), 429, "RESOURCE_EXHAUSTED", /rate-limited/],
    ];
    for (const [set, status, name, message] of cases) {
      set();
      const err = await sdkError(ai.models.generateContent({ model: MODEL, contents: "x" }));
      assert.equal(err.status, status);
      const body = errorBody(err);
      assert.equal(body.code, status);
      assert.equal(body.status, name);
      assert.match(body.message, message);
    }
  }, { configText: "backends:\n  internlm:\n    type: internlm\n    max_retries: 0\n" });
});

Deno.test("errors: 429 carries retry-after and a RetryInfo detail; bad requests never go upstream", async () => {
  await withProxy(() => rateLimited(4), async ({ proxy, up }) => {
    const url = `${proxy.origin}/v1beta/models/${MODEL}:generateContent`;
    const post = (body: string) =>
      fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
    const limited = await post(JSON.stringify({ contents: [{ parts: [{ text: "x" }] }] }));
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    const body = await limited.json();
    assert.equal(body.error.status, "RESOURCE_EXHAUSTED");
    assert.equal(body.error.details[0]["@type"], "type.googleapis.com/google.rpc.RetryInfo");
    assert.match(body.error.details[0].retryDelay, /^\d+s$/);
    const before = up.chatRequests().length;
    for (const bad of ["{nope", "[]", '{"contents":[]}', '{"contents":[{"parts":[{"text":1}]}]}']) {
      const res = await post(bad);
      assert.equal(res.status, 400, bad);
      const err = (await res.json()).error;
      assert.equal(err.code, 400);
      assert.equal(err.status, "INVALID_ARGUMENT");
    }
    assert.equal(up.chatRequests().length, before, "no bad request reached the upstream");
    const unknown = await fetch(`${proxy.origin}/v1beta/models/x:generateContent`, {
      method: "PUT",
    });
    assert.equal(unknown.status, 405);
    assert.equal((await unknown.json()).error.status, "UNIMPLEMENTED");
  });
});

const CLIENT_KEY = "gemini-client-key-Q7w2e9r4t1";

Deno.test("auth: the client key as x-goog-api-key or ?key= passes, a wrong one is UNAUTHENTICATED, neither is logged", async () => {
  await withProxy(() => completion("authorised"), async ({ proxy }) => {
    const ok = await client(proxy, CLIENT_KEY).models.generateContent({
      model: MODEL,
      contents: "x",
    });
    assert.equal(ok.text, "authorised");
    const wrong = await sdkError(
      client(proxy, "wrong-key-Zx81").models.generateContent({ model: MODEL, contents: "x" }),
    );
    assert.equal(wrong.status, 401);
    assert.equal(errorBody(wrong).status, "UNAUTHENTICATED");
    const body = JSON.stringify({ contents: [{ parts: [{ text: "x" }] }] });
    const url = `${proxy.origin}/v1beta/models/${MODEL}:generateContent`;
    const byQuery = await fetch(`${url}?key=${CLIENT_KEY}`, { method: "POST", body });
    assert.equal(byQuery.status, 200);
    await byQuery.body?.cancel();
    const wrongQuery = await fetch(`${url}?key=wrong-key-Zx82`, { method: "POST", body });
    assert.equal(wrongQuery.status, 401);
    await wrongQuery.body?.cancel();
    const list = await fetch(`${proxy.origin}/v1beta/models?key=${CLIENT_KEY}`);
    assert.equal(list.status, 200);
    await list.body?.cancel();
    assert.ok(proxy.logs.some((l) => l.includes("/v1beta/models 200")), proxy.logs.join("\n"));
    for (const line of proxy.logs) {
      for (const secret of [CLIENT_KEY, "wrong-key-Zx81", "wrong-key-Zx82", "?key"]) {
        assert.ok(!line.includes(secret), `${secret} in the log: ${line}`);
      }
    }
  }, { env: { LLM_PROXY_API_KEYS: CLIENT_KEY } });
});

Deno.test("genai hang-up: aborting generateContent cancels the upstream call", async () => {
  await withGemini(() => ({ kind: "hang" }), async (ai, { up }) => {
    const controller = new AbortController();
    const call = ai.models.generateContent({
      model: MODEL,
      contents: "x",
      config: { abortSignal: controller.signal },
    });
    call.catch(() => {});
    await eventually(() => up.chatRequests().length === 1, "the call reached the upstream");
    controller.abort();
    await assert.rejects(call);
    await up.waitForAbort(0, 5000);
  });
});

Deno.test("genai countTokens: the shared estimate, nothing upstream; more text is more tokens", async () => {
  await withGemini(() => completion("unused"), async (ai, { up, proxy }) => {
    const small = await ai.models.countTokens({ model: MODEL, contents: "Hello there" });
    const big = await ai.models.countTokens({ model: MODEL, contents: "Hello there ".repeat(200) });
    assert.ok(small.totalTokens! > 2 && small.totalTokens! < 20, String(small.totalTokens));
    assert.ok(big.totalTokens! > small.totalTokens! + 150, String(big.totalTokens));
    // The same number as the canonical counter gives the translated request.
    const { chat } = toChatRequest(
      { contents: [{ role: "user", parts: [{ text: "Hello there" }] }] },
      MODEL,
      new Logger("error"),
    );
    assert.equal(small.totalTokens, await countChatTokens(chat));
    // A whole generateContentRequest counts its tools too.
    const url = `${proxy.origin}/v1beta/models/${MODEL}:countTokens`;
    const withTools = await (await fetch(url, {
      method: "POST",
      body: JSON.stringify({
        generateContentRequest: {
          contents: [{ role: "user", parts: [{ text: "Hello there" }] }],
          tools: [{ functionDeclarations: [WRITE_FILE] }],
        },
      }),
    })).json();
    assert.ok(withTools.totalTokens > small.totalTokens! + 20, JSON.stringify(withTools));
    const bad = await fetch(url, { method: "POST", body: '{"contents":[]}' });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.status, "INVALID_ARGUMENT");
    assert.equal(up.chatRequests().length, 0, "nothing reached the upstream");
  });
});
