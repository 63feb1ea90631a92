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

/** Echoes every line without awaiting the write. */
class CarelessEcho extends StreamRequestHandler {
  override async handle() {
    for await (const line of this.rfile) this.wfile.write(line); // not awaited
  }
}

const MIB = 1024 * 1024;
/** What the client tries to send: far beyond any kernel's socket buffers. */
const TOTAL = 128 * MIB;
/** What the server may take in while its replies go unread: the kernel's
 * buffers (a few MiB on loopback each way) and a bounded queue of replies. */
const BOUND = 48 * MIB;

/** Resolves once the server's bytes read grew by less than 64 KiB in 100 ms:
 * it has stopped reading (polled: no event says so). */
async function stoppedReading(server: RecordingServer, done: () => boolean): Promise<void> {
  let last = -Infinity;
  for (;;) {
    const read = server.stats().bytesRead;
    if (done() || (read > 0 && read - last < 64 * 1024)) return;
    last = read;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test({
  name:
    "ThreadingTCPServer: a client that pipelines requests and never reads, against a handler that does not await its writes, is held back as Python's blocking write holds it (the server queued all it sent in memory)",
  async fn() {
    await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, CarelessEcho);
    server.serveForever();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
    const line = new TextEncoder().encode("x".repeat(1023) + "\n");
    const batch = new Uint8Array(MIB);
    for (let i = 0; i < MIB / line.length; i++) batch.set(line, i * line.length);
    let sent = 0;
    let finished = false;
    const sender = (async () => {
      try {
        while (sent < TOTAL) {
          for (let n = 0; n < batch.length;) n += await conn.write(batch.subarray(n));
          sent += batch.length;
        }
      } catch {
        // closed by the test below while it waits for the server to read
      } finally {
        finished = true;
      }
    })();
    try {
      await within(stoppedReading(server, () => finished), 60_000, "the server to stop reading");
      const read = server.stats().bytesRead;
      assert.ok(
        read <= BOUND,
        `the server took in ${Math.round(read / MIB)} MiB of the ${
          Math.round(sent / MIB)
        } MiB sent by a client that reads nothing (bound: ${BOUND / MIB} MiB)`,
      );
    } finally {
      conn.close();
      await sender;
    }
  },
});

/** Echoes every line without awaiting the write, through a buffered `wfile`. */
class CarelessBufferedEcho extends CarelessEcho {
  override wbufsize = 8192;
}

for (const Handler of [CarelessEcho, CarelessBufferedEcho]) {
  Deno.test(
    `ThreadingTCPServer: a handler that does not await its writes${
      Handler === CarelessBufferedEcho ? " (wbufsize 8192)" : ""
    } echoes 16 MiB whole and in order to a client that reads while it sends (held back, never stuck)`,
    async () => {
      await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Handler);
      server.serveForever();
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
      const total = 16 * MIB;
      const sent = new Uint8Array(total);
      for (let i = 0; i < total; i++) {
        sent[i] = i % 1024 === 1023 ? 10 : 97 + (Math.floor(i / 1024) % 26);
      }
      const writing = (async () => {
        for (let n = 0; n < total;) n += await conn.write(sent.subarray(n, n + MIB));
        await conn.closeWrite();
      })();
      const received = new Uint8Array(total);
      let got = 0;
      const reading = (async () => {
        const buf = new Uint8Array(256 * 1024);
        for (;;) {
          const n = await conn.read(buf);
          if (n === null) return;
          received.set(buf.subarray(0, n), got);
          got += n;
        }
      })();
      try {
        await within(Promise.all([writing, reading]), 60_000, "the echo of 16 MiB");
        assert.equal(got, total);
        assert.ok(received.every((b, i) => b === sent[i]), "every byte back, in order");
      } finally {
        conn.close();
      }
    },
  );
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
