/**
 * What replicas of the proxy share: what each learns about upstream keys (cool-downs and benches
 * with their expiry) and the stored Responses conversations. One process keeps it in memory ({@link LocalState}, the default); several
 * replicas share it through Redis (`src/state/redis_state.ts`), each falling back to its own
 * memory while Redis is away.
 *
 * @module
 */

import type { KeyPool } from "../backends/keys.ts";
import type { PacingBudget } from "../backends/key_pacing.ts";
import type { MemoryStoreLimits } from "./memory_response_store.ts";
import type { ResponseStore } from "./response_store.ts";

/**
 * `local`: in memory, nothing shared (no Redis configured). `shared`: through Redis. `degraded`:
 * Redis is configured but down or slow, so this replica runs on its local state until it is back.
 */
export type StateStatus = "local" | "shared" | "degraded";

/** A backend's key budgets (`rpm`, `tpm`) as every replica spends them. */
export interface PacingShare {
  /**
   * Takes a request of `tokens` on slot `i` from the budget all replicas share: 0 when taken, or
   * when Redis is away (this replica's own pacer decides then); else the ms until slot `i` has
   * room.
   */
  take(i: number, tokens: number): Promise<number>;
  /** Tokens slot `i` used beyond (negative: below) what its request was charged. */
  charge(i: number, tokens: number): void;
}

/** The proxy's state, as the backends and the operations endpoints see it. */
export interface SharedState {
  /** Where the state lives now. */
  readonly status: StateStatus;
  /**
   * Shares what `pool` learns about its keys with the other replicas, and applies what they
   * learn. `keys` are the pool's keys in slot order; only their digests leave the process.
   */
  shareKeys(backend: string, pool: KeyPool, keys: readonly string[]): void;
  /**
   * A Responses store shared by every replica, bounded by `limits` for them all; absent where
   * nothing is shared (the embedded memory store serves then).
   */
  responseStore?(limits: MemoryStoreLimits): ResponseStore;
  /**
   * Shares the budgets of the key pool `backend` gave {@link SharedState.shareKeys}; absent where
   * nothing is shared.
   */
  sharePacing?(backend: string, budget: PacingBudget): PacingShare;
  /** Starts sharing (dials Redis); idempotent. Until then, and while Redis is away, local. */
  connect(): void;
  /** Releases connections; the state must not be used afterwards. */
  close(): Promise<void>;
}

/**
 * The embedded default: every replica alone, its key pools in memory as they are.
 *
 * @example
 * ```ts
 * const state: SharedState = new LocalState();
 * state.status; // "local"
 * ```
 */
export class LocalState implements SharedState {
  readonly status: StateStatus = "local";

  shareKeys(): void {}

  connect(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }
}
