/**
 * The fault-proofing attacked from outside: clients the library did not
 * write (socat), a plain TCPServer, a `writeTimeout` firing during a
 * graceful stop, and `serverClose()` while TLS handshakes are stalled.
 */
import assert from "node:assert/strict";
import {
  StreamRequestHandler,
  type StreamServer,
  TCPServer,
  ThreadingTLSServer,
  TimeoutError,
} from "../mod.ts";
import { readLineWithin } from "./_net.ts";
import { hasCommand } from "./_process.ts";
import { errorName, RecordingServer } from "./_servers.ts";
import { cert, key } from "./_tls.ts";
import { until, within } from "./_wait.ts";

const encoder = new TextEncoder();

/** Answers `big` with 4 MiB it does not await, `ping` with `pong`. */
class Careless extends StreamRequestHandler<StreamServer> {
  override async handle() {
    for (;;) {
      const line = new TextDecoder().decode(await this.rfile.readline()).trim();
      if (line === "") return;
      if (line === "big") this.wfile.write(new Uint8Array(4 << 20).fill(0x61));
      else await this.wfile.write("pong\n");
    }
  }
}

Deno.test("StreamRequestHandler: socat killed while an unawaited 4 MiB write is in flight is a drop, and the server serves on", async () => {
  if (!hasCommand("socat")) return;
  class Recording extends RecordingServer {}
  await using server = new Recording({ hostname: "127.0.0.1", port: 0 }, Careless);
  server.serveForever();
  const { port } = server.serverAddress;
  for (let round = 0; round < 3; round++) {
    // socat sends the request and reads nothing: its receive buffer fills,
    // and killing it with unread input resets the connection
    const socat = new Deno.Command("socat", {
      args: ["-u", "STDIN", `TCP:127.0.0.1:${port}`],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const stdin = socat.stdin.getWriter();
    await stdin.write(encoder.encode("big\n"));
    await until(() => server.activeRequests > 0, "socat's connection", 10_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    socat.kill("SIGKILL");
    await socat.status;
    await stdin.close().catch(() => {});
    await server.dropped(round + 1);
    await until(() => server.activeRequests === 0, "the request to end", 10_000);
  }
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("ping\n"));
  assert.equal(await readLineWithin(conn), "pong");
  conn.close();
  assert.deepEqual(server.errors, []);
  assert.equal(server.drops.length, 3, server.drops.map(errorName).join());
});

Deno.test("TCPServer (one request at a time): an unawaited write failing after a reset is a drop, and the next client is served", async () => {
  const drops: unknown[] = [];
  const errors: unknown[] = [];
  class Plain extends TCPServer {
    override handleDrop(_r: Deno.TcpConn, _a: Deno.NetAddr, error: unknown) {
      drops.push(error);
    }
    override handleError(_r: Deno.TcpConn, _a: Deno.NetAddr, error: unknown) {
      errors.push(error);
    }
  }
  await using server = new Plain({ hostname: "127.0.0.1", port: 0 }, Careless);
  server.serveForever();
  const { port } = server.serverAddress;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("big\n"));
  await conn.read(new Uint8Array(1024));
  // close with unread input: a reset
  conn.close();
  await until(() => drops.length === 1, "the drop", 10_000);
  const next = await Deno.connect({ hostname: "127.0.0.1", port });
  await next.write(encoder.encode("ping\n"));
  assert.equal(await readLineWithin(next), "pong");
  next.close();
  assert.deepEqual(errors, []);
});

/** A line echo whose writes time out after 200 ms, recording when the write
 * in flight began: the server side knows when its write is stuck. */
class StuckEcho extends StreamRequestHandler {
  static written = 0;
  /** When the write in flight began (performance.now()), or null. */
  static writingSince: number | null = null;
  override writeTimeout = 200;
  override async handle() {
    for await (const line of this.rfile) {
      StuckEcho.writingSince = performance.now();
      StuckEcho.written += await this.wfile.write(line);
      StuckEcho.writingSince = null;
    }
  }
}

/** A client that pipelines 64-byte lines and reads nothing until told,
 * until the server's write in flight has waited `stuckMs`. */
async function floodUntilStuck(server: RecordingServer, stuckMs: number) {
  StuckEcho.written = 0;
  StuckEcho.writingSince = null;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
  const request = encoder.encode("x".repeat(63) + "\n");
  const batch = new Uint8Array(request.length * 4096);
  for (let i = 0; i < 4096; i++) batch.set(request, i * request.length);
  let sending = true;
  const sender = (async () => {
    try {
      while (sending) for (let n = 0; n < batch.length;) n += await conn.write(batch.subarray(n));
    } catch {
      // the server shut its side
    }
  })();
  // Polled every millisecond: the poll that sees the write stuck for stuckMs
  // was due before the writer's 200 ms timer, so it runs first however late
  // the event loop is
  await until(
    () => {
      const since = StuckEcho.writingSince;
      return StuckEcho.written > 0 && since !== null && performance.now() - since >= stuckMs;
    },
    "the server's write to be stuck",
    20_000,
  );
  return {
    conn,
    /** Reads to EOF; stops the sender. */
    async drain() {
      let received = 0;
      let endedBy = "EOF";
      try {
        const buffer = new Uint8Array(64 * 1024);
        for (let n; (n = await within(conn.read(buffer), 10_000, "EOF")) !== null;) received += n;
      } catch (error) {
        endedBy = errorName(error);
      }
      sending = false;
      conn.close();
      await sender;
      return { received, endedBy };
    },
  };
}

/** Every resolved write arrived; so did the one that timed out in flight (it
 * could not be taken back, and it was not cut): one line more at most. */
function assertWhole(received: number, endedBy: string) {
  const written = StuckEcho.written;
  assert.equal(endedBy, "EOF");
  assert.ok(received >= written, `received ${received} of ${written} bytes written`);
  assert.ok(
    received - written <= 64 && received % 64 === 0,
    `received ${received}, written ${written}`,
  );
}

Deno.test("serverClose({ graceMs, lingerMs }): a writeTimeout running out during the linger does not close the connection under it; every resolved write arrives, and none is cut", async () => {
  const server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, StuckEcho);
  const serving = server.serveForever();
  const client = await floodUntilStuck(server, 100);
  await server.shutdown();
  const closing = server.serverClose({ graceMs: 0, lingerMs: 10_000 });
  await server.dropped(1, 10_000); // the writeTimeout runs out, during the linger
  const { received, endedBy } = await client.drain();
  await closing;
  await serving;
  assert.ok(server.drops[0] instanceof TimeoutError, `dropped by ${String(server.drops[0])}`);
  assertWhole(received, endedBy);
});

Deno.test("serverClose({ graceMs: 0 }) owns the connections at once: a writeTimeout already due when it is called (an event loop running late) does not close one under the linger", async () => {
  const server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, StuckEcho);
  const serving = server.serveForever();
  const client = await floodUntilStuck(server, 100);
  await server.shutdown();
  // a late event loop: the writer's 200 ms timer is due before serverClose() is called
  const due = StuckEcho.writingSince! + 250;
  while (performance.now() < due) {
    // busy: no timer can run
  }
  const closing = server.serverClose({ graceMs: 0, lingerMs: 10_000 });
  await server.dropped(1, 10_000);
  const { received, endedBy } = await client.drain();
  await closing;
  await serving;
  assertWhole(received, endedBy);
});

Deno.test("ThreadingTLSServer: serverClose() with connections whose handshake stalled past handshakeTimeout returns without waiting for their clients", async () => {
  const server = new ThreadingTLSServer({ hostname: "127.0.0.1", port: 0 }, Careless, {
    cert,
    key,
    handshakeTimeout: 50,
    maxConnections: 4,
  });
  let drops = 0;
  server.handleDrop = () => void drops++;
  const serving = server.serveForever();
  const silent: Deno.TcpConn[] = [];
  for (let i = 0; i < 4; i++) {
    silent.push(await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port }));
  }
  await until(() => drops === 4, "four handshake timeouts", 10_000);
  assert.equal(server.activeRequests, 0); // over, though their slots stay taken
  await server.shutdown();
  await within(server.serverClose(), 10_000, "serverClose()");
  await serving;
  for (const conn of silent) conn.close();
});
