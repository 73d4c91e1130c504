/**
 * The tool-using session the agents' end-to-end tests run through the proxy: a fake InternLM that
 * answers the agent's prompt with a call of the agent's own file-writing tool, then, once the
 * tool's result comes back, with a final text (Claude Code and Gemini CLI use it on its own);
 * and for opencode and pi, the whole run in a fresh workspace and its checks, each agent's test
 * giving only how the agent is configured and run.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type AgentCli,
  agentCli,
  assertAgentWrote,
  inWorkspace,
  runContext,
  type Workspace,
} from "./agent_cli.ts";
import {
  completion,
  type FakeUpstream,
  type RecordedRequest,
  type Reply,
} from "./fake_upstream.ts";
import { slowly, sseData } from "./fake_stream.ts";
import { type LoopbackRun, runLoopbackOnly } from "./loopback_run.ts";
import { type TestProxy, withProxy, withStreamingUpstream } from "./proxy.ts";

/** What the file must hold at the end. */
export const CONTENT = "hello from llm-proxy\n";
/** The final answer the agent must print. */
export const FINAL = "Done: hello.txt now greets the proxy.";
/** The fake's reasoning before the call; never to come back as the text of the answer. */
export const REASONING = "The user wants a file; the write tool makes it.";
/** The id of the tool call the fake makes; the tool result must come back with it. */
export const CALL_ID = "call_write_1";

/** The proxy and its fake upstream, as {@link withSessionProxy} gives them. */
type SessionContext = { up: FakeUpstream; proxy: TestProxy };

/**
 * Runs `fn` against a proxy with client keys `env.LLM_PROXY_API_KEYS` and keep-alives every 50 ms
 * (the fake thinks longer), in front of `responder` as InternLM (which answers whole) or, `live`,
 * as the default backend of `type: openai` (which streams: the proxy relays chunk by chunk).
 *
 * @example
 * ```ts
 * await withSessionProxy(writesAFile(tool, file, 300), false, { LLM_PROXY_API_KEYS: "k" }, fn);
 * ```
 */
function withSessionProxy(
  responder: (req: RecordedRequest) => Reply,
  live: boolean,
  env: Record<string, string>,
  fn: (ctx: SessionContext) => Promise<void>,
): Promise<void> {
  const configText = "streaming:\n  keepalive_interval: 0.05\n";
  return live
    ? withStreamingUpstream(responder, fn, {
      configText: configText + "default_backend: local\n",
      env,
    })
    : withProxy(responder, fn, { configText, env });
}

/** An agent's file-writing tool: its name and its arguments for writing {@link CONTENT}. */
export interface WriteTool {
  name: string;
  args(file: string): Record<string, unknown>;
}

type Message = Record<string, unknown>;
type Tool = { function?: { name?: string } };

/**
 * The fake InternLM, each answer after `delayMs` of thinking: the tool result present → the final
 * answer; the tool offered → the call writing `file`; anything else (a title request) → a title.
 * Asked to stream (the proxy does so for a `type: openai` backend), it streams the same answers.
 *
 * @example
 * ```ts
 * await withProxy(writesAFile({ name: "write", args: (f) => ({ path: f, content: CONTENT }) }, file), …);
 * ```
 */
export function writesAFile(
  tool: WriteTool,
  file: string,
  delayMs = 0,
): (req: RecordedRequest) => Reply {
  return (req) => req.body?.stream === true ? streamed(answer(req)) : answer(req);

  function answer(req: RecordedRequest): Reply {
    const messages = (req.body?.messages ?? []) as Message[];
    const tools = (req.body?.tools ?? []) as Tool[];
    if (messages.some((m) => m.role === "tool")) return completion(FINAL, { delayMs });
    if (!tools.some((t) => t.function?.name === tool.name)) {
      return completion("Greeting file", { delayMs });
    }
    return completion(null, {
      delayMs,
      reasoning_content: REASONING,
      tool_calls: [{
        id: CALL_ID,
        type: "function",
        function: { name: tool.name, arguments: JSON.stringify(tool.args(file)) },
      }],
    });
  }
}

/**
 * A `completion()` reply as an OpenAI-compatible server streams it (for a `type: openai`
 * backend): role, reasoning and content in two pieces each, each tool call's id and name first
 * and its arguments in three pieces, the finish reason, usage, `[DONE]`.
 */
function streamed(reply: Reply): Reply {
  if (reply.kind !== "json") return reply;
  const body = reply.body as {
    id: string;
    model: string;
    choices: Array<{ message: Message; finish_reason: string }>;
    usage: unknown;
  };
  const { message, finish_reason } = body.choices[0];
  const base = { id: body.id, object: "chat.completion.chunk", created: 1, model: body.model };
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
    sseData({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] });
  const halves = (text: unknown) => {
    const s = typeof text === "string" ? text : "";
    return s ? [s.slice(0, s.length >> 1), s.slice(s.length >> 1)] : [];
  };
  const calls = (message.tool_calls ?? []) as Array<
    { id: string; function: { name: string; arguments: string } }
  >;
  const parts = [
    chunk({ role: "assistant", content: "" }),
    ...halves(message.reasoning_content).map((r) => chunk({ reasoning_content: r })),
    ...halves(message.content).map((c) => chunk({ content: c })),
    ...calls.flatMap((call, index) => {
      const args = call.function.arguments;
      const third = Math.ceil(args.length / 3);
      return [
        chunk({
          tool_calls: [{
            index,
            id: call.id,
            type: "function",
            function: { name: call.function.name, arguments: "" },
          }],
        }),
        ...[0, 1, 2].map((i) =>
          chunk({
            tool_calls: [{
              index,
              function: { arguments: args.slice(i * third, (i + 1) * third) },
            }],
          })
        ),
      ];
    }),
    chunk({}, finish_reason),
    sseData({ ...base, choices: [], usage: body.usage }),
    "data: [DONE]\n\n",
  ];
  return { kind: "sse", parts: slowly(parts, 20) };
}

/**
 * Asserts the session went as {@link writesAFile} scripts it: exit 0, the file written, the final
 * answer printed, nothing reached but loopback, every request answered 200 by `frontend`, the tool
 * offered upstream, its result paired with the call, and the reasoning never replayed as text.
 *
 * @example
 * ```ts
 * await assertWroteAFile(run, { up, proxy }, { file, tool: "write", frontend: "anthropic" });
 * ```
 */
async function assertWroteAFile(
  run: LoopbackRun,
  ctx: SessionContext,
  expect: { file: string; tool: string; frontend: string; keepsCallId?: boolean; live: boolean },
): Promise<void> {
  const { requests, context } = runContext(run, ctx.proxy.logs);
  await assertAgentWrote(run, expect.file, CONTENT, FINAL, context);
  assert.deepEqual(run.outbound ?? [], [], `the agent reached beyond loopback:\n${context}`);
  const wrong = requests.filter((l) =>
    !/ 200 /.test(l) || !l.includes(`frontend=${expect.frontend}`)
  );
  assert.deepEqual(wrong, [], `requests not answered 200 by ${expect.frontend}:\n${context}`);
  const complaints = ctx.proxy.logs.filter((l) => /^\S+ (WARN|ERROR) /.test(l));
  assert.deepEqual(complaints, [], `the proxy complained:\n${context}`);
  const calls = ctx.up.chatRequests();
  assert.ok(calls.every((c) => (c.body?.stream === true) === expect.live), context);
  const offered = calls.find((c) =>
    ((c.body?.tools ?? []) as Tool[]).some((t) => t.function?.name === expect.tool)
  );
  assert.ok(offered, `no request offered the ${expect.tool} tool:\n${context}`);
  const echoed = calls.flatMap((c) => (c.body?.messages ?? []) as Message[])
    .filter((m) => m.role === "assistant" && JSON.stringify(m.content).includes(REASONING));
  assert.deepEqual(echoed, [], `the reasoning came back as the answer's text:\n${context}`);
  // Each tool result answers a call of the same request (a chat upstream refuses it otherwise);
  // the call's id is the one InternLM gave, unless the dialect drops ids (Google's SDKs do).
  const rounds = calls.filter((c) => ((c.body?.messages ?? []) as Message[]).some(isResult));
  assert.ok(rounds.length > 0, `the tool result never came back:\n${context}`);
  for (const round of rounds) {
    const messages = round.body?.messages as Message[];
    const ids = messages.flatMap((m) => (m.tool_calls ?? []) as Array<{ id: string }>)
      .map((c) => c.id);
    const answered = messages.filter(isResult).map((m) => m.tool_call_id);
    assert.ok(answered.every((id) => ids.includes(id as string)), JSON.stringify(messages));
    if (expect.keepsCallId !== false) assert.deepEqual(ids, [CALL_ID], JSON.stringify(messages));
  }
}

function isResult(m: Message): boolean {
  return m.role === "tool";
}

/** One agent's part of an {@link agentWritesAFile} session: how it is configured and run. */
export interface AgentSession {
  cli: AgentCli;
  tool: WriteTool;
  /** The arguments before the prompt (`["run"]`, `["-p"]`). */
  args: string[];
  /**
   * Writes the agent's configuration into the workspace, pointed at the proxy's `origin` with the
   * client key in the variable `PROXY_CLIENT_KEY`.
   */
  configure(workspace: Workspace, origin: string): Promise<void>;
  /** The agent's own environment variables (what keeps it offline, say). */
  env(workspace: Workspace): Record<string, string>;
}

/**
 * Runs the agent once in a fresh workspace, against a {@link withSessionProxy} proxy in front of
 * the {@link writesAFile} fake, and checks the run with {@link assertWroteAFile}: `expect` names
 * the front end that must answer and whether the call id comes back.
 *
 * @example
 * ```ts
 * await agentWritesAFile(pi, { frontend: "anthropic" }, false);
 * ```
 */
export async function agentWritesAFile(
  agent: AgentSession,
  expect: { frontend: string; keepsCallId?: boolean },
  live: boolean,
): Promise<void> {
  const bin = await agentCli(agent.cli);
  const clientKey = `client-key-${agent.cli.bin}`;
  await inWorkspace(`llm-proxy-${agent.cli.bin}-`, async (workspace) => {
    const { home, cwd, file } = workspace;
    const env = { LLM_PROXY_API_KEYS: clientKey };
    await withSessionProxy(writesAFile(agent.tool, file, 300), live, env, async (ctx) => {
      await agent.configure(workspace, ctx.proxy.origin);
      const run = await runLoopbackOnly(bin, [...agent.args, "Create hello.txt saying hello."], {
        cwd,
        home,
        timeoutMs: 240_000,
        env: { PROXY_CLIENT_KEY: clientKey, ...agent.env(workspace) },
      });
      await assertWroteAFile(run, ctx, { file, tool: agent.tool.name, live, ...expect });
    });
  });
}
