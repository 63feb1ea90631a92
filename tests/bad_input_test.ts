import assert from "node:assert/strict";
import { BaseRequestHandler, TCPServer, ThreadingTCPServer } from "../mod.ts";
import { openDescriptors } from "./_helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

Deno.test("a bad port throws TypeError or RangeError before any socket is opened", async () => {
  const before = await openDescriptors();
  const cases: [unknown, ErrorConstructor, RegExp][] = [
    [-1, RangeError, /port must be an integer from 0 to 65535, got -1/],
    [70000, RangeError, /got 70000/],
    [1.5, RangeError, /got 1\.5/],
    [NaN, RangeError, /got NaN/],
    ["80", TypeError, /port must be a number from 0 to 65535, got "80"/],
    [undefined, TypeError, /got undefined/],
  ];
  for (const [port, type, message] of cases) {
    assert.throws(
      () => new TCPServer({ hostname: "127.0.0.1", port } as never, BaseRequestHandler),
      (error: unknown) => error instanceof type && message.test((error as Error).message),
      `port ${String(port)}`,
    );
  }
  assert.equal(await openDescriptors(), before);
});

Deno.test("an empty or non-string hostname, or a missing address, throws TypeError", () => {
  assert.throws(
    () => new TCPServer({ hostname: "", port: 0 }, BaseRequestHandler),
    /hostname must be a non-empty string, got "": use "0\.0\.0\.0" for every interface/,
  );
  assert.throws(
    () => new TCPServer({ hostname: 127 as unknown as string, port: 0 }, BaseRequestHandler),
    TypeError,
  );
  assert.throws(() => new TCPServer(null as never, BaseRequestHandler), /must be an object/);
  assert.throws(() => new TCPServer(9999 as never, BaseRequestHandler), TypeError);
});

Deno.test("a missing or non-class handler throws TypeError before any socket is opened", async () => {
  const before = await openDescriptors();
  for (const handler of [undefined, null, 42, "Handler", {}, () => {}, function plain() {}]) {
    assert.throws(
      () => new TCPServer(LOCAL, handler as never),
      /RequestHandlerClass must be a class extending BaseRequestHandler/,
    );
  }
  class NotAHandler {}
  assert.throws(() => new ThreadingTCPServer(LOCAL, NotAHandler as never), TypeError);
  assert.equal(await openDescriptors(), before);
  // a class with a handle() method that does not extend the base is accepted
  class DuckTyped {
    constructor(readonly request: Deno.TcpConn) {}
    setup() {}
    handle() {}
    finish() {}
  }
  await using server = new TCPServer(LOCAL, DuckTyped as never);
  assert.ok(server.serverAddress.port > 0);
});

Deno.test("an address in use throws AddrInUse naming the address", async () => {
  await using first = new TCPServer(LOCAL, BaseRequestHandler);
  const { port } = first.serverAddress;
  assert.throws(
    () => new TCPServer({ hostname: "127.0.0.1", port }, BaseRequestHandler),
    (error: unknown) =>
      error instanceof Deno.errors.AddrInUse &&
      error.message ===
        `Address "127.0.0.1:${port}" is already in use: stop what holds it, or bind port 0 for a free port`,
  );
});

Deno.test("a thousand failed binds leave the number of open descriptors unchanged", async () => {
  await using first = new TCPServer(LOCAL, BaseRequestHandler);
  const taken = { hostname: "127.0.0.1", port: first.serverAddress.port };
  const before = await openDescriptors();
  for (let i = 0; i < 1000; i++) {
    assert.throws(() => new TCPServer(taken, BaseRequestHandler), Deno.errors.AddrInUse);
  }
  assert.equal(await openDescriptors(), before);
});

Deno.test("a timeout or graceMs that is not a duration is refused", async () => {
  assert.throws(() => new TCPServer(LOCAL, BaseRequestHandler, { timeout: -5 }), RangeError);
  assert.throws(
    () => new TCPServer(LOCAL, BaseRequestHandler, { timeout: "5" as never }),
    /"timeout" must be a number of milliseconds or null, got "5"/,
  );
  const server = new TCPServer(LOCAL, BaseRequestHandler);
  await assert.rejects(server.serveForever(-1), RangeError);
  await assert.rejects(server.serverClose({ graceMs: -1 }), RangeError);
  await server.serverClose();
});
