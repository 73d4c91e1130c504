// Docker cannot run on the machines that run these tests, so the Dockerfile is held to what the
// tests do exercise: the compiled binary as entrypoint, its own healthcheck, known env names.
import assert from "node:assert/strict";
import { ENV } from "../src/config/config.ts";

const read = (path: string) => Deno.readTextFile(new URL(`../${path}`, import.meta.url));

/** Every `LLM_PROXY_*` name in `text`. */
function envNames(text: string): Set<string> {
  return new Set(text.match(/\bLLM_PROXY_[A-Z_]+\b/g) ?? []);
}

Deno.test("Dockerfile: the tested binary and healthcheck, the tooling's Deno, known settings", async () => {
  const dockerfile = await read("Dockerfile");
  const ci = await read(".ci/run");
  const version = /^DENO_VERSION=(\S+)$/m.exec(ci)?.[1];
  assert.ok(version);
  assert.match(
    dockerfile,
    new RegExp(`^FROM denoland/deno:${version.replaceAll(".", "\\.")} AS build$`, "m"),
  );
  assert.match(dockerfile, /^RUN deno task compile$/m);
  assert.match(
    dockerfile,
    /^COPY --from=build \/src\/dist\/llm-proxy \/usr\/local\/bin\/llm-proxy$/m,
  );
  assert.match(dockerfile, /^ENTRYPOINT \["\/usr\/local\/bin\/llm-proxy"\]$/m);
  assert.match(dockerfile, /^\s+CMD \["\/usr\/local\/bin\/llm-proxy", "healthcheck"\]$/m);
  // runAsNonRoot: true (the README's Kubernetes example) refuses a user given by name.
  const user = /^USER (\S+)$/m.exec(dockerfile)?.[1] ?? "";
  assert.match(user, /^[1-9]\d*:[1-9]\d*$/, `USER ${user} is not a numeric non-root uid:gid`);
  assert.match(dockerfile, /^FROM gcr\.io\/distroless\/cc-debian12:nonroot$/m);
  assert.equal(user, "65532:65532", "distroless' nonroot user and group");
  const port = /LLM_PROXY_PORT=(\d+)/.exec(dockerfile)?.[1];
  assert.match(dockerfile, new RegExp(`^EXPOSE ${port}$`, "m"));
  assert.match(dockerfile, /LLM_PROXY_HOST=0\.0\.0\.0/);
});

Deno.test("Dockerfile, README and docs name only environment variables the proxy reads", async () => {
  const known = new Set<string>(Object.values(ENV));
  const docs = [...Deno.readDirSync(new URL("../docs/", import.meta.url))]
    .filter((e) => e.isFile).map((e) => `docs/${e.name}`);
  for (const file of ["Dockerfile", "README.md", "config.example.yaml", ...docs]) {
    for (const name of envNames(await read(file))) {
      // The test suite's own settings (LLM_PROXY_TEST_REDIS_URL, …), which docs may mention.
      if (name.startsWith("LLM_PROXY_TEST_")) continue;
      assert.ok(known.has(name), `${file} names ${name}, which the proxy does not read`);
    }
  }
});
