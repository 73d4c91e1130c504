/**
 * Key pacing (`rpm`, `tpm`; see `src/backends/key_pacing.ts`) shared by replicas, so that their
 * requests on one key add up to its budget, not to the budget times the replicas. Each key's
 * budget lives in `<prefix>:pace:<backend>:<key id>` (a hash: the earliest start of the next
 * request, the `tpm` bucket's level and when it was last filled), on Redis's own clock. One script
 * call takes a request for a key the replica's own pacer chose; when another replica spent that
 * key meanwhile, it answers how long until the key is free, and the replica waits and chooses
 * again. One round trip per request while budgets last.
 *
 * @module
 */

import type { Redis } from "ioredis";

/**
 * KEYS[1] the key's pace. ARGV: ms between requests (0: no rpm), tpm (0: none), tokens of this
 * request, and whether to take (1) or only charge tokens (0). Answers 0 when taken (or charged),
 * else the ms until the key may take it.
 */
export const TAKE_PACE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tpm = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'next', 'level', 'at')
local nextAt = tonumber(state[1]) or 0
local level = tonumber(state[2]) or tpm
local at = tonumber(state[3]) or now
if tpm > 0 then level = math.min(tpm, level + (now - at) * tpm / 60000) end
if ARGV[4] == '1' then
  local ready = nextAt
  if tpm > 0 then
    local missing = math.min(tokens, tpm) - level
    if missing > 0 then ready = math.max(ready, now + math.ceil(missing * 60000 / tpm)) end
  end
  if ready > now then return ready - now end
  if interval > 0 then nextAt = math.max(now, nextAt) + interval end
end
redis.call('HSET', KEYS[1], 'next', nextAt, 'level', level - tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], 120000)
return 0
`;

type Scripted = Redis & { takePace(key: string, ...args: string[]): Promise<number> };

/**
 * Takes (or, `take` false, only charges) `tokens` from one key's shared budget: 0 when done, else
 * the ms until the key has room.
 *
 * @example
 * ```ts
 * const wait = await takePace(redis, "llm-proxy:pace:internlm:ab12…", 2000, 0, 0, true); // 0: go
 * ```
 */
export function takePace(
  redis: Redis,
  key: string,
  intervalMs: number,
  tpm: number,
  tokens: number,
  take: boolean,
): Promise<number> {
  return (redis as Scripted).takePace(
    key,
    String(intervalMs),
    String(tpm),
    String(Math.round(tokens)),
    take ? "1" : "0",
  );
}
