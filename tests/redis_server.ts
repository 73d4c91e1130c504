/**
 * Real Redis for the tests. `.ci/run` starts one `redis-server` on a loopback port and names it in
 * `LLM_PROXY_TEST_REDIS_URL`; tests that only use Redis share it (each under its own key prefix).
 * Tests that stop, pause or restart Redis start their own `redis-server`, as does every test when
 * the variable is not set but the binary is installed. Without either, the tests are registered as
 * ignored, with the reason in their name.
 *
 * @module
 */

/** The Redis that `.ci/run` started, if any. */
export const SHARED_REDIS_URL = Deno.env.get("LLM_PROXY_TEST_REDIS_URL") || undefined;

function onPath(binary: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir === "") continue;
    try {
      if (Deno.statSync(`${dir}/${binary}`).isFile) return `${dir}/${binary}`;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** `redis-server`'s path, when installed. */
export const REDIS_SERVER = onPath("redis-server");

const NOT_INSTALLED = "redis-server is not installed (apt-get install redis-server; .ci/run does)";

/**
 * Registers a test that needs Redis. `own` tests need a server of their own (they stop or pause
 * it), so the shared one does not do for them.
 */
export function redisTest(
  name: string,
  fn: () => Promise<void>,
  options: { own?: boolean } = {},
): void {
  const reason = REDIS_SERVER || (!options.own && SHARED_REDIS_URL) ? undefined : NOT_INSTALLED;
  if (reason) {
    Deno.test({ name: `${name} [ignored: ${reason}]`, ignore: true, fn });
    return;
  }
  Deno.test(name, fn);
}

/** A `redis-server` process of the test's own on a loopback port. */
export class RedisServer {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  #child: Deno.ChildProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.#dir = dir;
  }

  /** Starts `redis-server` (no persistence) and resolves once it answers PING. */
  static async start(): Promise<RedisServer> {
    if (!REDIS_SERVER) throw new Error(NOT_INSTALLED);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    listener.close();
    const server = new RedisServer(port, await Deno.makeTempDir({ prefix: "llm-proxy-redis-" }));
    await server.restart();
    return server;
  }

  /** Starts the server again on the same port (after {@link RedisServer.kill}). */
  async restart(): Promise<void> {
    this.#child = new Deno.Command(REDIS_SERVER!, {
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.#dir,
        "--loglevel",
        "warning",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const until = Date.now() + 10_000;
    while (!await ping(this.port)) {
      if (Date.now() > until) throw new Error(`redis-server on port ${this.port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** SIGKILL: Redis is gone at once, as in a crash. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child) return;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
  }

  /** SIGSTOP: connections stay open but nothing answers (a slow Redis). */
  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  /** SIGCONT after {@link RedisServer.pause}. */
  resume(): void {
    this.#child?.kill("SIGCONT");
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/** True when something on `port` answers `PING` with `+PONG`. */
export async function ping(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(16);
    const n = await conn.read(buf);
    return n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("+PONG");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}

/**
 * Runs `fn` with a Redis URL and a key prefix of its own: the shared server's when there is one,
 * else a server started for it.
 */
export async function withRedis(fn: (url: string, prefix: string) => Promise<void>): Promise<void> {
  const prefix = `test-${crypto.randomUUID().slice(0, 8)}`;
  if (SHARED_REDIS_URL) return await fn(SHARED_REDIS_URL, prefix);
  const server = await RedisServer.start();
  try {
    await fn(server.url, prefix);
  } finally {
    await server.stop();
  }
}
