/**
 * Disconnects are normal events: a reset in the middle of a read or of a
 * write reaches the handler as EOF or as a typed error it can catch, a
 * half-close is EOF with the write side still usable, other connections are
 * unaffected, and routine resets never reach `handleError()`.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, type TcpAddr } from "../mod.ts";
import { decoder, encoder, readToEnd, sendThenReset } from "./_net.ts";
import { errorName, RecordingServer } from "./_servers.ts";

class Echo extends StreamRequestHandler<RecordingServer> {
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

/** A well-behaved client: sends `count` lines one at a time, checks every
 * echo, returns how many came back right. */
async function converse(address: TcpAddr, count: number, tag: string): Promise<number> {
  const conn = await Deno.connect(address);
  const buffer = new Uint8Array(256);
  let right = 0;
  try {
    for (let i = 0; i < count; i++) {
      const line = `${tag} ${i}\n`;
      await conn.write(encoder.encode(line));
      let reply = "";
      while (!reply.endsWith("\n")) {
        const n = await conn.read(buffer);
        if (n === null) break;
        reply += decoder.decode(buffer.subarray(0, n));
      }
      if (reply === line) right++;
    }
  } finally {
    conn.close();
  }
  return right;
}

Deno.test("rfile.readline(): a reset in the middle of a line reaches the handler as EOF or a ConnectionReset it can catch", async () => {
  const seen: string[] = [];
  const done = Promise.withResolvers<void>();
  class Careful extends StreamRequestHandler<RecordingServer> {
    override async handle() {
      try {
        const line = await this.rfile.readline();
        seen.push(line.length === 0 || !line.includes(0x0a) ? "EOF" : "line");
      } catch (error) {
        seen.push(errorName(error));
      } finally {
        done.resolve();
      }
    }
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Careful);
  server.serveForever();

  await sendThenReset(server.serverAddress.port, "half a li");
  await done.promise;

  assert.equal(seen.length, 1);
  assert.ok(["EOF", "ConnectionReset"].includes(seen[0]), `the handler saw ${seen[0]}`);
  assert.equal(server.errors.length, 0);
});

Deno.test("wfile.write(): a reset in the middle of a large write rejects it with a typed error that goes to handleDrop()", async () => {
  const writing = Promise.withResolvers<void>();
  let written = 0;
  class Flood extends StreamRequestHandler<RecordingServer> {
    override async handle() {
      await this.rfile.readline();
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < 512; i++) { // bounded: 512 MB, far beyond any socket buffer
        if (i === 1) writing.resolve(); // the first megabyte is in the socket buffers
        written += await this.wfile.write(chunk);
      }
    }
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Flood);
  server.serveForever();

  await sendThenReset(server.serverAddress.port, "send me a lot\n", () => writing.promise);
  await server.dropped();

  assert.ok(written < 512 * (1 << 20), "the write stopped at the reset");
  const [drop] = server.drops;
  assert.ok(
    drop instanceof Deno.errors.BrokenPipe || drop instanceof Deno.errors.ConnectionReset,
    `the write failed with ${errorName(drop)}`,
  );
  assert.equal(server.errors.length, 0);
});

Deno.test("rfile: a half-closed client gets EOF on the server and still receives the reply", async () => {
  class Count extends StreamRequestHandler<RecordingServer> {
    override async handle() {
      let lines = 0;
      for await (const _ of this.rfile) lines++;
      await this.wfile.write(`${lines} lines\n`); // after the client's EOF
    }
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Count);
  server.serveForever();

  const conn = await Deno.connect(server.serverAddress);
  await conn.write(encoder.encode("one\ntwo\nthree\n"));
  await conn.closeWrite();
  const { bytes, error } = await readToEnd(conn);
  conn.close();

  assert.equal(decoder.decode(bytes), "3 lines\n");
  assert.equal(error, null);
  assert.equal(server.errors.length + server.drops.length, 0);
});

Deno.test("ThreadingTCPServer: twenty clients resetting mid-request leave a concurrent client unaffected and handleError() silent", async () => {
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Echo);
  server.serveForever();

  const address = server.serverAddress;
  const resets = Array.from(
    { length: 20 },
    (_, i) => sendThenReset(address.port, `request ${i}\nand then half`),
  );
  const [right] = await Promise.all([converse(address, 50, "steady"), ...resets]);
  await server.shutdown();
  await server.serverClose({ graceMs: 5000 }); // every handler has ended

  assert.equal(right, 50, "every echo to the well-behaved client was right");
  assert.equal(server.errors.length, 0, `handleError() got ${server.errors.map(errorName)}`);
  for (const drop of server.drops) {
    assert.ok(
      drop instanceof Deno.errors.ConnectionReset || drop instanceof Deno.errors.BrokenPipe,
      `dropped for ${errorName(drop)}`,
    );
  }
});
