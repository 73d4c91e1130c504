/**
 * What the Gemini front end's tests share: a function declaration in Gemini CLI's style.
 *
 * @module
 */

/** `write_file` as Gemini CLI declares it: a `parametersJsonSchema`. */
export const WRITE_FILE = {
  name: "write_file",
  description: "Writes a file.",
  parametersJsonSchema: {
    type: "object",
    properties: { file_path: { type: "string" }, content: { type: "string" } },
    required: ["file_path", "content"],
  },
};
