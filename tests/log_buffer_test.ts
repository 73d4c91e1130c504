// The request log's buffer: lines leave in order and in batches, through partial and failing
// writes; a full queue drops lines and says how many where the gap is; nothing is lost when the
// proxy is stopped with SIGTERM (text and JSON), and lines keep their order.
import assert from "node:assert/strict";
import { RUNTIME_FLAGS } from "../scripts/compile.ts";
import { BATCH_MS, type ByteWriter, LogBuffer } from "../src/operations/log_buffer.ts";
import { completion, FakeUpstream } from "./fake_upstream.ts";
import { chatBody } from "./proxy.ts";
import { spawnProxy } from "./subprocess.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const MAIN = [Deno.execPath(), "run", ...RUNTIME_FLAGS, "main.ts"];

/** A writer that takes at most `most` bytes a call, after a macrotask, and records each call. */
class SlowWriter implements ByteWriter {
  readonly bytes: number[] = [];
  calls = 0;
  syncCalls = 0;
  /** While set, writes wait for it. */
  gate: Promise<void> | undefined;
  failNext = false;

  constructor(private readonly most: number) {}

  async write(bytes: Uint8Array): Promise<number> {
    this.calls++;
    await new Promise((r) => setTimeout(r, 0));
    await this.gate;
    if (this.failNext) {
      this.failNext = false;
      throw new Error("broken pipe");
    }
    const n = Math.min(this.most, bytes.length);
    this.bytes.push(...bytes.subarray(0, n));
    return n;
  }

  writeSync(bytes: Uint8Array): number {
    this.syncCalls++;
    const n = Math.min(this.most, bytes.length);
    this.bytes.push(...bytes.subarray(0, n));
    return n;
  }

  lines(): string[] {
    const text = new TextDecoder().decode(new Uint8Array(this.bytes));
    assert.ok(text === "" || text.endsWith("\n"), "every line ends with a newline");
    return text.split("\n").slice(0, -1);
  }
}

const note = (n: number) => `DROPPED ${n}`;

Deno.test("log buffer: lines arrive complete and in order, in far fewer writes than lines", async () => {
  const writer = new SlowWriter(7);
  const buffer = new LogBuffer(writer, note);
  const sent: string[] = [];
  for (let i = 0; i < 500; i++) {
    sent.push(`line ${i} é`);
    buffer.write(sent.at(-1)!);
    // Some lines come while a write is under way.
    if (i % 100 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  await buffer.flush();
  assert.deepEqual(writer.lines(), sent);
  const bytes = new TextEncoder().encode(sent.join("\n") + "\n").length;
  // Each batch needs ceil(size / 7) partial writes; one write per line would need 500 batches.
  assert.ok(writer.calls < Math.ceil(bytes / 7) + 50, `${writer.calls} writes`);
  await buffer.flush();
  assert.equal(writer.lines().length, 500, "a second flush writes nothing again");
});

Deno.test("log buffer: a full queue drops lines and notes how many, where they were missed", async () => {
  const writer = new SlowWriter(1 << 20);
  const { promise: gate, resolve: open } = Promise.withResolvers<void>();
  writer.gate = gate;
  const buffer = new LogBuffer(writer, note, 100);
  buffer.write("first");
  await new Promise((r) => setTimeout(r, BATCH_MS + 10));
  // "first" is in a write that hangs; the queue takes about 100 characters more, then drops.
  const sent = Array.from({ length: 40 }, (_, i) => `queued-${String(i).padStart(2, "0")}`);
  for (const line of sent) buffer.write(line);
  open();
  writer.gate = undefined;
  await new Promise((r) => setTimeout(r, BATCH_MS + 10));
  buffer.write("after");
  await buffer.flush();
  const lines = writer.lines();
  const kept = lines.filter((l) => l.startsWith("queued-"));
  assert.ok(kept.length >= 5 && kept.length < 40, `${kept.length} kept`);
  assert.deepEqual(kept, sent.slice(0, kept.length), "the first lines are kept, in order");
  assert.deepEqual(lines, ["first", ...kept, `DROPPED ${40 - kept.length}`, "after"]);
});

Deno.test("log buffer: flush notes drops even when no line follows them", async () => {
  const writer = new SlowWriter(1 << 20);
  const buffer = new LogBuffer(writer, note, 10);
  buffer.write("0123456789");
  buffer.write("dropped");
  await buffer.flush();
  assert.deepEqual(writer.lines(), ["0123456789", "DROPPED 1"]);
});

Deno.test("log buffer: a failed write loses its batch only; later lines are written", async () => {
  const writer = new SlowWriter(1 << 20);
  const buffer = new LogBuffer(writer, note);
  writer.failNext = true;
  buffer.write("lost");
  await buffer.flush();
  buffer.write("kept");
  await buffer.flush();
  assert.deepEqual(writer.lines(), ["kept"]);
});

Deno.test("log buffer: flushSync writes what no write has taken yet (for exit)", async () => {
  const writer = new SlowWriter(3);
  const buffer = new LogBuffer(writer, note);
  buffer.write("one");
  buffer.write("two");
  buffer.flushSync();
  assert.deepEqual(writer.lines(), ["one", "two"]);
  assert.ok(writer.syncCalls >= 3, "partial synchronous writes are continued");
  await buffer.flush();
  assert.deepEqual(writer.lines(), ["one", "two"], "nothing is written twice");
});

for (const format of ["text", "json"] as const) {
  Deno.test(`SIGTERM: every request line is written, in order (${format} log)`, async () => {
    const up = await FakeUpstream.start(() => completion("logged"));
    const proxy = await spawnProxy(MAIN, {
      cwd: ROOT,
      env: {
        INTERNAI_API_BASE_URL: up.baseUrl,
        INTERNAI_API_KEY: "k",
        LLM_PROXY_LOG_FORMAT: format,
      },
    });
    const post = (id: string) =>
      fetch(`${proxy.origin}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-request-id": id },
        body: JSON.stringify(chatBody()),
      }).then(async (res) => {
        await res.body?.cancel();
        assert.equal(res.status, 200);
      });
    try {
      // Concurrent requests fill the queue while writes are under way…
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(Array.from({ length: 30 }, (_, i) => post(`burst-${batch}-${i}`)));
      }
      // …and sequential ones give the order the lines must keep; SIGTERM follows the last.
      for (let i = 0; i < 40; i++) await post(`seq-${i}`);
      proxy.kill("SIGTERM");
      assert.equal((await proxy.exited).code, 0, proxy.stderr.join("\n"));
      const requestLines = proxy.stderr.filter((l) =>
        format === "json" ? JSON.parse(l).msg === "request" : / INFO POST /.test(l)
      );
      const idOf = (line: string) =>
        format === "json" ? JSON.parse(line).request_id : /request_id=(\S+)/.exec(line)?.[1];
      const ids = requestLines.map(idOf);
      assert.equal(ids.length, 340, `${ids.length} request lines:\n${proxy.stderr.join("\n")}`);
      assert.equal(new Set(ids).size, 340, "each request once");
      const seq = ids.filter((id) => id.startsWith("seq-"));
      assert.deepEqual(seq, Array.from({ length: 40 }, (_, i) => `seq-${i}`));
      assert.ok(ids.slice(-40).every((id) => id.startsWith("seq-")), "bursts before the rest");
      const last = proxy.stderr.at(-1) ?? "";
      assert.match(last, /drained; exiting/, "the exit line is the last");
    } finally {
      await proxy.stop("SIGKILL");
      await up.close();
    }
  });
}
