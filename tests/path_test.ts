import assert from "node:assert/strict";
import { plainPath } from "../src/edge/path.ts";

Deno.test("plainPath: a plain path is the URL's pathname; anything the parser would rewrite is left to it", () => {
  const base = "http://127.0.0.1:8000";
  const plain: [string, string][] = [
    ["/v1/chat/completions", "/v1/chat/completions"],
    ["/v1/chat/completions?stream=1", "/v1/chat/completions"],
    ["/v1/chat/completions#x", "/v1/chat/completions"],
    [
      "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
      "/v1beta/models/gemini-2.5-pro:streamGenerateContent",
    ],
    ["/v1/models/internlm/intern-s1", "/v1/models/internlm/intern-s1"],
    ["/", "/"],
    ["/v1/..x/a.b/...", "/v1/..x/a.b/..."],
  ];
  for (const [path, expected] of plain) {
    assert.equal(plainPath(base + path), expected, path);
    assert.equal(new URL(base + path).pathname, expected, `${path}: the URL parser agrees`);
  }
  // The parser rewrites these (dot segments, escapes, backslashes): no shortcut is taken.
  for (
    const path of [
      "/v1/./chat",
      "/v1/../models",
      "/v1/..",
      "/a%2e/b",
      "/a b",
      "/a\\b",
      "/é",
      '/a"b',
    ]
  ) {
    assert.equal(plainPath(base + path), undefined, path);
  }
  assert.equal(plainPath("http://127.0.0.1:8000"), undefined);
});
