// The streaming <think> splitter agrees with the whole-text one, wherever the content is cut.
import assert from "node:assert/strict";
import { splitThink, ThinkSplitter } from "../src/streams/reasoning.ts";

/** Feeds `pieces` through a splitter; returns the joined reasoning and content. */
function stream(pieces: string[]) {
  const s = new ThinkSplitter();
  let reasoning = "";
  let content = "";
  for (const out of [...pieces.map((p) => s.push(p)), s.end()]) {
    reasoning += out.reasoning;
    content += out.content;
  }
  return { reasoning, content };
}

const SAMPLES = [
  "  <think>\n Let me think 🤔  hard.\n</think>\n\nThe answer: 42 </think> stays",
  "<think>unclosed reasoning, cut by max_tokens  ",
  "No reasoning here, <think> later is content",
  "\n\nLeading blank lines are content",
  "<thinking is not a tag",
  "<think></think>empty reasoning",
];

Deno.test("think splitter: every cut in two or three pieces matches splitThink", () => {
  for (const text of SAMPLES) {
    const whole = splitThink(text) ?? { reasoning: "", content: text };
    for (let i = 0; i <= text.length; i++) {
      assert.deepEqual(stream([text.slice(0, i), text.slice(i)]), whole, `${text} @${i}`);
      for (let j = i; j <= text.length; j += 3) {
        const pieces = [text.slice(0, i), text.slice(i, j), text.slice(j)];
        assert.deepEqual(stream(pieces), whole, `${text} @${i},${j}`);
      }
    }
  }
});

Deno.test("think splitter: passes text on at once unless it may be a tag", () => {
  const s = new ThinkSplitter();
  assert.deepEqual(s.push("<thi"), { reasoning: "", content: "" });
  assert.deepEqual(s.push("nk>\nstep one"), { reasoning: "step one", content: "" });
  assert.deepEqual(s.push(", step two </th"), { reasoning: ", step two", content: "" });
  assert.deepEqual(s.push("ink>\n\nHi"), { reasoning: "", content: "Hi" });
  assert.deepEqual(s.push(" there"), { reasoning: "", content: " there" });
  const plain = new ThinkSplitter();
  assert.deepEqual(plain.push("Hello"), { reasoning: "", content: "Hello" });
  assert.deepEqual(plain.push("<think>"), { reasoning: "", content: "<think>" });
});
