/**
 * What the request log and metrics learn about one request as it passes through the pipeline.
 *
 * @module
 */

import type { AttemptReport, AttemptStats } from "../backends/backend.ts";
import type { Fallback } from "./fallback.ts";
import type { Logger, StreamMode } from "../operations/log.ts";
import type { StreamEnd } from "../streams/stream_body.ts";

/** Filled in as a request proceeds, read by the edge when it is over, whatever the outcome. */
export interface ChatTrace {
  /** The request's logger (its lines carry the request id). */
  log: Logger;
  /** The front end that answered (`openai_chat`, `anthropic`, …). */
  frontend?: string;
  /** The backend asked (along a chain: the one asked last). */
  backend?: string;
  /** The model as the backend knows it (prefix removed). */
  model?: string;
  /** The model the client asked for. */
  requested?: string;
  /** The `models:` key the requested model matched, when it matched one. */
  alias?: string;
  /** `backend/model` of the backend model that answered, once one has. */
  servedBy?: string;
  /** Every fallback taken along the chain, in order. */
  fallbacks?: Fallback[];
  /** Told of each fallback as it is taken (metrics). */
  onFallback?: (fallback: Fallback) => void;
  stats: AttemptStats;
  /** Set once the answer is committed to an event stream. */
  stream?: StreamMode;
  /** Set with {@link ChatTrace.stream}; resolves when the stream has ended (the request is over). */
  streamEnd?: Promise<StreamEnd>;
  /** Passed to the backend: told about every upstream attempt. */
  onAttempt?: (report: AttemptReport) => void;
}
