/**
 * The dialects the proxy speaks. A new front end is one folder beside this file and one line here.
 *
 * @module
 */

import type { Frontend } from "./frontend.ts";
import { anthropic } from "./anthropic/frontend.ts";
import { gemini } from "./gemini/frontend.ts";
import { openAIChat } from "./openai_chat/frontend.ts";
import { responses } from "./responses/frontend.ts";

/** Every front end, in the order their routes are matched. */
export const FRONTENDS: readonly Frontend[] = [openAIChat, anthropic, responses, gemini];
