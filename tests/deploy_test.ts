// deploy/compose.yaml and deploy/nginx.conf, checked as far as a machine without Docker can: the
// YAML parses with its anchors and merges, both replicas share the Redis service, the image's
// health check gates nginx, and nginx balances exactly the compose file's replicas.
import assert from "node:assert/strict";
import { parse } from "yaml";

const DEPLOY = new URL("../deploy/", import.meta.url);

interface Service {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
  stop_grace_period?: string;
  healthcheck?: { test: string[] };
}

Deno.test("deploy/compose.yaml: two replicas on one Redis, behind nginx", async () => {
  const compose = parse(await Deno.readTextFile(new URL("compose.yaml", DEPLOY)), {
    merge: true,
  }) as { services: Record<string, Service> };
  const services = compose.services;
  const replicas = Object.keys(services).filter((name) => name.startsWith("llm-proxy"));
  assert.deepEqual(replicas, ["llm-proxy-a", "llm-proxy-b"]);
  for (const name of replicas) {
    const s = services[name];
    assert.equal(s.build, "..", `${name} builds the repository's Dockerfile`);
    assert.match(
      s.environment?.LLM_PROXY_REDIS_URL ?? "",
      /^redis:\/\/:\$\{REDIS_PASSWORD[^}]*\}@redis:6379\/0$/,
    );
    assert.ok(
      s.environment?.LLM_PROXY_API_KEYS,
      `${name} needs client keys (it listens on 0.0.0.0)`,
    );
    assert.equal(s.depends_on?.redis.condition, "service_healthy");
    assert.equal(s.stop_grace_period, "35s");
  }
  assert.ok(services.redis.image?.startsWith("redis:"));
  assert.ok(services.redis.healthcheck?.test.join(" ").includes("ping"));
  const lb = services.lb;
  assert.deepEqual(lb.ports, ["127.0.0.1:8000:8000"]);
  assert.deepEqual(Object.keys(lb.depends_on ?? {}).sort(), replicas);
  for (const r of replicas) assert.equal(lb.depends_on?.[r].condition, "service_healthy");
  assert.deepEqual(lb.volumes, ["./nginx.conf:/etc/nginx/nginx.conf:ro"]);
});

Deno.test("deploy/nginx.conf: balances the compose file's replicas, streams unbuffered", async () => {
  const conf = await Deno.readTextFile(new URL("nginx.conf", DEPLOY));
  const upstream = /upstream llm_proxy \{([^}]*)\}/.exec(conf)?.[1] ?? "";
  const servers = [...upstream.matchAll(/server ([\w.-]+):8000/g)].map((m) => m[1]);
  assert.deepEqual(servers, ["llm-proxy-a", "llm-proxy-b"]);
  for (const directive of ["proxy_buffering off;", "proxy_http_version 1.1;", "listen 8000;"]) {
    assert.ok(conf.includes(directive), directive);
  }
  // Braces balance: a typo that nginx would refuse at start.
  assert.equal(conf.split("{").length, conf.split("}").length);
});
