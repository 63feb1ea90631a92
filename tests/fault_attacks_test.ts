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
  ThreadingTCPServer,
  ThreadingTLSServer,
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

Deno.test("serverClose({ graceMs, lingerMs }): a writeTimeout running out during the linger does not close the connection under it; every resolved write arrives, and none is cut", async () => {
  let written = 0;
  class Echo extends StreamRequestHandler {
    override writeTimeout = 200;
    override async handle() {
      for await (const line of this.rfile) written += await this.wfile.write(line);
    }
  }
  const server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Echo);
  const serving = server.serveForever();
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
  // read nothing until the server's writes stall, so that its write in
  // flight at the deadline waits past writeTimeout
  let last = -1;
  while (written !== last || written === 0) {
    last = written;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await server.shutdown();
  const closing = server.serverClose({ graceMs: 0, lingerMs: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 400)); // writeTimeout runs out meanwhile
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
  await closing;
  await serving;
  assert.equal(endedBy, "EOF");
  // every resolved write arrived; so did the one that timed out in flight
  // (it could not be taken back, and it was not cut): one line more at most
  assert.ok(received >= written, `received ${received} of ${written} bytes written`);
  assert.ok(
    received - written <= 64 && received % 64 === 0,
    `received ${received}, written ${written}`,
  );
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
