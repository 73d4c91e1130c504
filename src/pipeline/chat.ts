/**
 * `POST /v1/chat/completions`: validate, route, call the backend, answer as JSON or as an event
 * stream (the backend's live stream relayed, or its finished completion synthesized into one).
 *
 * @module
 */

import { whenAborted } from "./abort.ts";
import type {
  Answer,
  AttemptReport,
  AttemptStats,
  ChunkStream,
  StreamEvent,
} from "../backends/backend.ts";
import type { Config } from "../config/config.ts";
import { ApiError, CLIENT_CLOSED, jsonResponse } from "../canonical/errors.ts";
import type { Logger, StreamMode } from "../operations/log.ts";
import { parseJson, readBody, validateChatRequest } from "../edge/request.ts";
import { SSE_HEADERS } from "../streams/sse.ts";
import { sseBody, type StreamEnd } from "../streams/sse_body.ts";
import { synthesizedEvents } from "../streams/synthesize.ts";
import type { ChatCompletion } from "../canonical/types.ts";

/** What the request log and metrics need to know about a chat call. */
export interface ChatTrace {
  /** The request's logger (its lines carry the request id). */
  log: Logger;
  backend?: string;
  /** The model as the backend knows it (prefix removed). */
  model?: string;
  stats: AttemptStats;
  /** Set once the answer is committed to an event stream. */
  stream?: StreamMode;
  /** Set with {@link ChatTrace.stream}; resolves when the stream has ended (the request is over). */
  streamEnd?: Promise<StreamEnd>;
  /** Passed to the backend: told about every upstream attempt. */
  onAttempt?: (report: AttemptReport) => void;
}

/**
 * Handles one chat completion request. `trace` is filled in as the request proceeds so the caller
 * can log it, whatever the outcome. When `drainDeadline` aborts (a shutdown ran out of time), a
 * request still waiting for the upstream ends with a 503, as JSON or as an event-stream error.
 */
export async function handleChat(
  request: Request,
  config: Config,
  trace: ChatTrace,
  drainDeadline?: AbortSignal,
): Promise<Response> {
  const text = await readBody(request, config.limits.maxBodyBytes);
  const body = validateChatRequest(
    parseJson(text, config.limits.maxDepth),
    config.limits,
    config.forceModel !== undefined,
  );
  const route = config.router.resolve(config.forceModel ?? body.model);
  trace.backend = route.backend.name;
  trace.model = route.model;
  const clientModel = `${route.backend.name}/${route.model}`;

  // The upstream call has its own controller: request.signal also fires after a response has
  // been sent, so it is only trusted as a hang-up until this handler returns.
  const upstream = new AbortController();
  const onHangUp = () => upstream.abort(new ApiError(CLIENT_CLOSED, "client closed the request"));
  request.signal.addEventListener("abort", onHangUp, { once: true });
  const onDrainDeadline = () =>
    upstream.abort(
      new ApiError(503, "the proxy is shutting down; retry the request", {
        code: "server_shutting_down",
      }),
    );
  // Held until the response is complete, which for a stream is after this handler returns.
  const releaseDrain = drainDeadline ? whenAborted(drainDeadline, onDrainDeadline) : () => {};
  let streaming = false;
  const answer = route.backend
    .complete({ ...body, model: route.model }, {
      signal: upstream.signal,
      stats: trace.stats,
      log: trace.log,
      onAttempt: trace.onAttempt,
    });

  try {
    // Only a stream request may get a live stream (the Backend contract).
    if (body.stream !== true) {
      return jsonResponse(relabel(await answer as ChatCompletion, route.backend.name));
    }
    const includeUsage = body.stream_options?.include_usage === true;
    const result = answer.then((a) => {
      trace.stream = a instanceof ReadableStream ? "native" : "synthesized";
      return events(a, route.backend.name, config.pieceSize, includeUsage);
    });
    const stream = (keepAliveMs: number) => {
      // Committed before the answer came: assume synthesis until a live stream shows up.
      trace.stream ??= "synthesized";
      streaming = true;
      let ended!: (end: StreamEnd) => void;
      trace.streamEnd = new Promise((resolve) => ended = resolve);
      return new Response(
        sseBody(result, {
          keepAliveMs,
          onCancel: () => upstream.abort(new ApiError(CLIENT_CLOSED, "client closed the stream")),
          onEnd: (end) => {
            releaseDrain();
            ended(end);
          },
        }),
        { headers: SSE_HEADERS },
      );
    };
    // Until the keep-alive is due, a failure can still be a plain JSON error with its real status.
    if (config.keepAliveMs === 0 || await settlesWithin(result, config.keepAliveMs)) {
      await result;
      return stream(0);
    }
    trace.log.debug(`${clientModel}: upstream slow, committing to the event stream`);
    return stream(config.keepAliveMs);
  } finally {
    request.signal.removeEventListener("abort", onHangUp);
    if (!streaming) releaseDrain();
  }
}

/** The events to send for `answer`: the live stream's own, or the completion cut into chunks. */
function events(
  answer: Answer,
  backend: string,
  pieceSize: number,
  includeUsage: boolean,
): ChunkStream {
  if (!(answer instanceof ReadableStream)) {
    return synthesizedEvents(relabel(answer, backend), { pieceSize, includeUsage });
  }
  return answer.pipeThrough(
    new TransformStream<StreamEvent, StreamEvent>({
      transform(event, controller) {
        if ("chunk" in event) relabel(event.chunk, backend);
        controller.enqueue(event);
      },
    }),
  );
}

/** The model is reported with its backend prefix, the same id `/v1/models` lists. */
function relabel<T extends { model: string }>(answer: T, backend: string): T {
  answer.model = `${backend}/${answer.model}`;
  return answer;
}

/** True if `promise` settles (either way) within `ms`. The timer never outlives the call. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const due = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true, () => true), due]);
  } finally {
    clearTimeout(timer);
  }
}
