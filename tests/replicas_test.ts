// Two proxy processes (`main.ts`, as deployed) on one real Redis: a 429 one replica sees keeps the
// other off that key, Redis killed mid-run costs no request, and sharing resumes once it is back.
import assert from "node:assert/strict";
import { RUNTIME_FLAGS } from "../scripts/compile.ts";
import { completion, FakeUpstream, rateLimited, type RecordedRequest } from "./fake_upstream.ts";
import { chatBody, eventually } from "./proxy.ts";
import { RedisServer, redisTest } from "./redis_server.ts";
import { type ProxyProcess, spawnProxy } from "./subprocess.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = [Deno.execPath(), "run", ...RUNTIME_FLAGS, "main.ts"];
const KEYS = ["sk-replica-key-one", "sk-replica-key-two"];

/** Two replicas of the proxy on `redisUrl`, in front of `up`, with {@link KEYS}. */
async function replicas(up: FakeUpstream, redisUrl: string): Promise<ProxyProcess[]> {
  const env = {
    INTERNAI_API_BASE_URL: up.baseUrl,
    INTERNAI_API_KEY_1: KEYS[0],
    INTERNAI_API_KEY_2: KEYS[1],
    LLM_PROXY_REDIS_URL: redisUrl,
  };
  const started = await Promise.allSettled([
    spawnProxy(MAIN, { cwd: ROOT, env }),
    spawnProxy(MAIN, { cwd: ROOT, env }),
  ]);
  const procs = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await Promise.all(procs.map((p) => p.stop("SIGKILL")));
    throw (failed as PromiseRejectedResult).reason;
  }
  return procs;
}

async function verbose(proxy: ProxyProcess): Promise<Record<string, unknown>> {
  return await (await fetch(`${proxy.origin}/health?verbose=1`)).json();
}

async function bothShared(procs: ProxyProcess[], what: string): Promise<void> {
  await eventually(
    async () => (await Promise.all(procs.map(verbose))).every((h) => h.state === "shared"),
    what,
    15_000,
  );
}

async function chat(proxy: ProxyProcess): Promise<number> {
  const res = await fetch(`${proxy.origin}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(chatBody()),
  });
  await res.body?.cancel();
  return res.status;
}

/** Answers 429 (`retry-after: 30`) to the first call made with `key`, then completions. */
function firstCallWithKeyLimited(key: string) {
  let limited = false;
  return (req: RecordedRequest) => {
    if (req.key === key && !limited) {
      limited = true;
      return rateLimited(30);
    }
    return completion("ok");
  };
}

/** A 429 on A's first call; then B's upstream sees no call with that key. */
async function assertCoolDownShared(up: FakeUpstream, [a, b]: ProxyProcess[]): Promise<void> {
  const [first] = KEYS;
  up.setResponder(firstCallWithKeyLimited(first));
  const before = up.chatRequests().length;
  // A's cursor may stand on either key: call until its 429 came (at most a round of keys).
  const seenByA = () => up.chatRequests().slice(before);
  for (let i = 0; i < KEYS.length && !seenByA().some((r) => r.key === first); i++) {
    assert.equal(await chat(a), 200);
  }
  assert.ok(seenByA().some((r) => r.key === first), "A's upstream call with the first key");
  const mark = up.chatRequests().length;
  for (let i = 0; i < 10; i++) assert.equal(await chat(b), 200);
  const seenByB = up.chatRequests().slice(mark);
  assert.equal(seenByB.length, 10);
  assert.deepEqual(
    seenByB.filter((r) => r.key === first).length,
    0,
    "B called the upstream with the key A saw rate-limited",
  );
  const slot = ((await verbose(b)).backends as Record<string, { slots: { state: string }[] }>)
    .internlm.slots[0];
  assert.equal(slot.state, "cooling");
}

redisTest("replicas: a 429 seen by A keeps B off that key until retry-after", async () => {
  const redis = await RedisServer.start();
  const up = await FakeUpstream.start(() => completion("ok"));
  const procs = await replicas(up, redis.url);
  try {
    await bothShared(procs, "both replicas shared");
    await assertCoolDownShared(up, procs);
  } finally {
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    await up.close();
    await redis.stop();
  }
}, { own: true });

redisTest(
  "replicas: Redis killed mid-run, every request answered; back, shared again",
  async () => {
    const redis = await RedisServer.start();
    const up = await FakeUpstream.start(() => completion("ok"));
    const procs = await replicas(up, redis.url);
    try {
      await bothShared(procs, "both replicas shared");
      const statuses: number[] = [];
      // 4 clients, alternating between the replicas; Redis dies after the first quarter.
      const total = 200;
      let sent = 0;
      let killed: Promise<void> | undefined;
      await Promise.all(Array.from({ length: 4 }, async () => {
        while (sent < total) {
          const n = sent++;
          if (n === total / 4) killed = redis.kill();
          statuses.push(await chat(procs[n % 2]));
        }
      }));
      await killed;
      assert.equal(statuses.length, total);
      assert.deepEqual(statuses.filter((s) => s !== 200), [], "every request answered 200");
      for (const p of procs) {
        assert.equal((await verbose(p)).state, "degraded");
        const metrics = await (await fetch(`${p.origin}/metrics`)).text();
        assert.match(metrics, /^llm_proxy_state_degraded 1$/m);
        // Logged once for the outage, not once per request.
        assert.equal(
          p.stderr.filter((l) => l.includes("unavailable")).length,
          1,
          p.stderr.join("\n"),
        );
      }
      await redis.restart();
      const restarted = performance.now();
      await bothShared(procs, "both replicas shared again after the restart");
      const back = Math.round(performance.now() - restarted);
      await assertCoolDownShared(up, procs);
      console.log(
        `Redis killed after ${total / 4} of ${total} requests: ${total} answered 200; ` +
          `restarted: both replicas shared again ${back} ms later, and a 429 shared again`,
      );
    } finally {
      await Promise.all(procs.map((p) => p.stop("SIGTERM")));
      await up.close();
      await redis.stop();
    }
  },
  { own: true },
);
