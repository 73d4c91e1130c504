/**
 * The second reference: the least a proxy that routes by model can cost on this runtime. It does
 * what any such proxy must and nothing more: reads the request body, parses it, strips the
 * backend prefix from the model, serialises it again, calls the upstream with a key header,
 * parses the answer, puts the prefix back on its model, serialises it and answers. A streamed
 * answer is relayed as it comes (no parsing of the events). No validation, limits, ids, metrics,
 * log, retries or cancellation.
 *
 * Usage: `deno run --allow-net bench/minimal_proxy.ts PORT UPSTREAM_BASE_URL`
 *
 * @module
 */

const [port, upstream] = Deno.args;
const completions = `${upstream}/chat/completions`;
const UPSTREAM_HEADERS = {
  "authorization": "Bearer bench-dummy-key",
  "content-type": "application/json",
};
const JSON_HEADERS = { "content-type": "application/json" };
// An orderly exit on SIGTERM, so that `--cpu-prof` writes its profile (bench/profile.ts).
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));

Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {} }, async (req) => {
  const chat = JSON.parse(await req.text());
  const cut = chat.model.indexOf("/");
  const backend = chat.model.slice(0, cut);
  chat.model = chat.model.slice(cut + 1);
  const res = await fetch(completions, {
    method: "POST",
    headers: UPSTREAM_HEADERS,
    body: JSON.stringify(chat),
  });
  if (chat.stream === true) return new Response(res.body, res);
  const answer = await res.json();
  answer.model = `${backend}/${answer.model}`;
  return new Response(JSON.stringify(answer), { status: res.status, headers: JSON_HEADERS });
});
