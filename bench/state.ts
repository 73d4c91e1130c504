/**
 * `deno task bench:state`: what sharing state through Redis costs a request. In the same run and
 * on the same fake upstream, the proxy with its state in memory and the same proxy with
 * `LLM_PROXY_REDIS_URL` set (a `redis-server` of the bench's own on loopback), each also with an
 * `rpm` budget far above the load (so that every request takes from it), take turns, rounds
 * rotating the order so that a noisy machine hits both alike: latency at one connection, and
 * throughput and CPU per request at 64. Targets: at most 0.3 ms more p50 at c=1, at least 0.9× the
 * throughput at c=64. Writes `bench/STATE_RESULTS.md` (`--smoke`: once, briefly, printed).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { chooseGenerator } from "./load.ts";
import { loadAverage, machineInfo, median } from "./report.ts";
import { chatRequest } from "./requests.ts";
import { cpuSeconds, freePort, type Server, startServer } from "./servers.ts";
import { ROOT, startCommand } from "./targets.ts";

interface Row {
  name: string;
  server: Server;
  c1P50: number[];
  c1P99: number[];
  c64Rps: number[];
  c64P50: number[];
  cpuUs: number[];
  errors: number;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { smoke: { type: "boolean", default: false }, rounds: { type: "string" } },
  });
  const rounds = Number(values.rounds ?? (values.smoke ? 1 : 5));
  const seconds = values.smoke ? 1 : 5;
  const log = (line: string) => console.error(`bench:state: ${line}`);
  const generator = await chooseGenerator(undefined, log);
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-bench-state-" });
  const servers: Server[] = [];
  const redis = startRedis(dir);
  try {
    const body = `${dir}/chat.json`;
    await Deno.writeTextFile(body, JSON.stringify(chatRequest(false)));
    const upstream = await startServer({
      name: "upstream",
      args: ["run", "--allow-net", `${ROOT}bench/fake_upstream.ts`, "--port", "{port}"],
    });
    servers.push(upstream);
    const proxy = async (name: string, env: Record<string, string>) => {
      const server = await startServer({
        name,
        args: [...startCommand(ROOT), "--host", "127.0.0.1", "--port", "{port}"],
        env: {
          INTERNAI_API_BASE_URL: `${upstream.origin}/api/v1`,
          INTERNAI_API_KEY: "bench-dummy-key",
          ...env,
        },
        cwd: ROOT,
        stderrFile: `${dir}/${name.replace(/\W+/g, "-")}.log`,
      });
      servers.push(server);
      const row: Row = {
        name,
        server,
        c1P50: [],
        c1P99: [],
        c64Rps: [],
        c64P50: [],
        cpuUs: [],
        errors: 0,
      };
      return row;
    };
    // A budget far above the load: the pacer never waits, but every request takes its key from
    // the budget, in Redis one round trip each. The pacer's clock counts whole milliseconds, so
    // a key takes at most one request a millisecond: 16 keys leave room for the load.
    const paced = `${dir}/paced.yaml`;
    await Deno.writeTextFile(
      paced,
      "backends:\n  internlm:\n    type: internlm\n    rpm: 1000000\n",
    );
    const url = (await redis).url;
    const keys = Object.fromEntries(
      Array.from({ length: 16 }, (_, i) => [`INTERNAI_API_KEY_${i + 1}`, `bench-dummy-key-${i}`]),
    );
    const rows = [
      await proxy("state in memory", {}),
      await proxy("state in Redis", { LLM_PROXY_REDIS_URL: url }),
      await proxy("state in memory, rpm paced", { ...keys, LLM_PROXY_CONFIG: paced }),
      await proxy("state in Redis, rpm paced", {
        ...keys,
        LLM_PROXY_REDIS_URL: url,
        LLM_PROXY_CONFIG: paced,
      }),
    ];
    const shared = [rows[1], rows[3]];
    for (const row of shared) await waitShared(row.server.origin);
    const machine = await machineInfo(generator.name);
    const run = (row: Row, connections: number) =>
      generator.run({
        url: `${row.server.origin}/v1/chat/completions`,
        bodyFile: body,
        connections,
        seconds,
      });
    if (!values.smoke) { for (const row of rows) await run(row, 64); }
    for (let r = 0; r < rounds; r++) {
      const order = rows.map((_, i) => rows[(i + r) % rows.length]);
      for (const row of order) {
        const c1 = await run(row, 1);
        row.c1P50.push(c1.p50Ms);
        row.c1P99.push(c1.p99Ms);
        row.errors += c1.errors;
      }
      for (const row of order) {
        const before = cpuSeconds(row.server.pid);
        const c64 = await run(row, 64);
        row.cpuUs.push(((cpuSeconds(row.server.pid) - before) * 1e6) / c64.requests);
        row.c64Rps.push(c64.rps);
        row.c64P50.push(c64.p50Ms);
        row.errors += c64.errors;
      }
      log(`round ${r + 1}/${rounds} done; load average ${loadAverage(1)}`);
    }
    // Still shared at the end: a degraded run would measure the in-memory path twice.
    for (const row of shared) await waitShared(row.server.origin);
    const markdown = render(rows, machine, rounds, seconds);
    if (values.smoke) console.log(markdown);
    else {
      const out = new URL("STATE_RESULTS.md", import.meta.url).pathname;
      await Deno.writeTextFile(out, markdown);
      // Committed beside the code: formatted as `deno fmt --check` wants it.
      await new Deno.Command(Deno.execPath(), { args: ["fmt", "-q", out] }).output();
      log("wrote bench/STATE_RESULTS.md");
    }
    return rows.some((r) => r.errors > 0) ? 1 : 0;
  } finally {
    for (const s of servers.reverse()) await s.stop();
    await (await redis).stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A `redis-server` without persistence on a free loopback port. */
async function startRedis(dir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
      .concat(["--dir", dir]),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const until = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (Date.now() > until) throw new Error("redis-server did not start");
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function waitShared(origin: string): Promise<void> {
  const until = Date.now() + 10_000;
  while ((await (await fetch(`${origin}/health?verbose=1`)).json()).state !== "shared") {
    if (Date.now() > until) throw new Error(`${origin} never shared its state through Redis`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function render(
  rows: Row[],
  machine: Awaited<ReturnType<typeof machineInfo>>,
  rounds: number,
  seconds: number,
): string {
  const added = (memory: Row, redis: Row) =>
    `${f(median(redis.c1P50) - median(memory.c1P50), 3)} ms added p50 at c=1 (target ≤ 0.3), ` +
    `${f(median(redis.c64Rps) / median(memory.c64Rps), 3)}× the throughput at c=64 (target ≥ 0.9)`;
  const f = (n: number, digits = 2) => n.toFixed(digits);
  const lines = [
    "# Shared state: Redis against memory",
    "",
    `${machine.date}, commit ${machine.commit}, Deno ${machine.deno}, ${machine.generator}, ` +
    `${machine.cpus} × ${machine.cpuModel}; load average ${machine.loadBefore} before, ` +
    `${loadAverage(1)} after. ${rounds} round(s) of ${seconds} s per run, order rotating; ` +
    "medians over rounds. Same fake upstream, same ~2 KB chat request, request log on.",
    "",
    "| target | c=1 p50 ms | c=1 p99 ms | c=64 req/s | c=64 p50 ms | CPU µs/req | errors |",
    "| --- | --: | --: | --: | --: | --: | --: |",
    ...rows.map((r) =>
      `| llm-proxy, ${r.name} | ${f(median(r.c1P50))} | ${f(median(r.c1P99))} | ${
        f(median(r.c64Rps), 0)
      } | ` +
      `${f(median(r.c64P50))} | ${f(median(r.cpuUs), 0)} | ${r.errors} |`
    ),
    "",
    `Without pacing (no Redis call on a request's path): ${added(rows[0], rows[1])}.`,
    "",
    `With rpm pacing (one Redis round trip per request): ${added(rows[2], rows[3])}.`,
    "",
  ];
  return lines.join("\n");
}

if (import.meta.main) Deno.exit(await main());
