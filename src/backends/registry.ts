/**
 * Backend types by the `type:` name used in the config file. A new type is one file in this
 * folder and one line here.
 *
 * @module
 */

import type { BackendFactory } from "./backend.ts";
import { createInternLM } from "./internlm.ts";
import { createOpenAI } from "./openai.ts";

/** Every backend type the proxy can run. */
export const BACKEND_TYPES: Readonly<Record<string, BackendFactory>> = {
  internlm: createInternLM,
  openai: createOpenAI,
};
