/**
 * A Gemini conversation (`systemInstruction` and `contents`) as canonical chat messages.
 *
 * Parts map one by one: `text` to text, `inlineData` to an `image_url` data URL (other media to
 * `input_audio` or `file` parts), `fileData` with an http(s) image URL to an `image_url`,
 * `functionCall` to the assistant's `tool_calls`, `functionResponse` to `tool` messages.
 * Thoughts in the history (`thought: true`, bare `thoughtSignature` parts) are the model's own
 * earlier reasoning and are never sent on as text.
 *
 * Gemini may send function calls without ids. Each then gets an id made from its place in the
 * history (`call_<content>_<n>`), the same on every turn of a conversation since history only
 * grows, and each `functionResponse` is paired with a call of the model turn before it: by id
 * when it has one that matches, else the first unanswered call of the same name. A call left
 * unanswered gets a tool message saying so (the shared repair in src/pipeline/tool_pairs.ts, run
 * once every call has its id).
 *
 * @module
 */

import { repairToolPairs } from "../../pipeline/tool_pairs.ts";
import { invalidArgument } from "./errors.ts";
import {
  at,
  field,
  objectAt,
  optionalArray,
  optionalObject,
  optionalString,
  requiredString,
} from "./fields.ts";

type Message = Record<string, unknown>;
type ContentPart = Record<string, unknown>;

/** A call of the latest model turn, waiting for its response. */
interface PendingCall {
  id: string;
  name: string;
  answered: boolean;
}

/** What one part of a user turn becomes. */
type UserPart =
  | { kind: "content"; part: ContentPart }
  | { kind: "response"; message: Message; extra: ContentPart[] }
  | { kind: "none" };

/**
 * The messages for `contents` (a non-empty array, checked here) after the system instruction.
 *
 * @example
 * ```ts
 * toMessages([{ role: "user", parts: [{ text: "Hi" }] }], { parts: [{ text: "Be brief." }] });
 * // [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]
 * ```
 */
export function toMessages(contents: unknown, systemInstruction: unknown): Message[] {
  const messages: Message[] = [];
  const system = systemText(systemInstruction);
  if (system) messages.push({ role: "system", content: system });
  if (!Array.isArray(contents) || contents.length === 0) {
    throw invalidArgument("contents", "must be a non-empty array of contents");
  }
  const first = messages.length;
  let pending: PendingCall[] = [];
  for (let i = 0; i < contents.length; i++) {
    const path = `contents[${i}]`;
    const content = objectAt(contents[i], path);
    const role = optionalString(content, "role", path) ?? "user";
    const parts = optionalArray(content, "parts", path);
    if (!parts || parts.length === 0) {
      throw invalidArgument(at(path, "parts"), "must be a non-empty array of parts");
    }
    if (role === "model") {
      const turn = modelTurn(parts, i, path);
      // A turn of thoughts alone leaves nothing, and the calls before it still wait.
      if (turn.message) {
        messages.push(turn.message);
        pending = turn.calls;
      }
    } else if (role === "user" || role === "function") {
      // Gemini's older `function` role carried function responses; it is a user turn.
      const turn = userTurn(parts, path, pending);
      messages.push(...turn.tools);
      if (turn.user) {
        messages.push(turn.user);
        // The conversation moved on: a later response answers none of these calls.
        pending = [];
      }
    } else {
      throw invalidArgument(
        at(path, "role"),
        `must be "user" or "model", not ${JSON.stringify(role)}`,
      );
    }
  }
  if (messages.length === first) {
    throw invalidArgument("contents", "holds nothing to send: only thoughts or empty turns");
  }
  return repairToolPairs(messages, NO_RESPONSE);
}

/** What a call no `functionResponse` answered is told it returned. */
export const NO_RESPONSE = "(no result: the client sent no functionResponse for this call)";

/** The system instruction's text: a content's text parts, or a plain string. */
function systemText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  const content = objectAt(value, "systemInstruction");
  const parts = optionalArray(content, "parts", "systemInstruction") ?? [];
  const texts: string[] = [];
  for (let j = 0; j < parts.length; j++) {
    const path = `systemInstruction.parts[${j}]`;
    const part = objectAt(parts[j], path);
    const text = optionalString(part, "text", path);
    if (text === undefined) throw invalidArgument(path, "a system instruction has text parts only");
    texts.push(text);
  }
  return texts.join("\n");
}

/** A model turn: its text and calls as one assistant message (none if it held only thoughts). */
function modelTurn(
  parts: unknown[],
  index: number,
  path: string,
): { message?: Message; calls: PendingCall[] } {
  const texts: string[] = [];
  const toolCalls: Message[] = [];
  const calls: PendingCall[] = [];
  for (let j = 0; j < parts.length; j++) {
    const partPath = `${path}.parts[${j}]`;
    const part = objectAt(parts[j], partPath);
    const kind = partKind(part, partPath);
    if (kind === "functionCall") {
      const callPath = at(partPath, "functionCall");
      const call = objectAt(field(part, kind), callPath);
      const name = requiredString(call, "name", callPath);
      const id = optionalString(call, "id", callPath) || `call_${index}_${calls.length}`;
      const args = optionalObject(call, "args", callPath) ?? {};
      calls.push({ id, name, answered: false });
      toolCalls.push({ id, type: "function", function: { name, arguments: JSON.stringify(args) } });
    } else if (kind === "text") {
      const text = optionalString(part, "text", partPath)!;
      if (field(part, "thought") !== true) texts.push(text);
    }
    // Media and code parts of a model turn (generated images, say) have no place in an
    // assistant message: left out.
  }
  const content = texts.join("");
  if (content === "" && toolCalls.length === 0) return { calls };
  const message: Message = { role: "assistant", content: content === "" ? null : content };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return { message, calls };
}

/**
 * A user turn: its function responses as `tool` messages first (they answer the model turn just
 * before), then the rest as one user message.
 */
function userTurn(
  parts: unknown[],
  path: string,
  pending: PendingCall[],
): { tools: Message[]; user?: Message } {
  const tools: Message[] = [];
  const content: ContentPart[] = [];
  for (let j = 0; j < parts.length; j++) {
    const converted = userPart(
      objectAt(parts[j], `${path}.parts[${j}]`),
      `${path}.parts[${j}]`,
      pending,
    );
    if (converted.kind === "content") content.push(converted.part);
    else if (converted.kind === "response") {
      tools.push(converted.message);
      content.push(...converted.extra);
    }
  }
  if (content.length === 0) return { tools };
  const allText = content.every((p) => p.type === "text");
  const user: Message = {
    role: "user",
    content: allText ? content.map((p) => p.text).join("\n") : content,
  };
  return { tools, user };
}

function userPart(part: Record<string, unknown>, path: string, pending: PendingCall[]): UserPart {
  const kind = partKind(part, path);
  if (kind === undefined || field(part, "thought") === true) return { kind: "none" };
  if (kind === "functionResponse") {
    const responsePath = at(path, kind);
    return functionResponse(objectAt(field(part, kind), responsePath), responsePath, pending);
  }
  if (kind === "text") {
    return { kind: "content", part: { type: "text", text: optionalString(part, "text", path)! } };
  }
  if (kind === "executableCode" || kind === "codeExecutionResult") {
    return { kind: "content", part: { type: "text", text: codePart(part, kind, path) } };
  }
  if (kind === "functionCall") {
    throw invalidArgument(at(path, kind), "a functionCall belongs in a model turn");
  }
  return { kind: "content", part: mediaPart(part, kind, path) };
}

/** An `inlineData` or `fileData` part as a content part. */
function mediaPart(
  part: Record<string, unknown>,
  kind: "inlineData" | "fileData",
  path: string,
): ContentPart {
  const mediaPath = at(path, kind);
  const media = objectAt(field(part, kind), mediaPath);
  if (kind === "inlineData") {
    const mimeType = requiredString(media, "mimeType", mediaPath).toLowerCase();
    const data = requiredString(media, "data", mediaPath);
    if (mimeType.startsWith("image/")) {
      return { type: "image_url", image_url: { url: `data:${mimeType};base64,${data}` } };
    }
    const audio = AUDIO_FORMATS[mimeType];
    if (audio) return { type: "input_audio", input_audio: { data, format: audio } };
    const file: Record<string, unknown> = { file_data: `data:${mimeType};base64,${data}` };
    const name = optionalString(media, "displayName", mediaPath);
    if (name) file.filename = name;
    return { type: "file", file };
  }
  const uri = requiredString(media, "fileUri", mediaPath);
  const mimeType = optionalString(media, "mimeType", mediaPath)?.toLowerCase();
  if (!/^https?:\/\//i.test(uri)) {
    throw invalidArgument(
      at(mediaPath, "fileUri"),
      "only http(s) URLs can be fetched through this proxy; send the file as inlineData",
    );
  }
  if (mimeType !== undefined && !mimeType.startsWith("image/")) {
    throw invalidArgument(
      at(mediaPath, "mimeType"),
      `only images can be sent by URL through this proxy, not ${mimeType}; send it as inlineData`,
    );
  }
  return { type: "image_url", image_url: { url: uri } };
}

/** The audio formats chat `input_audio` parts take. */
const AUDIO_FORMATS: Readonly<Record<string, string>> = {
  "audio/wav": "wav",
  "audio/x-wav": "wav",
  "audio/mp3": "mp3",
  "audio/mpeg": "mp3",
};

/** A code-execution part from an earlier turn, as fenced text. */
function codePart(
  part: Record<string, unknown>,
  kind: "executableCode" | "codeExecutionResult",
  path: string,
): string {
  const codePath = at(path, kind);
  const value = objectAt(field(part, kind), codePath);
  if (kind === "codeExecutionResult") {
    return "```output\n" + (optionalString(value, "output", codePath) ?? "") + "\n```";
  }
  const language = (optionalString(value, "language", codePath) ?? "").toLowerCase()
    .replace("language_unspecified", "");
  return "```" + language + "\n" + (optionalString(value, "code", codePath) ?? "") + "\n```";
}

/** A `functionResponse`, paired with its call, as a `tool` message. */
function functionResponse(
  response: Record<string, unknown>,
  path: string,
  pending: PendingCall[],
): UserPart {
  const name = requiredString(response, "name", path);
  const id = optionalString(response, "id", path);
  const call = (id !== undefined && pending.find((c) => !c.answered && c.id === id)) ||
    pending.find((c) => !c.answered && c.name === name);
  if (!call) {
    throw invalidArgument(
      path,
      `a functionResponse for "${name}"${id ? ` (id ${JSON.stringify(id)})` : ""} must answer ` +
        "an unanswered functionCall of the model turn right before it",
    );
  }
  call.answered = true;
  const result = optionalObject(response, "response", path) ?? {};
  const extra: ContentPart[] = [];
  // Gemini 3 lets a function answer with media too; chat tool messages are text only, so media
  // follows in the user message after them.
  for (const [k, value] of (optionalArray(response, "parts", path) ?? []).entries()) {
    const partPath = `${path}.parts[${k}]`;
    const part = objectAt(value, partPath);
    const kind = partKind(part, partPath);
    if (kind === "inlineData" || kind === "fileData") extra.push(mediaPart(part, kind, partPath));
  }
  return {
    kind: "response",
    message: { role: "tool", tool_call_id: call.id, content: toolOutput(result) },
    extra,
  };
}

/**
 * A function's result as tool-message text: Gemini's convention `{"output": "…"}` as the bare
 * text (what the model is meant to read), anything else as its JSON.
 */
function toolOutput(result: Record<string, unknown>): string {
  const keys = Object.keys(result);
  if (keys.length === 1 && keys[0] === "output" && typeof result.output === "string") {
    return result.output;
  }
  return JSON.stringify(result);
}

/** The kinds of data a part carries, exactly one each (Gemini's `data` oneof). */
const PART_KINDS = [
  "text",
  "inlineData",
  "fileData",
  "functionCall",
  "functionResponse",
  "executableCode",
  "codeExecutionResult",
] as const;

/** One of {@link PART_KINDS}. */
type PartKind = typeof PART_KINDS[number];

/**
 * The kind of data `part` carries. A part with two is refused, and so is one with none, unless it
 * carries a `thoughtSignature` (a model turn's bare signature part): then undefined.
 */
function partKind(part: Record<string, unknown>, path: string): PartKind | undefined {
  let found: PartKind | undefined;
  for (const kind of PART_KINDS) {
    if (field(part, kind) === undefined) continue;
    if (found !== undefined) {
      throw invalidArgument(path, `a part carries one of ${found} and ${kind}, not both`);
    }
    found = kind;
  }
  if (found === undefined && field(part, "thoughtSignature") === undefined) {
    throw invalidArgument(path, `a part needs one of ${PART_KINDS.join(", ")}`);
  }
  return found;
}
