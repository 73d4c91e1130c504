/**
 * `deno run -A bench/ladder.ts`: where the proxy's cost over the minimal proxy sits, by layer. It
 * compares, in one run of `bench/ab.ts`'s {@link compare}, the minimal proxy
 * (`bench/minimal_proxy.ts`), the proxy with its features knocked out (what is left is the
 * request path itself: routing, client auth, the request id, the route context, the fallback
 * chain and the model fit, the key pool, the backend's attempt loop, the answer's headers) and
 * the proxy as it is. With `--each`, also the proxy with one group of features knocked out at a
 * time. The knock-outs are copies of the work tree with a few lines patched (see
 * {@link KNOCK_OUTS}); a patch that no longer applies stops the run and names itself.
 *
 * Usage: `deno run -A bench/ladder.ts [--each] [--rounds 5] [--seconds 3] [--only KIND]
 * [--together]` (the options of `bench/ab.ts`; `--together` is the steadier on a drifting host).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { compare, COMPARE_FLAGS, compareOptions, type Contender, proxyAt } from "./ab.ts";
import { ROOT } from "./targets.ts";

/** One textual change to one file: `find` must occur exactly once. */
interface Patch {
  file: string;
  find: string;
  replace: string;
}

/** A group of features, and the patches that take it out of the request path. */
interface KnockOut {
  name: string;
  patches: Patch[];
}

/** The features a minimal proxy does without, as groups that can be knocked out. */
const KNOCK_OUTS: readonly KnockOut[] = [
  {
    name: "request log and request metrics",
    // `ms < 0` never holds: the calls stay in the code, but never run.
    patches: [
      {
        file: "src/edge/handler.ts",
        find: "      metrics.requestFinished({",
        replace: "      if (ms < 0) metrics.requestFinished({",
      },
      {
        file: "src/edge/handler.ts",
        find: "      trace.log.request({",
        replace: "      if (ms < 0) trace.log.request({",
      },
    ],
  },
  {
    name: "cancellation (hang-up watch, drain, attempt deadline's signal)",
    patches: [
      {
        file: "src/pipeline/chat.ts",
        find: "this.#unschedule = later(HANG_UP_WATCH_MS, this);",
        replace: "this.#unschedule = NO_OP;",
      },
      {
        file: "src/pipeline/chat.ts",
        find:
          "this.#release = drainDeadline ? whenAborted(drainDeadline, this.upstream, shuttingDown) : NO_OP;",
        replace: "this.#release = NO_OP;",
      },
      {
        file: "src/backends/openai_compatible.ts",
        find: "          signal: d.signal,\n",
        replace: "",
      },
    ],
  },
  {
    name: "request checks (size cap, strict UTF-8, depth, validation)",
    patches: [{
      file: "src/frontends/openai_chat/frontend.ts",
      find: `  const body = validateChatRequest(
    await readJson(ctx.request, config.limits),
    config.limits,
    config.forceModel !== undefined,
  );`,
      replace: "  const body = JSON.parse(await ctx.request.text());",
    }],
  },
  {
    name: "answer checks (size cap, strict UTF-8, key redaction, shape)",
    patches: [{
      file: "src/backends/openai_compatible.ts",
      find: "        const text = await this.#readText(res);\n        if (res.ok) {",
      replace:
        "        if (res.ok) return await res.json();\n        const text = await this.#readText(res);\n        if (res.ok) {",
    }],
  },
];

/** A copy of the work tree's `src/`, `main.ts`, `deno.json` and `deno.lock` in `into`, patched. */
async function patchedTree(into: string, patches: readonly Patch[]): Promise<string> {
  await Deno.mkdir(into, { recursive: true });
  const copy = await new Deno.Command("cp", {
    args: ["-r", `${ROOT}src`, `${ROOT}main.ts`, `${ROOT}deno.json`, `${ROOT}deno.lock`, into],
  }).output();
  if (!copy.success) throw new Error(`cp failed: ${new TextDecoder().decode(copy.stderr)}`);
  for (const { file, find, replace } of patches) {
    const path = `${into}/${file}`;
    const text = await Deno.readTextFile(path);
    const at = text.indexOf(find);
    if (at < 0 || text.indexOf(find, at + 1) >= 0) {
      throw new Error(
        `bench/ladder.ts: a patch of ${file} no longer applies (${JSON.stringify(find)}); ` +
          `update KNOCK_OUTS`,
      );
    }
    await Deno.writeTextFile(path, text.slice(0, at) + replace + text.slice(at + find.length));
  }
  return into;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { ...COMPARE_FLAGS, each: { type: "boolean", default: false } },
  });
  const dir = await Deno.makeTempDir({ prefix: "llm-proxy-ladder-" });
  try {
    const minimal: Contender = {
      name: "minimal proxy",
      args: (base) => ["run", "--allow-net", `${ROOT}bench/minimal_proxy.ts`, "{port}", base],
      cwd: ROOT,
    };
    const all = KNOCK_OUTS.flatMap((k) => k.patches);
    const contenders = [
      minimal,
      proxyAt("llm-proxy without its features", await patchedTree(`${dir}/bare`, all)),
    ];
    if (values.each) {
      for (const [i, k] of KNOCK_OUTS.entries()) {
        contenders.push(
          proxyAt(`llm-proxy without ${k.name}`, await patchedTree(`${dir}/${i}`, k.patches)),
        );
      }
    }
    contenders.push(proxyAt("llm-proxy", ROOT));
    console.log(await compare(contenders, compareOptions(values)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
