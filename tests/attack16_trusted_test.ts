/**
 * Attack on issue 16: `trustedProxies` entries that cannot match the
 * server's own peers. `"unix:"` stands for a Unix socket's peers, which have
 * no IP address; a TCP server given only that, or a Unix socket server given
 * only IP networks, would drop every connection as "untrusted" at run time.
 * And `"unix:/path"` (a socket path, as some configs spell a Unix upstream)
 * is not a network. Each must throw at construction, saying what to write.
 */
import assert from "node:assert/strict";
import { BaseRequestHandler, ThreadingTCPServer, ThreadingUnixStreamServer } from "../mod.ts";

const TCP = ["127.0.0.1", 0] as const;
const SOCKET = "/tmp/attack16-never-bound.sock"; // bindAndActivate: false: nothing is bound

Deno.test('ThreadingTCPServer({ proxyProtocol, trustedProxies: ["unix:"] }) throws before binding: no TCP peer is a Unix socket\'s, so every connection would be dropped', () => {
  assert.throws(
    () =>
      new ThreadingTCPServer([...TCP], BaseRequestHandler, {
        proxyProtocol: "v1",
        trustedProxies: ["unix:"],
        bindAndActivate: false,
      }),
    (error: Error) =>
      error instanceof TypeError && /"unix:"/.test(error.message) &&
      /drop every connection/.test(error.message) && /10\.0\.0\.0\/8/.test(error.message),
  );
  // a list shared with a Unix socket server is fine while it has a network too
  const server = new ThreadingTCPServer([...TCP], BaseRequestHandler, {
    proxyProtocol: "v1",
    trustedProxies: ["127.0.0.1", "unix:"],
    bindAndActivate: false,
  });
  assert.equal(server.proxyProtocol, "v1");
});

Deno.test('ThreadingUnixStreamServer({ proxyProtocol, trustedProxies: ["10.0.0.0/8"] }) throws before binding: its peers have no IP address, so it needs "unix:"', () => {
  assert.throws(
    () =>
      new ThreadingUnixStreamServer(SOCKET, BaseRequestHandler, {
        proxyProtocol: "v2",
        trustedProxies: ["10.0.0.0/8"],
        bindAndActivate: false,
      }),
    (error: Error) =>
      error instanceof TypeError && /drop every connection/.test(error.message) &&
      /\["unix:"\]/.test(error.message),
  );
});

Deno.test('StreamServer({ trustedProxies: ["unix:/path"] }) throws saying that "unix:" alone stands for every Unix socket peer', () => {
  for (
    const make of [
      () =>
        new ThreadingTCPServer([...TCP], BaseRequestHandler, {
          proxyProtocol: "v1",
          trustedProxies: ["10.0.0.0/8", "unix:/run/haproxy.sock"],
          bindAndActivate: false,
        }),
      () =>
        new ThreadingUnixStreamServer(SOCKET, BaseRequestHandler, {
          proxyProtocol: "v1",
          trustedProxies: ["unix:/run/haproxy.sock"],
          bindAndActivate: false,
        }),
    ]
  ) {
    assert.throws(
      make,
      (error: Error) =>
        error instanceof TypeError && /"unix:\/run\/haproxy\.sock"/.test(error.message) &&
        /write "unix:"/.test(error.message),
    );
  }
});
