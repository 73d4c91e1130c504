/**
 * Builds llm-proxy as one self-contained binary with `deno compile`.
 *
 * ```sh
 * deno task compile            # dist/llm-proxy (.exe on Windows) for this machine
 * deno task compile:all        # every release target into dist/, plus dist/SHA256SUMS
 * deno task compile --probe    # exit 0 if this machine has a denort base to build on, else 3
 * ```
 *
 * `deno compile` appends the program to `denort`, a slim Deno runtime that it downloads once per
 * version and target into `$DENO_DIR/dl/`. Where that download is impossible, set `DENORT_BIN`
 * to a denort of this Deno version: Deno reads it instead of downloading. Deno would use it for
 * every target alike, so it is passed only to builds for this machine's own target.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import denoJson from "../deno.json" with { type: "json" };

/** The only permissions the proxy needs; baked into the binary, used for the bundle too. */
export const PERMISSIONS: readonly string[] = ["--allow-net", "--allow-env", "--allow-read"];

/** deno.json's `unstable` features as flags: a binary or a lone bundle has no deno.json. */
export const UNSTABLE_FLAGS: readonly string[] = denoJson.unstable.map((f) => `--unstable-${f}`);

/**
 * V8's flags, as in deno.json's `start` and `dev` tasks. Without allocation-site pretenuring:
 * with it, V8 learns to allocate some of a request's objects straight in the old generation (they
 * often outlive a young-generation collection while the upstream answers), and whatever they
 * point to, a completion or a stream's body, then survives every young collection until a full
 * one. Measured in bench/RESULTS.md (round 5): 6–8 MB promoted per young collection of a stream
 * load with it, 0.2 MB without; the reference servers there are unaffected either way.
 */
export const V8_FLAGS: readonly string[] = ["--v8-flags=--no-allocation-site-pretenuring"];

/** Flags that give a runtime the behaviour `deno task start` has. */
export const RUNTIME_FLAGS: readonly string[] = [...PERMISSIONS, ...UNSTABLE_FLAGS, ...V8_FLAGS];

/** Release targets of `--all`. */
export const TARGETS: readonly string[] = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

const ROOT = new URL("../", import.meta.url);
const DIST = new URL("dist/", ROOT);
const HOST = Deno.build.target;
/** Exit code of `--probe` when no base is at hand. */
const NO_BASE = 3;

/** Where `deno compile` would take the denort base for `target` from; undefined: download. */
async function baseSource(target: string): Promise<string | undefined> {
  const denort = Deno.env.get("DENORT_BIN");
  if (denort && target === HOST) {
    if (!await exists(denort)) throw new Error(`DENORT_BIN=${denort} does not exist`);
    return `DENORT_BIN=${denort}`;
  }
  const zip = `${await denoDir()}/dl/release/v${Deno.version.deno}/denort-${target}.zip`;
  return await exists(zip) ? `cached ${zip}` : undefined;
}

async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stderr: "null" })
    .output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/**
 * Whether anything is at `path` (the tests' agent installs ask too).
 *
 * @example
 * ```ts
 * if (!(await exists(binary))) throw new Error("not built");
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Compiles for `target` into `output`; for this machine's target, checks the result runs. */
async function compile(target: string, output: URL): Promise<void> {
  const env = Deno.env.toObject();
  // A DENORT_BIN is this machine's runtime; for another target it would make a broken binary.
  if (target !== HOST) delete env.DENORT_BIN;
  const base = await baseSource(target) ?? "download from Deno's release server";
  console.error(`compile ${target} (base: ${base}) -> ${fileURLToPath(output)}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      ...RUNTIME_FLAGS,
      "--exclude-unused-npm",
      "--target",
      target,
      "--output",
      fileURLToPath(output),
      fileURLToPath(new URL("main.ts", ROOT)),
    ],
    cwd: ROOT,
    clearEnv: true,
    env,
  }).spawn().status;
  if (!status.success) {
    throw new Error(
      `deno compile for ${target} failed (exit ${status.code})` +
        (base.startsWith("download")
          ? `; if Deno's release server is out of reach, set DENORT_BIN to a denort ` +
            `${Deno.version.deno} for this machine or cache denort-${target}.zip (see docs/deployment.md)`
          : ""),
    );
  }
  if (target === HOST) await verify(output);
}

/** A wrong base (e.g. DENORT_BIN pointing at the full `deno`) builds fine and runs as Deno. */
async function verify(binary: URL): Promise<void> {
  const out = await new Deno.Command(fileURLToPath(binary), {
    args: ["--version"],
    stderr: "inherit",
  })
    .output();
  const got = new TextDecoder().decode(out.stdout).trim();
  const want = `llm-proxy ${denoJson.version}`;
  if (!out.success || got !== want) {
    // Leave nothing behind that could be mistaken for a build.
    await Deno.remove(binary);
    throw new Error(
      `${fileURLToPath(binary)} --version printed "${got.split("\n")[0]}", not "${want}": ` +
        "the denort base is not a Deno runtime for compiled programs",
    );
  }
  console.error(`ok: ${fileURLToPath(binary)} --version -> ${got}`);
}

async function sha256(path: URL): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const exe = (target: string) => target.includes("windows") ? ".exe" : "";

async function main(args: string[]): Promise<number> {
  if (args[0] === "--probe") {
    const base = await baseSource(HOST);
    if (base) {
      console.log(`denort base for ${HOST}: ${base}`);
      return 0;
    }
    console.log(
      `no denort base for ${HOST}: DENORT_BIN is unset and Deno ${Deno.version.deno}'s denort ` +
        "is not cached",
    );
    return NO_BASE;
  }
  await Deno.mkdir(DIST, { recursive: true });
  if (args.length === 0) {
    await compile(HOST, new URL(`llm-proxy${exe(HOST)}`, DIST));
    return 0;
  }
  if (args[0] !== "--all" || args.length > 1) {
    console.error("usage: compile.ts [--all | --probe]");
    return 2;
  }
  const sums: string[] = [];
  for (const target of TARGETS) {
    const name = `llm-proxy-${target}${exe(target)}`;
    await compile(target, new URL(name, DIST));
    sums.push(`${await sha256(new URL(name, DIST))}  ${name}\n`);
  }
  await Deno.writeTextFile(new URL("SHA256SUMS", DIST), sums.join(""));
  console.error(`wrote ${fileURLToPath(new URL("SHA256SUMS", DIST))}`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    console.error(`error: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
}
