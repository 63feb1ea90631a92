/**
 * A client that pipelines requests and never reads the replies, against a
 * handler that does not await its writes — the port of Python's
 * `for line in self.rfile: self.wfile.write(line)`, which docs/hardening.md
 * calls "the natural port" and "the library's to handle". In Python the
 * write blocks once the kernel's buffers are full, so the handler stops
 * reading and the client stalls: TCP's back-pressure. Here nothing stops the
 * handler reading: every reply queues in the server's memory, so one client
 * that sends without reading grows the server by what it sends (400 MiB sent
 * in under 2 s on loopback grew the process by 560 MiB), until the process
 * runs out of memory. `writeTimeout` does not bound it: its clock starts at
 * each write's turn, and at loopback speed gigabytes queue before the first
 * one runs out.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler } from "../mod.ts";
import { errorName, RecordingServer } from "./_servers.ts";
import { within } from "./_wait.ts";
import { assertEchoedWhileReading, assertHeldBack } from "./_backpressure.ts";

/** Echoes every line without awaiting the write. */
class CarelessEcho extends StreamRequestHandler {
  override async handle() {
    for await (const line of this.rfile) this.wfile.write(line); // not awaited
  }
}

/** Echoes every line without awaiting the write, through a buffered `wfile`. */
class CarelessBufferedEcho extends CarelessEcho {
  override wbufsize = 8192;
}

for (const Handler of [CarelessEcho, CarelessBufferedEcho]) {
  const buffered = Handler === CarelessBufferedEcho ? " (wbufsize 8192)" : "";
  Deno.test(`ThreadingTCPServer: a client that pipelines requests and never reads, against a handler that does not await its writes${buffered}, is held back as Python's blocking write holds it (the server queued all it sent in memory)`, () =>
    assertHeldBack(Handler));

  Deno.test(`ThreadingTCPServer: a handler that does not await its writes${buffered} echoes 16 MiB whole and in order to a client that reads while it sends (held back, never stuck)`, () =>
    assertEchoedWhileReading(Handler));
}

Deno.test("ThreadingTCPServer: the handler's timeout applies while rfile waits for unawaited writes a non-reading client holds up: it is dropped with a TimeoutError", async () => {
  class TimedCarelessEcho extends CarelessEcho {
    override timeout = 300;
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, TimedCarelessEcho);
  server.serveForever();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
  const batch = new TextEncoder().encode(("x".repeat(1023) + "\n").repeat(1024));
  const sender = (async () => {
    try {
      for (;;) await conn.write(batch); // until the server drops the connection
    } catch {
      // dropped
    }
  })();
  try {
    await server.dropped(1, 30_000);
    assert.equal(errorName(server.drops[0]), "TimeoutError");
  } finally {
    conn.close();
    await sender;
  }
});

Deno.test("StreamRequestHandler: a wfile replaced in setup() by an object of the handler's own still leaves rfile reading", async () => {
  class OwnWriter extends StreamRequestHandler {
    override setup() {
      super.setup();
      const conn = this.request as Deno.Conn;
      // a port of Python's `self.wfile = SomeWriter(self.request)`
      (this as { wfile: unknown }).wfile = {
        write: (p: Uint8Array) => conn.write(p),
        close() {},
        closed: false,
        idle: true,
      };
    }
    override async handle() {
      for await (const line of this.rfile) await this.wfile.write(line);
    }
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, OwnWriter);
  server.serveForever();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
  try {
    await conn.write(new TextEncoder().encode("one\ntwo\n"));
    await conn.closeWrite();
    const reply = await within(new Response(conn.readable).text(), 5_000, "the echo");
    assert.equal(reply, "one\ntwo\n");
    assert.deepEqual(server.errors, []);
  } catch (error) {
    conn.close();
    throw error;
  }
});
