/**
 * The serve loop as the benchmark work reshaped it: a per-wait wake-up
 * instead of racing one stop promise, a request handled synchronously when
 * the hooks are, and `shutdownRequest()`'s `closeWrite()`, which is what
 * delivers a write the handler did not await.
 */
import { BaseRequestHandler, StreamRequestHandler, TCPServer, ThreadingTCPServer } from "../mod.ts";
import assert from "node:assert/strict";
import { readAllBytes } from "./_net.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

Deno.test("shutdown() from inside a plain TCPServer handler stops serveForever while the handler still runs", async () => {
  const release = Promise.withResolvers<void>();
  const entered = Promise.withResolvers<void>();
  class Stuck extends BaseRequestHandler {
    override async handle() {
      this.server.shutdown();
      entered.resolve();
      await release.promise;
    }
  }
  const server = new TCPServer(LOCAL, Stuck);
  const serving = server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  await entered.promise;
  await serving; // returns although the handler has not finished
  assert.equal(server.activeRequests, 1);
  release.resolve();
  await server.serverClose();
  assert.equal(server.activeRequests, 0);
  conn.close();
});

Deno.test("shutdown() while serveForever waits for a connection returns at once, and serving can start again", async () => {
  class Hello extends StreamRequestHandler {
    override async handle() {
      await this.wfile.write("hello\n");
    }
  }
  await using server = new ThreadingTCPServer(LOCAL, Hello);
  for (let round = 0; round < 3; round++) {
    const serving = server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    assert.equal(new TextDecoder().decode(await readAllBytes(conn)), "hello\n");
    await server.shutdown();
    await serving;
    assert.equal(server.serving, false);
  }
});

Deno.test("serverClose() while serveForever waits for a connection ends the loop", async () => {
  const server = new TCPServer(LOCAL, BaseRequestHandler);
  const serving = server.serveForever();
  await server.serverClose();
  await serving;
  assert.equal(server.serving, false);
});

Deno.test("verifyRequest() refusing, synchronously or not: the request is closed before any handler runs", async () => {
  let handled = 0;
  class Count extends BaseRequestHandler {
    override handle() {
      handled++;
    }
  }
  for (const refuse of [() => false, () => Promise.resolve(false)]) {
    class Refusing extends ThreadingTCPServer {
      override verifyRequest() {
        return refuse();
      }
    }
    await using server = new Refusing(LOCAL, Count);
    server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    assert.equal((await readAllBytes(conn)).length, 0);
  }
  assert.equal(handled, 0);
});

Deno.test("handleError() gets an error in verifyRequest() or processRequest(), and the next client is served", async () => {
  class Echo extends StreamRequestHandler {
    override async handle() {
      for await (const line of this.rfile) await this.wfile.write(line);
    }
  }
  let calls = 0;
  const errors: string[] = [];
  class Flaky extends TCPServer {
    override verifyRequest() {
      if (++calls === 1) throw new Error("verify failed");
      return true;
    }
    override async processRequest(request: Deno.TcpConn, address: Deno.NetAddr) {
      if (calls === 2) throw new Error("process failed");
      await super.processRequest(request, address);
    }
    override handleError(_request: unknown, _address: unknown, error: unknown) {
      errors.push((error as Error).message);
    }
  }
  await using server = new Flaky(LOCAL, Echo);
  server.serveForever();
  for (let i = 0; i < 2; i++) {
    const refused = await Deno.connect(server.serverAddress);
    assert.equal((await readAllBytes(refused)).length, 0);
  }
  const conn = await Deno.connect(server.serverAddress);
  await conn.write(new TextEncoder().encode("ok\n"));
  await conn.closeWrite();
  assert.equal(new TextDecoder().decode(await readAllBytes(conn)), "ok\n");
  assert.deepEqual(errors, ["verify failed", "process failed"]);
});

Deno.test("wfile.write() the handler did not await is not cut off when the server closes the connection", async () => {
  // Deno's close() cancels a write in flight; shutdownRequest()'s awaited
  // closeWrite() waits for it. 256 KiB is more than one write call takes on
  // loopback before the client reads, so the write is still in flight.
  const payload = new Uint8Array(256 * 1024).map((_, i) => i % 251);
  class Careless extends BaseRequestHandler {
    override handle() {
      this.request.write(payload).catch(() => {});
    }
  }
  await using server = new ThreadingTCPServer(LOCAL, Careless);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  const got = await readAllBytes(conn);
  assert.ok(got.length > 0, "nothing arrived");
  // conn.write() may write part of the buffer (the caller writes the rest);
  // what did arrive is the start of the payload, and it did arrive.
  assert.deepEqual(got, payload.subarray(0, got.length));
});
