/**
 * `llm-proxy healthcheck`: asks a running proxy for `/health` (or, with `--ready`, `/health/ready`),
 * so container health checks and Kubernetes exec probes work in an image that has no shell and no
 * curl.
 *
 * @module
 */

import type { ListenAddress } from "../config/config.ts";

/** The outcome of one probe; `detail` says why it failed. */
export interface ProbeResult {
  ok: boolean;
  url: string;
  detail: string;
}

/**
 * The URL that reaches a server listening on `address` from the same machine: a wildcard listen
 * address (`0.0.0.0`, `::`) is reached through the loopback address of its family. `ready` asks
 * for the readiness answer instead of the liveness one.
 *
 * @example
 * ```ts
 * healthUrl({ host: "0.0.0.0", port: 8000 }); // "http://127.0.0.1:8000/health"
 * ```
 */
export function healthUrl(address: ListenAddress, ready = false): string {
  let host = address.host;
  if (host === "0.0.0.0" || host === "") host = "127.0.0.1";
  else if (host === "::" || host === "[::]") host = "::1";
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  return `http://${host}:${address.port}/health${ready ? "/ready" : ""}`;
}

/**
 * GETs `/health` (`/health/ready` when `ready`) once; ok when it answers 200 within `timeoutMs`.
 *
 * @example
 * ```ts
 * const { ok } = await probeHealth({ host: "0.0.0.0", port: 8000 }, 3_000);
 * ```
 */
export async function probeHealth(
  address: ListenAddress,
  timeoutMs: number,
  ready = false,
): Promise<ProbeResult> {
  const url = healthUrl(address, ready);
  if (address.port === 0) return { ok: false, url, detail: "port 0 names no server to probe" };
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return { ok: res.status === 200, url, detail: `HTTP ${res.status}` };
  } catch (err) {
    const timedOut = err instanceof DOMException && err.name === "TimeoutError";
    const why = timedOut
      ? `no answer within ${timeoutMs} ms`
      : err instanceof Error
      ? err.message
      : String(err);
    return { ok: false, url, detail: why };
  }
}
