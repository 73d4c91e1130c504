/**
 * A pool of upstream API keys, handed out round-robin. Keys that the upstream rate-limits cool
 * down (for every model, or for one model when the upstream said the limit was that model's);
 * keys it rejects are benched for longer. Keys are only ever named by slot (`key 2/3`), so
 * nothing here can leak one into a log line.
 *
 * All of a key's state changes through {@link KeyPool.coolDown}, {@link KeyPool.bench} and
 * {@link KeyPool.apply}, and every verdict the pool reaches itself is told to
 * {@link KeyPool.onVerdict}: that is where a shared store (`src/state/`) sits beside it. Pacing
 * (`key_pacing.ts`) keeps its own per-slot budget and reaches the pool only through the
 * `ready` filter of {@link KeyPool.acquire}.
 *
 * @module
 */

/** Keys shorter than this are not masked by {@link KeyPool.redact}. */
export const MIN_MASKED_KEY_LENGTH = 8;

/** Why a key is not usable right now. */
export type KeyState = "usable" | "cooling" | "benched";

/** A key lent out for one upstream attempt; one per slot, made once and handed out again. */
export interface KeyLease {
  /** 0-based position in the pool. */
  readonly index: number;
  /** The secret itself: goes into the Authorization header and nowhere else. */
  readonly key: string;
  /** `key 2/3`: the only way logs refer to a key. */
  readonly label: string;
}

/** A verdict on a key: unusable until `until` (epoch ms), for `reason`. */
export interface KeyVerdict {
  state: "cooling" | "benched";
  until: number;
  reason: string;
  /** Only for this model (a per-model rate limit); absent: for every model. */
  model?: string;
}

/** What {@link KeyPool.acquire} is asked for besides the keys already tried. */
export interface KeyWant {
  /** The upstream model: keys cooling for it alone are skipped. */
  model?: string;
  /** A further test of each usable slot (pacing: is its budget free?). */
  ready?: (i: number) => boolean;
}

/** A cool-down of one key for one model. */
interface ModelCooling {
  until: number;
  reason: string;
}

/** Counts for `/health`. */
export interface KeyCounts {
  total: number;
  usable: number;
  cooling: number;
  benched: number;
}

/** One key's state for `/health?verbose=1`: by slot, never by value. */
export interface KeySlotState {
  /** 1-based, as in `key 2/3`. */
  slot: number;
  state: KeyState;
  /** When a cooling or benched key becomes usable again (epoch ms). */
  until?: number;
  /** Why it is cooling or benched, e.g. `rate-limited (429)`. */
  reason?: string;
  /** Models this (otherwise usable) key is cooling for, with until when (epoch ms) and why. */
  models?: Array<{ model: string; until: number; reason: string }>;
}

interface Slot {
  key: string;
  lease: KeyLease;
  state: KeyState;
  until: number;
  reason: string;
  /** Per-model cool-downs by model, made on the first one. */
  models?: Map<string, ModelCooling>;
}

/**
 * @example
 * ```ts
 * const pool = new KeyPool(["k1", "k2"]);
 * const lease = pool.acquire(new Set());
 * if (lease) pool.coolDown(lease.index, Date.now() + 30_000);
 * ```
 */
export class KeyPool {
  readonly #slots: Slot[];
  #cursor = 0;
  /**
   * Told of each verdict this pool reaches itself (not of those {@link KeyPool.apply}'d from
   * elsewhere) when it changes the key's state: how replicas share what they learn.
   */
  onVerdict?: (i: number, verdict: KeyVerdict) => void;

  constructor(keys: readonly string[], private readonly now: () => number = Date.now) {
    this.#slots = keys.map((key, index) => ({
      key,
      lease: Object.freeze({ index, key, label: `key ${index + 1}/${keys.length}` }),
      state: "usable",
      until: 0,
      reason: "",
    }));
  }

  get size(): number {
    return this.#slots.length;
  }

  /** The state of slot `i` now; an expired cool-down or bench counts as usable again. */
  state(i: number): KeyState {
    const slot = this.#slots[i];
    if (slot.state !== "usable" && slot.until <= this.now()) {
      slot.state = "usable";
      slot.until = 0;
      slot.reason = "";
    }
    return slot.state;
  }

  /** When slot `i` becomes usable again (epoch ms), or 0 if it is usable. */
  until(i: number): number {
    return this.state(i) === "usable" ? 0 : this.#slots[i].until;
  }

  /**
   * The next usable key after the last one handed out, skipping `tried`. The cursor moves on every
   * call, so consecutive requests spread over all keys.
   */
  acquire(tried: ReadonlySet<number>, want?: KeyWant): KeyLease | undefined {
    const n = this.#slots.length;
    for (let step = 0; step < n; step++) {
      const i = (this.#cursor + step) % n;
      if (!this.usable(i, tried, want?.model)) continue;
      if (want?.ready && !want.ready(i)) continue;
      this.#cursor = (i + 1) % n;
      return this.#slots[i].lease;
    }
    return undefined;
  }

  /** True when slot `i` is not in `tried`, is usable, and is not cooling for `model`. */
  usable(i: number, tried: ReadonlySet<number>, model?: string): boolean {
    if (tried.has(i) || this.state(i) !== "usable") return false;
    const cooling = model === undefined ? undefined : this.#slots[i].models?.get(model);
    if (cooling === undefined) return true;
    if (cooling.until > this.now()) return false;
    this.#slots[i].models!.delete(model!);
    return true;
  }

  /**
   * `text` with every key value replaced by its slot label. Upstreams may echo the key they were
   * sent ("Incorrect API key provided: sk-…"); whatever is read from them passes through here
   * before it can reach a log line or a client.
   */
  redact(text: string): string {
    for (const { key, lease } of this.#slots) {
      // A key of a few characters would also match ordinary text (and JSON syntax); such keys
      // are test stand-ins, not secrets worth mangling answers for.
      if (key.length < MIN_MASKED_KEY_LENGTH) continue;
      if (text.includes(key)) text = text.replaceAll(key, `[${lease.label}]`);
    }
    return text;
  }

  /**
   * Rate-limited: unusable until `until` (epoch ms), for `model` only when given; `reason` is
   * shown by verbose health.
   */
  coolDown(i: number, until: number, reason = "rate-limited", model?: string): void {
    this.#judge(
      i,
      model === undefined ? { state: "cooling", until, reason } : {
        state: "cooling",
        until,
        reason,
        model,
      },
    );
  }

  /** Rejected (401/403): unusable until `until` (epoch ms); `reason` is shown by verbose health. */
  bench(i: number, until: number, reason = "rejected"): void {
    this.#judge(i, { state: "benched", until, reason });
  }

  /**
   * A verdict reached elsewhere (another replica) on slot `i`; like {@link KeyPool.coolDown} or
   * {@link KeyPool.bench}, but not told to {@link KeyPool.onVerdict}. False if it changed nothing.
   */
  apply(i: number, verdict: KeyVerdict): boolean {
    const slot = this.#slots[i];
    if (verdict.until <= this.now()) return false;
    if (verdict.model !== undefined) {
      const models = slot.models ??= new Map();
      const current = models.get(verdict.model);
      if (current && current.until >= verdict.until) return false;
      models.set(verdict.model, { until: verdict.until, reason: verdict.reason });
      return true;
    }
    // Concurrent requests may judge the same key: a later verdict never shortens a longer one.
    if (
      verdict.until <= this.now() || (this.state(i) !== "usable" && slot.until >= verdict.until)
    ) {
      return false;
    }
    slot.state = verdict.state;
    slot.until = verdict.until;
    slot.reason = verdict.reason;
    return true;
  }

  #judge(i: number, verdict: KeyVerdict): void {
    if (this.apply(i, verdict)) this.onVerdict?.(i, verdict);
  }

  /**
   * The soonest moment (epoch ms) any cooling key recovers (for `model`, its own cool-downs
   * counted too), or undefined if none is cooling.
   */
  soonestCoolingRecovery(model?: string): number | undefined {
    let soonest: number | undefined;
    const now = this.now();
    for (let i = 0; i < this.#slots.length; i++) {
      const state = this.state(i);
      const own = model === undefined ? undefined : this.#slots[i].models?.get(model)?.until;
      const until = state === "cooling"
        ? this.#slots[i].until
        : state === "usable" && own !== undefined && own > now
        ? own
        : undefined;
      if (until !== undefined && (soonest === undefined || until < soonest)) soonest = until;
    }
    return soonest;
  }

  /** Every slot's state now, in slot order. */
  slotStates(): KeySlotState[] {
    const now = this.now();
    return this.#slots.map((slot, i) => {
      if (this.state(i) !== "usable") {
        return { slot: i + 1, state: slot.state, until: slot.until, reason: slot.reason };
      }
      const models = [...slot.models ?? []].filter(([, c]) => c.until > now)
        .map(([model, c]) => ({ model, until: c.until, reason: c.reason }));
      return models.length > 0
        ? { slot: i + 1, state: "usable", models }
        : { slot: i + 1, state: "usable" };
    });
  }

  counts(): KeyCounts {
    const counts: KeyCounts = { total: this.#slots.length, usable: 0, cooling: 0, benched: 0 };
    for (let i = 0; i < this.#slots.length; i++) counts[this.state(i)]++;
    return counts;
  }
}

/**
 * Reads keys from `PREFIX`, `PREFIX_1`, `PREFIX_2`, … in numeric order. A gap in the numbers does
 * not end the list (people delete a revoked `_2` and keep `_3`); blank values and duplicates are
 * dropped.
 */
export function keysFromEnv(prefix: string, env: Record<string, string>): string[] {
  const numbered: Array<[number, string]> = [];
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}_(\\d+)$`);
  for (const [name, value] of Object.entries(env)) {
    const m = pattern.exec(name);
    if (m) numbered.push([Number(m[1]), value]);
  }
  numbered.sort((a, b) => a[0] - b[0]);
  return uniqueKeys([env[prefix] ?? "", ...numbered.map(([, v]) => v)]);
}

/**
 * `${VAR}` in a configured key reads the environment, so keys need not sit in a config file.
 * `onMissing` hears of each variable that is not set (it expands to nothing).
 */
export function expandEnv(
  value: string,
  env: Readonly<Record<string, string>>,
  onMissing: (name: string) => void,
): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    if (env[name] === undefined) onMissing(name);
    return env[name] ?? "";
  });
}

/** Trims, drops blanks and keeps the first of any duplicates. */
export function uniqueKeys(keys: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const raw of keys) {
    const key = raw.trim();
    if (key !== "") seen.add(key);
  }
  return [...seen];
}
