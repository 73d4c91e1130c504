/**
 * The slice of Google's Gemini API (`generativelanguage` v1beta) wire types the front end reads
 * or writes. Requests arrive as `unknown` and are checked field by field in `request.ts`; these
 * types describe what the answers look like.
 *
 * @module
 */

/** One part of a content: text (maybe a thought), a function call, … */
export interface Part {
  text?: string;
  thought?: boolean;
  thoughtSignature?: string;
  functionCall?: { id?: string; name: string; args: Record<string, unknown> };
  [field: string]: unknown;
}

/** One turn of a conversation. */
export interface Content {
  role: "model" | "user";
  parts: Part[];
}

/** One answer of a `GenerateContentResponse`. */
export interface Candidate {
  content: Content;
  finishReason?: FinishReason;
  /** Says why, where the reason alone does not (a malformed function call). */
  finishMessage?: string;
  index: number;
}

/** Why a candidate ended, as Gemini names it. */
export type FinishReason = "STOP" | "MAX_TOKENS" | "SAFETY" | "MALFORMED_FUNCTION_CALL" | "OTHER";

/** Token counts; `thoughtsTokenCount` is outside `candidatesTokenCount`, inside the total. */
export interface UsageMetadata {
  promptTokenCount: number;
  candidatesTokenCount: number;
  totalTokenCount: number;
  thoughtsTokenCount?: number;
  cachedContentTokenCount?: number;
}

/** The answer of `generateContent`, and each event of `streamGenerateContent`. */
export interface GenerateContentResponse {
  candidates: Candidate[];
  usageMetadata?: UsageMetadata;
  modelVersion: string;
  responseId: string;
}

/** The error body every Google API answers with. */
export interface GeminiErrorBody {
  error: {
    code: number;
    message: string;
    /** The gRPC status name (`INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, …). */
    status: string;
    details?: Record<string, unknown>[];
  };
}
