// What the agent CLI tests count as leaving loopback, read off strace's connect lines.
import assert from "node:assert/strict";
import { outboundConnects } from "./loopback_run.ts";

Deno.test("outboundConnects: IPv4 and IPv6 beyond loopback, DNS included; loopback and Unix sockets not", () => {
  const trace = [
    '7 connect(21, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
    '7 connect(22, {sa_family=AF_INET, sin_port=htons(8000), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
    '8 connect(23, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2606:4700::1", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH',
    '8 connect(24, {sa_family=AF_INET6, sin6_port=htons(8000), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
    '8 connect(25, {sa_family=AF_INET6, sin6_port=htons(8000), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
    '9 connect(26, {sa_family=AF_UNIX, sun_path="/run/nscd/socket"}, 110) = -1 ENOENT',
    '9 connect(27, {sa_family=AF_UNSPEC, sa_data="\\0\\0"}, 16) = 0',
  ].join("\n");
  assert.deepEqual(outboundConnects(trace), ["10.255.255.53:53", "2606:4700::1:443"]);
});
