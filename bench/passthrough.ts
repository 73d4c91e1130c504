/**
 * The reference the proxy is measured against: the least an HTTP proxy can cost on this runtime.
 * It forwards method, path, headers and body to the upstream with `fetch` and returns the
 * response untouched, doing nothing else.
 *
 * Usage: `deno run --allow-net bench/passthrough.ts PORT UPSTREAM_ORIGIN`
 *
 * @module
 */

const [port, upstream] = Deno.args;

Deno.serve({ hostname: "127.0.0.1", port: Number(port), onListen() {} }, async (req) => {
  const url = new URL(req.url);
  const res = await fetch(upstream + url.pathname + url.search, {
    method: req.method,
    headers: req.headers,
    body: req.body,
  });
  return new Response(res.body, res);
});
