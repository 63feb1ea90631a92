/**
 * The graceful stop's promise — "every byte of a write that resolved
 * reaches the client", "the one in flight is finished first, so that no
 * reply is cut in two" — attacked with the two write paths the docs
 * recommend besides an unbuffered `wfile`: a buffered `wfile`
 * (`wbufsize`, Python's too) and `sendall()` on a raw connection (the
 * seed's handler, the README's first example).
 */
import assert from "node:assert/strict";
import { BaseRequestHandler, sendall, StreamRequestHandler, type StreamServer } from "../mod.ts";
import { RecordingServer } from "./_servers.ts";
import { until, within } from "./_wait.ts";

const encoder = new TextEncoder();
const LOCAL = { hostname: "127.0.0.1", port: 0 };
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads slowly until EOF, then half-closes (which ends the server's
 * lingering read); counts the bytes. */
function slowReader(conn: Deno.Conn, delayMs = 2) {
  const state = { received: 0, error: null as unknown, bytes: [] as Uint8Array[] };
  const done = (async () => {
    const buffer = new Uint8Array(16 * 1024);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        state.received += n;
        state.bytes.push(buffer.slice(0, n));
        if (delayMs > 0) await pause(delayMs);
      }
      await conn.closeWrite();
    } catch (error) {
      state.error = error;
    }
  })();
  return { state, done };
}

Deno.test("serverClose({ graceMs, lingerMs }) delivers a reply a buffered wfile (wbufsize) accepted before the deadline", async () => {
  const held = Promise.withResolvers<void>();
  let accepted = 0;
  class Buffered extends StreamRequestHandler<StreamServer> {
    override wbufsize = 64 * 1024;
    override async handle() {
      await this.rfile.readline();
      accepted = await this.wfile.write("reply 1\n"); // resolved: the writer took it
      await held.promise; // slow work; finish() would flush after it
    }
  }
  const server = new RecordingServer(LOCAL, Buffered);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await conn.write(encoder.encode("request\n"));
    const reader = slowReader(conn, 0);
    await until(() => accepted > 0, "the handler's write to resolve");
    await server.shutdown();
    await within(
      server.serverClose({ graceMs: 100, lingerMs: 2_000 }),
      10_000,
      "serverClose() to return",
    );
    await within(reader.done, 5_000, "the client to read to EOF");
    const text = new TextDecoder().decode(
      new Uint8Array(reader.state.bytes.flatMap((b) => [...b])),
    );
    assert.equal(text, "reply 1\n", "the write resolved before the deadline, so its bytes arrive");
  } finally {
    held.resolve();
    conn.close();
  }
});

Deno.test("serverClose({ graceMs, lingerMs }) lets a sendall() in flight at the deadline finish: no reply is cut in two", async () => {
  const SIZE = 8 << 20;
  let resolved = 0;
  class Seed extends BaseRequestHandler<StreamServer> {
    override async handle() {
      const one = new Uint8Array(1);
      await this.request.read(one);
      for (let i = 0; i < 4; i++) {
        await sendall(this.request, new Uint8Array(SIZE).fill(0x41 + i));
        resolved += SIZE;
      }
    }
  }
  const server = new RecordingServer(LOCAL, Seed);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await conn.write(new Uint8Array([1]));
    const reader = slowReader(conn); // about 8 MB/s
    await until(() => reader.state.received > 0, "the first bytes of the reply");
    await server.shutdown();
    await within(
      server.serverClose({ graceMs: 100, lingerMs: 15_000 }),
      30_000,
      "serverClose() to return",
    );
    await within(reader.done, 30_000, "the client to read to EOF");
    assert.equal(reader.state.error, null, `the client's read failed: ${reader.state.error}`);
    assert.ok(
      reader.state.received >= resolved,
      `every sendall() that resolved arrives: ${reader.state.received} < ${resolved}`,
    );
    assert.equal(
      reader.state.received % SIZE,
      0,
      `a reply was cut: ${reader.state.received} bytes is ${
        (reader.state.received / SIZE).toFixed(3)
      } replies of ${SIZE}`,
    );
  } finally {
    conn.close();
  }
});
