// Streams an answer through the proxy with the OpenAI SDK: deno run --allow-net --allow-env examples/chat.ts
import OpenAI from "npm:openai@6.30.1";

const client = new OpenAI({ baseURL: "http://localhost:8000/v1", apiKey: "unused" });
const stream = await client.chat.completions.create({
  model: "internlm/internlm2.5-latest",
  messages: [{ role: "user", content: "Hello!" }],
  stream: true,
});
const out = new TextEncoder();
for await (const chunk of stream) {
  // Deep-thinking text arrives as reasoning_content, before the answer's content.
  const delta = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string };
  Deno.stdout.writeSync(out.encode(delta?.reasoning_content ?? delta?.content ?? ""));
}
console.log();
