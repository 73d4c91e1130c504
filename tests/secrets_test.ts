// Keys never leak: not into logs (at debug level), error messages, /health, /v1/models or crash
// output, even when the upstream echoes them back; and no request can send them to another host.
import assert from "node:assert/strict";
import { FakeUpstream, openaiError, type Responder, textError } from "./fake_upstream.ts";
import { chatBody, postChat, startProxy } from "./proxy.ts";
import { assertSchema } from "./schema.ts";

const KEYS = ["sk-secret-alpha-6d1f0e93ab", "sk-secret-bravo-2c48b7a1f0"];

/** Upstream answers that quote the key they were sent, as OpenAI's "Incorrect API key" does. */
const ECHOES: Array<[string, Responder]> = [
  ["401 echo", (r) => openaiError(401, `Incorrect API key provided: ${r.key}`)],
  ["400 echo", (r) => openaiError(400, `bad request for key ${r.key}`)],
  ["500 echo", (r) => textError(500, `<html><b>key ${r.key} crashed us</b></html>`)],
  ["200 non-JSON echo", (r) => textError(200, `oops ${r.key}`)],
  ["200 error echo", (r) => ({ kind: "json", body: { msg: `quota of ${r.key} exhausted` } })],
];

for (const [name, responder] of ECHOES) {
  Deno.test(`secrets: an upstream ${name} of the key reaches neither client nor log`, async () => {
    const up = await FakeUpstream.start(responder);
    const proxy = await startProxy({
      upstream: up.baseUrl,
      keys: KEYS,
      configText: "backends:\n  internlm:\n    type: internlm\n    retry_backoff: 0.001\n",
    });
    try {
      for (const stream of [false, true]) {
        const res = await postChat(proxy, chatBody({ stream }));
        const text = await res.text();
        assert.ok(res.status >= 400, `${res.status} ${text}`);
        assertSchema("ErrorResponse", JSON.parse(text));
        for (const key of KEYS) assert.ok(!text.includes(key), `answer leaks a key: ${text}`);
        // The slot label stands in for the key, so the message still says which one it was.
        if (!name.startsWith("401")) assert.match(text, /\[key \d\/2\]/);
      }
      assert.ok(up.chatRequests().length >= 2);
      for (const key of KEYS) {
        const leaked = proxy.logs.find((l) => l.includes(key));
        assert.equal(leaked, undefined, `log line leaks a key: ${leaked}`);
      }
      assert.ok(proxy.logs.some((l) => l.includes("[key ")), "redacted echo is logged");
    } finally {
      await proxy.close();
      await up.close();
    }
  });
}
