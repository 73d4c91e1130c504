/**
 * The slice of OpenAI's Responses API types the proxy reads or writes. Items and response objects
 * are JSON objects: fields the proxy does not interpret are kept as they came (index signatures).
 *
 * @module
 */

import type { JsonObject } from "../../state/response_store.ts";

export type { JsonObject };

/** One content part of a message item (`input_text`, `output_text`, `input_image`, `refusal`). */
export interface ContentPart {
  type: string;
  text?: string;
  refusal?: string;
  image_url?: string | null;
  detail?: string;
  [field: string]: unknown;
}

/** Output items, the way the proxy writes them (and clients echo them back). */
export interface MessageItem {
  type: "message";
  id: string;
  status: "completed" | "incomplete" | "in_progress";
  role: "assistant";
  content: ContentPart[];
}

export interface ReasoningItem {
  type: "reasoning";
  id: string;
  summary: { type: "summary_text"; text: string }[];
}

export interface FunctionCallItem {
  type: "function_call";
  id: string;
  status: "completed" | "in_progress";
  call_id: string;
  name: string;
  arguments: string;
}

export interface CustomToolCallItem {
  type: "custom_tool_call";
  id: string;
  status: "completed" | "in_progress";
  call_id: string;
  name: string;
  input: string;
}

/** Any item of `output`. */
export type OutputItem = MessageItem | ReasoningItem | FunctionCallItem | CustomToolCallItem;

/** Token counts, as the Responses API reports them. */
export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** A response object (`object: "response"`). */
export interface ResponseObject {
  id: string;
  object: "response";
  created_at: number;
  status: "completed" | "incomplete" | "failed" | "in_progress";
  background: false;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: string } | null;
  instructions: unknown;
  max_output_tokens: number | null;
  model: string;
  output: OutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: string | null; summary: string | null };
  store: boolean;
  temperature: number | null;
  text: JsonObject;
  tool_choice: unknown;
  tools: unknown[];
  top_p: number | null;
  truncation: string;
  usage: ResponseUsage | null;
  user: string | null;
  metadata: JsonObject;
  [field: string]: unknown;
}
