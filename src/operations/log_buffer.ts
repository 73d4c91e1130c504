/**
 * The log's way out: lines are queued and written in batches by asynchronous writes, one at a
 * time and in order, so a request never waits on the log's destination (a pipe to a slow
 * collector, a full disk) and a busy proxy makes one write for many lines instead of one each
 * (a first line waits {@link BATCH_MS} for company).
 * The queue is bounded; {@link LogBuffer.flush} (on drain, before exit) waits for everything
 * queued, and on `Deno.exit` whatever has not reached a write yet is written synchronously.
 *
 * @module
 */

/** Where a buffer's bytes go: `Deno.stderr`, or a test's writer. */
export interface ByteWriter {
  /** Writes some of `bytes` (at least one), resolving with how many. */
  write(bytes: Uint8Array): Promise<number>;
  writeSync(bytes: Uint8Array): number;
}

/** A line sink that can be waited for. */
export interface LineSink {
  write(line: string): void;
  /** Resolves once every line written so far has reached the destination. */
  flush?(): Promise<void>;
}

/**
 * Most UTF-16 units queued (about 1 MiB of ASCII, some 5 000 request lines): past it, lines are
 * dropped and counted until the destination catches up, and a note says how many.
 */
export const MAX_QUEUED_CHARS = 1 << 20;

/**
 * How long a first line waits for others before the write: under load a write then carries
 * dozens of lines (each write is an operation on another thread, costing several µs however
 * little it carries); an idle proxy's line is out this much later.
 */
export const BATCH_MS = 10;

const encoder = new TextEncoder();

/**
 * @example
 * ```ts
 * const buffer = new LogBuffer(Deno.stderr, (n) => `${n} log lines dropped`);
 * buffer.write("a line");
 * await buffer.flush();
 * ```
 */
export class LogBuffer implements LineSink {
  #lines: string[] = [];
  #chars = 0;
  #dropped = 0;
  /** The loop writing queued lines out, while there are any. */
  #writing: Promise<void> | undefined;

  /** `droppedNote(n)` is the line that stands, in the log, for `n` lines dropped there. */
  constructor(
    private readonly writer: ByteWriter,
    private readonly droppedNote: (dropped: number) => string,
    private readonly maxChars = MAX_QUEUED_CHARS,
  ) {}

  /** Queues `line` (without its newline); it is written within about {@link BATCH_MS}. */
  write(line: string): void {
    if (this.#chars + line.length > this.maxChars) {
      this.#dropped++;
      return;
    }
    // The note goes where the gap is: before the first line let in again.
    if (this.#dropped > 0) this.#queueNote();
    this.#lines.push(line);
    this.#chars += line.length + 1;
    this.#writing ??= this.#writeAll();
  }

  /** Resolves once everything queued so far is written (or the destination failed). */
  flush(): Promise<void> {
    if (this.#dropped > 0) {
      this.#queueNote();
      this.#writing ??= this.#writeAll();
    }
    return this.#writing ?? Promise.resolve();
  }

  /**
   * Writes what has not reached a write yet, synchronously: for `unload`, when no promise will
   * be waited for. A write already under way is not waited for.
   */
  flushSync(): void {
    if (this.#dropped > 0) this.#queueNote();
    const bytes = this.#take();
    if (bytes === undefined) return;
    try {
      for (let at = 0; at < bytes.length;) at += this.writer.writeSync(bytes.subarray(at));
    } catch {
      // The destination is gone: there is nowhere left to say so.
    }
  }

  #queueNote(): void {
    const note = this.droppedNote(this.#dropped);
    this.#dropped = 0;
    this.#lines.push(note);
    this.#chars += note.length + 1;
  }

  /** The queued lines as bytes, the queue emptied; undefined when it was empty. */
  #take(): Uint8Array | undefined {
    if (this.#lines.length === 0) return undefined;
    this.#lines.push("");
    const text = this.#lines.join("\n");
    this.#lines = [];
    this.#chars = 0;
    return encoder.encode(text);
  }

  async #writeAll(): Promise<void> {
    try {
      await new Promise((resolve) => setTimeout(resolve, BATCH_MS));
      for (let bytes = this.#take(); bytes !== undefined; bytes = this.#take()) {
        try {
          for (let at = 0; at < bytes.length;) at += await this.writer.write(bytes.subarray(at));
        } catch {
          // The destination is gone (a closed pipe): these lines are lost, the next are tried.
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }
}

/** The one buffer per format in front of stderr (normally one: a process has one log format). */
const stderrBuffers = new Map<string, LogBuffer>();

/**
 * The buffer in front of stderr for lines of one `format`, made on first use; its queue is
 * written synchronously when the process exits by `Deno.exit`.
 *
 * @example
 * ```ts
 * const sink = stderrBuffer("text", (n) => `WARN ${n} log lines dropped`);
 * ```
 */
export function stderrBuffer(format: string, droppedNote: (dropped: number) => string): LogBuffer {
  let buffer = stderrBuffers.get(format);
  if (buffer === undefined) {
    const made = buffer = new LogBuffer(Deno.stderr, droppedNote);
    stderrBuffers.set(format, made);
    globalThis.addEventListener("unload", () => made.flushSync());
  }
  return buffer;
}
