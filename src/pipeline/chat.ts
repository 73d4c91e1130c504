/**
 * The one chat call every front end makes, once it has translated its request to the canonical
 * form: route, call the backend (key failover, retries, deadlines are the backend's), follow the
 * client's hang-up and the shutdown's drain deadline, and answer either the finished completion
 * or an event stream in the front end's dialect (the backend's live stream relayed, or its
 * finished completion synthesized into one), with keep-alives while the upstream thinks.
 *
 * @module
 */

import type { Answer, ChunkStream, StreamEvent } from "../backends/backend.ts";
import { ApiError, CLIENT_CLOSED, utf8Length } from "../canonical/errors.ts";
import type { ChatCompletion, ChatRequest } from "../canonical/types.ts";
import type { RouteContext, StreamWriter } from "../frontends/frontend.ts";
import { streamBody, type StreamEnd } from "../streams/stream_body.ts";
import { fitsOneBody, synthesizedEvents, synthesizedText } from "../streams/synthesize.ts";
import { type Due, later, whenAborted } from "./abort.ts";
import { routeName, runChain } from "./fallback.ts";

/**
 * Answers `chat` (not a stream request) with the backend's completion, its model reported as
 * `<backend>/<model>`. The front end renders it in its dialect.
 *
 * @example
 * ```ts
 * const completion = await completeChat(ctx, { model: "internlm/x", messages });
 * return ctx.json(toMyDialect(completion));
 * ```
 */
export async function completeChat(ctx: RouteContext, chat: ChatRequest): Promise<ChatCompletion> {
  // Nothing reaches the client before the completion: every failure may fall back.
  const call = startCall(ctx, { ...chat, stream: false }, () => true);
  try {
    return relabel(await call.answer as ChatCompletion, call.reported);
  } finally {
    call.settled();
    call.release();
  }
}

/**
 * Answers `chat` as an event stream written by `writer`. Until the keep-alive is due, a failure
 * is still thrown (the front end answers it as an error with its real status); after that, it
 * arrives as the writer's error event.
 *
 * @example
 * ```ts
 * return await streamChat(ctx, { ...chat, stream: true }, openAIStreamWriter(options));
 * ```
 */
export async function streamChat(
  ctx: RouteContext,
  chat: ChatRequest,
  writer: StreamWriter,
): Promise<Response> {
  const { config, trace } = ctx;
  // Keep-alives count as bytes: a dialect's keep-alive may be a real event (a message start
  // naming the model), so once one went out the next target's answer could contradict it.
  let sentBytes = false;
  const call = startCall(ctx, { ...chat, stream: true }, () => !sentBytes);
  const includeUsage = chat.stream_options?.include_usage === true;
  const options = { pieceSize: config.pieceSize, includeUsage };
  const answer = call.answer.then((a) => {
    trace.stream = a instanceof ReadableStream ? "native" : "synthesized";
    return a instanceof ReadableStream ? relabelled(a, call.reported) : relabel(a, call.reported);
  });
  let streaming = false;
  const stream = (keepAliveMs: number) => {
    const events = answer.then((a) =>
      a instanceof ReadableStream ? a : synthesizedEvents(a, options, writer)
    );
    // Committed before the answer came: assume synthesis until a live stream shows up.
    trace.stream ??= "synthesized";
    streaming = true;
    let ended!: (end: StreamEnd) => void;
    trace.streamEnd = new Promise((resolve) => ended = resolve);
    return new Response(
      streamBody(events, writer, {
        keepAliveMs,
        onCancel: () => call.abort(new ApiError(CLIENT_CLOSED, "client closed the stream")),
        onFirstByte: () => sentBytes = true,
        onEnd: (end) => {
          call.release();
          ended(end);
        },
      }),
      { headers: ctx.headers(writer.headers) },
    );
  };
  try {
    if (config.keepAliveMs === 0 || await settlesWithin(answer, config.keepAliveMs)) {
      const a = await answer;
      // The whole answer in hand: its events as one string are the cheapest body there is.
      if (!(a instanceof ReadableStream) && fitsOneBody(a)) {
        const text = synthesizedText(a, options, writer);
        trace.streamEnd = Promise.resolve({ outcome: "done", bytes: utf8Length(text) });
        return new Response(text, { headers: ctx.headers(writer.headers) });
      }
      return stream(0);
    }
    trace.log.debug(
      `${trace.backend}/${trace.model}: upstream slow, committing to the event stream`,
    );
    return stream(config.keepAliveMs);
  } finally {
    call.settled();
    if (!streaming) call.release();
  }
}

/**
 * How long a backend call runs before the client's hang-up is watched for; a hang-up before
 * then cancels the upstream call this much later (the target is within 100 ms).
 */
const HANG_UP_WATCH_MS = 20;

/** Why a call still waiting when the drain deadline passes ends. */
const shuttingDown = () =>
  new ApiError(503, "the proxy is shutting down; retry the request", {
    code: "server_shutting_down",
  });

/**
 * One backend call in flight, with what ends it. The upstream call has its own controller:
 * `request.signal` also fires after a response has been sent, so it is only trusted as a hang-up
 * until the handler returns. The call itself is what the shared timer and the request's signal
 * hold (as a {@link Due} and a listener), not closures over the request's handling.
 */
class Call implements Due {
  readonly upstream = new AbortController();
  answer!: Promise<Answer>;
  /** The model a response reports, from the model the upstream says answered. */
  reported!: (served: string) => string;
  #watching = false;
  readonly #unschedule: () => void;
  readonly #release: () => void;

  constructor(readonly request: Request, drainDeadline: AbortSignal | undefined) {
    // Watching request.signal costs ~2 µs per request (the runtime arms a cancellation op when
    // it is first read): a call answered within HANG_UP_WATCH_MS never reads it; a slower one is
    // watched from then on, and a client already gone by then is noticed at once.
    this.#unschedule = later(HANG_UP_WATCH_MS, this);
    // Held until the response is complete, which for a stream is after the handler returns.
    this.#release = drainDeadline ? whenAborted(drainDeadline, this.upstream, shuttingDown) : NO_OP;
  }

  /** The call has run HANG_UP_WATCH_MS: watch for the client's hang-up from now on. */
  fire(): void {
    this.#watching = true;
    this.request.signal.addEventListener("abort", this, { once: true });
    if (this.request.signal.aborted) this.handleEvent();
  }

  /** The client hung up. */
  handleEvent(): void {
    this.upstream.abort(new ApiError(CLIENT_CLOSED, "client closed the request"));
  }

  abort(reason: ApiError): void {
    this.upstream.abort(reason);
  }

  /** The handler has returned: from now on `request.signal` is no hang-up. */
  settled(): void {
    this.#unschedule();
    if (this.#watching) this.request.signal.removeEventListener("abort", this);
  }

  /** The response is complete: leave the drain deadline. */
  release(): void {
    this.#release();
  }
}

const NO_OP = () => {};

/**
 * Starts the call of `chat` along its route's chain. `mayFallBack` says whether the next target
 * may still be tried: true until the client has a byte of the body.
 */
function startCall(ctx: RouteContext, chat: ChatRequest, mayFallBack: () => boolean): Call {
  const { config, trace, request } = ctx;
  if (chat.messages.length > config.limits.maxMessages) {
    throw new ApiError(
      400,
      `the conversation has more than the limit of ${config.limits.maxMessages} messages`,
      { param: "messages", code: "invalid_request" },
    );
  }
  const plan = config.forceModel === undefined
    ? config.router.plan(chat.model)
    : { targets: [config.router.resolve(config.forceModel)] };
  trace.requested = chat.model;
  trace.alias = plan.alias;
  const call = new Call(request, ctx.drainDeadline);
  let current = plan.targets[0];
  // An alias is reported as asked for (unless `report_model: served`); anything else as the
  // `backend/model` that answered, the ids `/v1/models` lists.
  const requested = chat.model;
  call.reported = plan.alias !== undefined && config.reportModel === "requested"
    ? () => requested
    : (served: string) => `${current.backend.name}/${served}`;
  const context = {
    signal: call.upstream.signal,
    stats: trace.stats,
    log: trace.log,
    onAttempt: trace.onAttempt,
  };
  call.answer = runChain(plan.targets, chat, {
    context,
    mayFallBack,
    onTarget: (route) => {
      current = route;
      trace.backend = route.backend.name;
      trace.model = route.model;
    },
    onFallback: (fallback) => {
      (trace.fallbacks ??= []).push(fallback);
      trace.onFallback?.(fallback);
    },
  }).then((a) => {
    trace.servedBy = routeName(current);
    return a;
  });
  return call;
}

/** A live stream with every chunk's model reported as the client should see it. */
function relabelled(stream: ChunkStream, reported: (served: string) => string): ChunkStream {
  return stream.pipeThrough(
    new TransformStream<StreamEvent, StreamEvent>({
      transform(event, controller) {
        if ("chunk" in event) relabel(event.chunk, reported);
        controller.enqueue(event);
      },
    }),
  );
}

function relabel<T extends { model: string }>(answer: T, reported: (served: string) => string): T {
  answer.model = reported(answer.model);
  return answer;
}

/**
 * True if `promise` settles (either way) within `ms`. The wait shares a timer with the other
 * requests' (a stream costs no timer of its own) and never outlives the call.
 */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = later(ms, { fire: () => resolve(false) });
    const settled = () => {
      cancel();
      resolve(true);
    };
    promise.then(settled, settled);
  });
}
