/**
 * Bounded reads: a line longer than the limit throws `LineTooLongError`, the
 * limit is settable per handler and per call, and a client sending 100 MB
 * without a newline costs the server no more than the limit.
 */
import assert from "node:assert/strict";
import {
  BufferedReader,
  type ByteSource,
  DEFAULT_MAX_LINE_LENGTH,
  LineTooLongError,
  StreamRequestHandler,
} from "../mod.ts";
import { decoder, encoder, readToEnd, RecordingServer } from "./_helpers.ts";

/** Wraps a source to record how much was read from it and how large the
 * reader's buffer ever was (the `ArrayBuffer` behind each read's target). */
class Probe implements ByteSource {
  bytesRead = 0;
  largestBuffer = 0;
  constructor(readonly source: ByteSource) {}
  async read(p: Uint8Array): Promise<number | null> {
    this.largestBuffer = Math.max(this.largestBuffer, p.buffer.byteLength);
    const n = await this.source.read(p);
    if (n !== null) this.bytesRead += n;
    return n;
  }
}

Deno.test("a client sending 100 MB without a newline costs the server no more than the line limit", async () => {
  const probes: Probe[] = [];
  class Lines extends StreamRequestHandler<RecordingServer> {
    override setup() {
      super.setup();
      const probe = new Probe(this.request);
      probes.push(probe);
      this.rfile = new BufferedReader(probe, { maxLineLength: this.maxLineLength });
    }
    override async handle() {
      for await (const line of this.rfile) await this.wfile.write(line);
    }
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Lines);
  server.serveForever();

  const conn = await Deno.connect(server.serverAddress);
  const chunk = new Uint8Array(1 << 20).fill(0x78); // "x", no newline anywhere
  let sent = 0;
  let writeError: unknown = null;
  try {
    while (sent < 100 * chunk.length) sent += await conn.write(chunk);
  } catch (error) {
    writeError = error; // the server dropped us: reset or broken pipe
  }
  await server.dropped();
  conn.close();

  assert.equal(server.errors.length, 0, "nothing reached handleError()");
  assert.ok(server.drops[0] instanceof LineTooLongError);
  assert.equal((server.drops[0] as LineTooLongError).limit, DEFAULT_MAX_LINE_LENGTH);
  const [probe] = probes;
  assert.ok(
    probe.largestBuffer <= DEFAULT_MAX_LINE_LENGTH,
    `the reader's buffer grew to ${probe.largestBuffer} bytes`,
  );
  assert.ok(
    probe.bytesRead <= DEFAULT_MAX_LINE_LENGTH,
    `the server read ${probe.bytesRead} bytes from the client`,
  );
  assert.ok(writeError !== null, "the client was cut off before it sent 100 MB");
  assert.ok(sent < 100 * chunk.length);
});

Deno.test("maxLineLength on a handler sets its limit: a line of exactly that length passes, one byte more is refused", async () => {
  const lengths: number[] = [];
  class Short extends StreamRequestHandler<RecordingServer> {
    override maxLineLength = 16;
    override async handle() {
      for await (const line of this.rfile) {
        lengths.push(line.length);
        await this.wfile.write(`${line.length}\n`);
      }
    }
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Short);
  server.serveForever();

  const conn = await Deno.connect(server.serverAddress);
  await conn.write(encoder.encode("a".repeat(15) + "\n" + "b".repeat(16) + "\n"));
  const reply = await readToEnd(conn);
  conn.close();
  await server.dropped();

  assert.deepEqual(lengths, [16]);
  assert.equal(decoder.decode(reply.bytes), "16\n");
  assert.ok(server.drops[0] instanceof LineTooLongError);
  assert.equal((server.drops[0] as LineTooLongError).limit, 16);
  assert.match((server.drops[0] as Error).message, /16 bytes.*maxLineLength/);
  assert.equal(server.errors.length, 0);
});

Deno.test("readline(limit) sets the limit for one call; the refused bytes stay readable", async () => {
  const seen: string[] = [];
  class PerCall extends StreamRequestHandler<RecordingServer> {
    override async handle() {
      const command = await this.rfile.readline(8); // short commands only
      seen.push(decoder.decode(command));
      try {
        await this.rfile.readline(8);
      } catch (error) {
        assert.ok(error instanceof LineTooLongError);
        seen.push(`refused at ${error.limit}`);
      }
      seen.push(decoder.decode(await this.rfile.readline())); // the default limit again
      await this.wfile.write("done\n");
    }
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, PerCall);
  server.serveForever();

  const conn = await Deno.connect(server.serverAddress);
  await conn.write(encoder.encode("GET\na long argument\n"));
  const reply = await readToEnd(conn);
  conn.close();

  assert.equal(decoder.decode(reply.bytes), "done\n");
  assert.deepEqual(seen, ["GET\n", "refused at 8", "a long argument\n"]);
  assert.equal(server.errors.length + server.drops.length, 0);
});
