/**
 * Every ready-made class carries its Python name, so that messages naming
 * `this.constructor.name` name it.
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  ForkingTCPServer,
  ForkingTLSServer,
  TCPServer,
  ThreadingMixIn,
  ThreadingTCPServer,
  ThreadingTLSServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
} from "../mod.ts";

Deno.test('ThreadingTCPServer.name is "ThreadingTCPServer", and every Threading class has its own name, as in Python', () => {
  const names = [
    ThreadingTCPServer,
    ThreadingUDPServer,
    ThreadingUnixStreamServer,
    ThreadingUnixDatagramServer,
    ThreadingTLSServer,
    ForkingTCPServer,
    ForkingTLSServer,
  ].map((Class) => Class.name);
  assert.deepEqual(names, [
    "ThreadingTCPServer",
    "ThreadingUDPServer",
    "ThreadingUnixStreamServer",
    "ThreadingUnixDatagramServer",
    "ThreadingTLSServer",
    "ForkingTCPServer",
    "ForkingTLSServer",
  ]);
  class Mine extends TCPServer {}
  assert.equal(ThreadingMixIn(Mine).name, "ThreadingMine");
  class MyThreadingServer extends ThreadingMixIn(TCPServer) {}
  assert.equal(MyThreadingServer.name, "MyThreadingServer");
});

Deno.test("ThreadingTCPServer's messages name ThreadingTCPServer", async () => {
  const server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
  await server.serverClose();
  await assert.rejects(server.serveForever(), /create a new ThreadingTCPServer$/);
});
