/**
 * Writes a handler does not await — the natural port of Python's
 * `self.wfile.write(...)` — are the library's to handle: when the client
 * resets under them, the failure is a drop through `handleDrop()`, never an
 * unhandled rejection that ends the process, and a long queue of them
 * settles at once instead of trying the dead connection write by write.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { StreamRequestHandler } from "../mod.ts";
import { ask } from "./_net.ts";
import { hasCommand, runCommand } from "./_process.ts";
import { errorName, RecordingServer } from "./_servers.ts";
import { until, within } from "./_wait.ts";

/** Connects, sends `line`, waits until `bytes` of the reply arrived, then
 * resets the connection (RST: SO_LINGER 0). Resolves once the socket is gone. */
function readSomeThenReset(port: number, line: string, bytes: number): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  let got = 0;
  const socket = net.connect(port, "127.0.0.1", () => socket.write(line));
  socket.on("data", (chunk: Uint8Array) => {
    got += chunk.length;
    if (got >= bytes && !socket.destroyed) {
      socket.pause();
      socket.resetAndDestroy();
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => resolve());
  return promise;
}

/** Answers `big` with 4 MiB in one write and `many` with 120,000 small
 * writes, none awaited; `ping` with `pong`, awaited. Then waits for the next
 * line, as a handler between requests does. */
class Careless extends StreamRequestHandler<RecordingServer> {
  override async handle() {
    for (;;) {
      const line = new TextDecoder().decode(await this.rfile.readline()).trim();
      if (line === "") return;
      if (line === "big") this.wfile.write(new Uint8Array(4 << 20).fill(0x61));
      else if (line === "many") {
        for (let i = 0; i < 120_000; i++) this.wfile.write("a reply line nobody waits for\n");
      } else await this.wfile.write("pong\n");
    }
  }
}

Deno.test("StreamRequestHandler: an unawaited wfile.write() of 4 MiB whose client reads 1 KiB and resets is one drop, and the server serves on", async () => {
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Careless);
  server.serveForever();
  const { port } = server.serverAddress;
  for (let round = 0; round < 3; round++) {
    await readSomeThenReset(port, "big\n", 1024);
    await server.dropped(round + 1);
    await until(() => server.activeRequests === 0, "the reset request to end");
    assert.equal(await ask(port, "ping"), "pong");
  }
  assert.deepEqual(server.errors, []);
  assert.equal(server.drops.length, 3, `drops: ${server.drops.map(errorName)}`);
  for (const drop of server.drops) {
    assert.ok(
      drop instanceof Deno.errors.BrokenPipe || drop instanceof Deno.errors.ConnectionReset,
      errorName(drop),
    );
  }
});

Deno.test("StreamRequestHandler: 120,000 queued unawaited writes end in one drop soon after the client resets, and other clients are served meanwhile", async () => {
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Careless);
  server.serveForever();
  const { port } = server.serverAddress;
  await readSomeThenReset(port, "many\n", 1024);
  // Before the fix the queue tried the dead socket write by write for over
  // 40 s, starving the loop: 10 s is a bound, not a measure
  await server.dropped(1, 10_000);
  assert.equal(await within(ask(port, "ping"), 10_000, "a reply during the settling"), "pong");
  await until(() => server.activeRequests === 0, "the reset request to end", 10_000);
  assert.deepEqual(server.errors, []);
  assert.equal(server.drops.length, 1, `drops: ${server.drops.map(errorName)}`);
});

Deno.test("StreamRequestHandler: a CPython client that resets under unawaited writes is a drop, and a CPython client is served after it", async () => {
  if (!hasCommand("python3")) return;
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Careless);
  server.serveForever();
  const { port } = server.serverAddress;
  const script = `
import socket, struct, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"big\\n")
got = 0
while got < 1024:
    got += len(s.recv(1024))
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"ping\\n")
print(s.makefile("rb").readline().decode().strip())
s.close()
`;
  const { code, stdout, stderr } = await runCommand("python3", ["-c", script, String(port)]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout.trim(), "pong");
  await server.dropped(1);
  assert.deepEqual(server.errors, []);
});
