/**
 * Tools both ways. Into chat: `function` tools as they are; `custom` (freeform) tools, such as
 * Codex's `apply_patch` with its grammar, as a function taking one string argument, `input`; the
 * tools of a `namespace` by their own names; built-in tool types (web search, file search, shells
 * run by OpenAI, …) left out, since no chat upstream runs them. Back out: a call of a custom tool becomes a `custom_tool_call` item with
 * that string as its `input`, never plain text.
 *
 * @module
 */

import { isRecord } from "../../canonical/errors.ts";
import type { ToolCall } from "../../canonical/types.ts";
import type { Logger } from "../../operations/log.ts";
import type { CustomToolCallItem, FunctionCallItem, JsonObject } from "./types.ts";
import { invalid } from "./validate.ts";

/** The one argument a custom tool's function takes. */
export const CUSTOM_INPUT = "input";

/** The request's tools as chat tools, and which names are custom tools. */
export interface ChatTools {
  tools: JsonObject[];
  custom: ReadonlySet<string>;
}

/** The tool kinds a chat upstream can be given; built-ins are left out. */
const TOOL_RULES: Record<string, (tool: JsonObject, at: string) => JsonObject> = {
  function: (tool, at) => {
    const name = toolName(tool, at);
    const parameters = isRecord(tool.parameters) ? tool.parameters : EMPTY_OBJECT_SCHEMA;
    return {
      type: "function",
      function: {
        name,
        ...(typeof tool.description === "string" && { description: tool.description }),
        parameters,
        ...(typeof tool.strict === "boolean" && { strict: tool.strict }),
      },
    };
  },
  custom: (tool, at) => ({
    type: "function",
    function: {
      name: toolName(tool, at),
      description: customDescription(tool),
      parameters: {
        type: "object",
        properties: {
          [CUSTOM_INPUT]: { type: "string", description: "The tool's whole input, as raw text." },
        },
        required: [CUSTOM_INPUT],
        additionalProperties: false,
      },
    },
  }),
};

const EMPTY_OBJECT_SCHEMA = { type: "object", properties: {} };

function toolName(tool: JsonObject, at: string): string {
  if (typeof tool.name !== "string" || tool.name === "") {
    throw invalid(`${at}.name must be a non-empty string`, `${at}.name`);
  }
  return tool.name;
}

/** A freeform tool's description, with the grammar or format its input must follow. */
function customDescription(tool: JsonObject): string {
  const description = typeof tool.description === "string" ? tool.description : "";
  const format = isRecord(tool.format) ? tool.format : undefined;
  if (format?.type !== "grammar" || typeof format.definition !== "string") return description;
  const syntax = typeof format.syntax === "string" ? format.syntax : "";
  return `${description}\n\nThe ${CUSTOM_INPUT} argument must follow this ${syntax} grammar:\n` +
    format.definition;
}

/**
 * The chat tools for `tools`; other tool types are dropped and logged at debug.
 *
 * @example
 * ```ts
 * chatTools([{ type: "custom", name: "apply_patch" }, { type: "web_search" }], log).custom;
 * // Set { "apply_patch" }
 * ```
 */
export function chatTools(tools: readonly JsonObject[], log: Logger): ChatTools {
  const out: JsonObject[] = [];
  const custom = new Set<string>();
  const add = (tool: JsonObject, at: string) => {
    const type = tool.type as string;
    // Codex groups tools in namespaces; chat has none, so their tools are offered by name.
    if (type === "namespace" && Array.isArray(tool.tools)) {
      tool.tools.forEach((inner, j) => {
        if (isRecord(inner)) add(inner, `${at}.tools[${j}]`);
      });
      return;
    }
    const rule = TOOL_RULES[type];
    if (!rule) {
      log.debug(`responses: ${at} of type ${type} left out: a chat upstream cannot run it`);
      return;
    }
    const translated = rule(tool, at);
    if (type === "custom") custom.add(tool.name as string);
    out.push(translated);
  };
  tools.forEach((tool, i) => add(tool, `tools[${i}]`));
  return { tools: out, custom };
}

/**
 * `tool_choice` in chat's form: the modes pass; a named function or custom tool becomes chat's
 * named function; anything else (a built-in, `allowed_tools`) leaves the choice to the model.
 *
 * @example
 * ```ts
 * chatToolChoice({ type: "custom", name: "apply_patch" }); // { type: "function", function: { name: "apply_patch" } }
 * ```
 */
export function chatToolChoice(choice: string | JsonObject | undefined): unknown {
  if (choice === undefined) return undefined;
  if (typeof choice === "string") return choice;
  if ((choice.type === "function" || choice.type === "custom") && typeof choice.name === "string") {
    return { type: "function", function: { name: choice.name } };
  }
  if (choice.type === "allowed_tools" && typeof choice.mode === "string") return choice.mode;
  return "auto";
}

/**
 * A custom tool call's arguments as chat carries them: `{"input": "…"}`.
 *
 * @example
 * ```ts
 * customArguments("*** Begin Patch"); // '{"input":"*** Begin Patch"}'
 * ```
 */
export function customArguments(input: string): string {
  return JSON.stringify({ [CUSTOM_INPUT]: input });
}

/**
 * The input of a custom tool call from its chat arguments. A model that answered with something
 * other than the one-string object gets its arguments passed on as the input, as they are.
 *
 * @example
 * ```ts
 * customInput('{"input":"*** Begin Patch"}'); // "*** Begin Patch"
 * ```
 */
export function customInput(args: string): string {
  try {
    const parsed: unknown = JSON.parse(args);
    if (isRecord(parsed) && typeof parsed[CUSTOM_INPUT] === "string") {
      return parsed[CUSTOM_INPUT] as string;
    }
  } catch {
    // Not JSON: the raw text is the best guess at what the model meant to send.
  }
  return args;
}

/**
 * The output item of one chat tool call: a `custom_tool_call` when it calls a custom tool, else a
 * `function_call`. `id` is the item's; the call's own id becomes `call_id`.
 *
 * @example
 * ```ts
 * toolCallItem(call, "ctc_1", new Set(["apply_patch"])).type; // "custom_tool_call"
 * ```
 */
export function toolCallItem(
  call: ToolCall,
  id: string,
  custom: ReadonlySet<string>,
): FunctionCallItem | CustomToolCallItem {
  const name = call.function?.name ?? "";
  const args = call.function?.arguments ?? "";
  const callId = call.id || `call_${id}`;
  if (custom.has(name)) {
    return {
      type: "custom_tool_call",
      id,
      status: "completed",
      call_id: callId,
      name,
      input: customInput(args),
    };
  }
  return { type: "function_call", id, status: "completed", call_id: callId, name, arguments: args };
}
