/**
 * `finish()` and the writes a handler returned without awaiting: `finish()`
 * waits for them before it closes, and a failure of theirs, which no
 * caller observed, is a drop (`handleDrop()`), once per connection — not
 * lost because `finish()` waited on it. The final flush's own failure (of
 * buffered bytes whose writes resolved) is ignored, as Python's `finish()`
 * ignores it.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { sendall, StreamRequestHandler } from "../mod.ts";
import { runHandler } from "../testing.ts";
import { errorName, RecordingServer } from "./_servers.ts";
import { until, within } from "./_wait.ts";

const isReset = (error: unknown) =>
  error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe;

/** Reads a line, then writes 1 MiB to a buffered wfile (a write over its
 * buffer, which waits its turn) and returns without awaiting it. */
class CarelessBuffered extends StreamRequestHandler {
  override wbufsize = 1024;
  override async handle() {
    await this.rfile.readline();
    this.wfile.write(new Uint8Array(1 << 20));
  }
}

Deno.test("StreamRequestHandler: an unawaited buffered wfile.write() over wbufsize, still queued when the handler returns, to a client that resets, is a drop", async () => {
  await using run = runHandler(CarelessBuffered);
  await sendall(run.client, "go\n");
  assert.ok((await run.client.read(new Uint8Array(16)))! > 0);
  run.client.reset();
  const { drops } = await within(run.done, 5_000, "the request to end");
  assert.equal(drops.length, 1, `drops: ${drops.map(String)}`);
  assert.ok(isReset(drops[0]), String(drops[0]));
});

/** Sends three frames of 1 MiB it does not await, then returns. */
class CarelessFrames extends StreamRequestHandler {
  override async handle() {
    await this.rfile.readline();
    for (let i = 0; i < 3; i++) this.wfile.writeFrame(new Uint8Array(1 << 20));
  }
}

Deno.test("StreamRequestHandler: three unawaited wfile.writeFrame() calls failing after the handler returned are one drop, not three", async () => {
  await using run = runHandler(CarelessFrames);
  await sendall(run.client, "go\n");
  assert.ok((await run.client.read(new Uint8Array(16)))! > 0);
  run.client.reset();
  const { drops } = await within(run.done, 5_000, "the request to end");
  assert.equal(drops.length, 1, `drops: ${drops.map(String)}`);
});

/** Writes its reply to a buffered wfile (the write resolves at once) and
 * returns: `finish()` sends it. */
class BufferedReply extends StreamRequestHandler {
  override wbufsize = 1024;
  override async handle() {
    await this.rfile.readline();
    await this.wfile.write("reply\n");
  }
}

Deno.test("StreamRequestHandler.finish(): the final flush failing under a reset is ignored, as in Python, since no write of the handler failed", async () => {
  await using run = runHandler(BufferedReply);
  await sendall(run.client, "go\n");
  run.client.reset(); // before the handler's flush: "go\n" is still read
  assert.deepEqual(await within(run.done, 5_000, "the request to end"), { drops: [] });
});

/** Answers each line with 4 MiB it does not await, and returns. */
class CarelessBig extends StreamRequestHandler<RecordingServer> {
  override async handle() {
    await this.rfile.readline();
    this.wfile.write(new Uint8Array(4 << 20).fill(0x61));
  }
}

Deno.test("StreamRequestHandler over TCP: an unawaited 4 MiB wfile.write() of a handler that returned, to a Node client that reads 1 KiB and resets, is one drop", async () => {
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, CarelessBig);
  server.serveForever();
  const { promise: gone, resolve } = Promise.withResolvers<void>();
  let got = 0;
  const socket = net.connect(server.serverAddress.port, "127.0.0.1", () => socket.write("go\n"));
  socket.on("data", (chunk: Uint8Array) => {
    got += chunk.length;
    if (got >= 1024 && !socket.destroyed) {
      socket.pause();
      socket.resetAndDestroy();
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => resolve());
  await within(gone, 10_000, "the client to reset");
  await server.dropped(1);
  await until(() => server.activeRequests === 0, "the request to end");
  assert.deepEqual(server.errors, []);
  assert.equal(server.drops.length, 1, `drops: ${server.drops.map(errorName)}`);
  assert.ok(isReset(server.drops[0]), errorName(server.drops[0]));
});
