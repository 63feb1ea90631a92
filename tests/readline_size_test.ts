/**
 * `readline(size)` as Python's buffered files have it: a size cuts the line
 * (at most `size` bytes), -1 means no size, 0 an empty line; without a size
 * the `maxLineLength` guard refuses an over-long line.
 */
import assert from "node:assert/strict";
import {
  BufferedReader,
  LineTooLongError,
  StreamRequestHandler,
  ThreadingTCPServer,
} from "../mod.ts";
import { decoder, encoder, readToEnd, writeAll } from "./_net.ts";
import { hasCommand, runCommand } from "./_process.ts";

/** A source handing out `input` `step` bytes per read, counting the reads. */
function chunked(input: Uint8Array, step: number) {
  let at = 0;
  return {
    reads: 0,
    read(p: Uint8Array): Promise<number | null> {
      this.reads++;
      if (at >= input.length) return Promise.resolve(null);
      const n = Math.min(step, p.length, input.length - at);
      p.set(input.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

const text = (b: Uint8Array) => decoder.decode(b);

Deno.test("readline(65537) returns the first 65537 bytes of a longer line, as http.server relies on", async () => {
  const line = "G".repeat(70_000) + "\n";
  const reader = new BufferedReader(chunked(encoder.encode(line + "next\n"), 4096));
  const first = await reader.readline(65537);
  assert.equal(first.length, 65537);
  assert.equal(first.includes(0x0a), false);
  // the rest of the line is still there, as Python leaves it
  assert.equal((await reader.readline(65537)).length, 70_001 - 65537);
  assert.equal(text(await reader.readline(65537)), "next\n");
  assert.equal((await reader.readline(65537)).length, 0);
});

Deno.test("readline(n) returns a line whose newline comes within n bytes whole, as Python does", async () => {
  const reader = new BufferedReader(chunked(encoder.encode("abc\ndefgh\nij"), 3), {
    bufferSize: 4,
  });
  assert.equal(text(await reader.readline(4)), "abc\n");
  assert.equal(text(await reader.readline(4)), "defg"); // cut: no newline within 4 bytes
  assert.equal(text(await reader.readline(4)), "h\n");
  assert.equal(text(await reader.readline(4)), "ij"); // EOF: what is left
  assert.equal((await reader.readline(4)).length, 0);
});

Deno.test("readline(n) never throws LineTooLongError: the size bounds the line, as in Python", async () => {
  const reader = new BufferedReader(chunked(encoder.encode("x".repeat(1000) + "\n"), 64), {
    bufferSize: 16,
    maxLineLength: 100,
  });
  const parts: number[] = [];
  for (;;) {
    const part = await reader.readline(300);
    if (part.length === 0) break;
    parts.push(part.length);
  }
  assert.deepEqual(parts, [300, 300, 300, 101]);
});

Deno.test("readline(-1) reads a whole line as Python's no-size readline does, under the maxLineLength guard", async () => {
  const reader = new BufferedReader(chunked(encoder.encode("one\n" + "y".repeat(50) + "\n"), 7), {
    maxLineLength: 20,
  });
  assert.equal(text(await reader.readline(-1)), "one\n");
  await assert.rejects(reader.readline(-1), LineTooLongError);
  await assert.rejects(reader.readline(null), LineTooLongError); // None, as Python spells it
});

Deno.test("readline(0) returns an empty line without reading, as Python does", async () => {
  const source = chunked(encoder.encode("data\n"), 5);
  const reader = new BufferedReader(source);
  assert.equal((await reader.readline(0)).length, 0);
  assert.equal(source.reads, 0);
  assert.equal(text(await reader.readline()), "data\n");
});

Deno.test("readline(size) refuses a size that is not an integer, as Python's TypeError does", async () => {
  const reader = BufferedReader.from(encoder.encode("a\n"));
  await assert.rejects(reader.readline(1.5), TypeError);
  await assert.rejects(reader.readline(Number.NaN), TypeError);
  await assert.rejects(reader.readline("10" as unknown as number), TypeError);
  assert.equal(text(await reader.readline()), "a\n");
});

Deno.test("readline(n) on a datagram's rfile cuts the packet's line, as Python's does", async () => {
  const reader = BufferedReader.from(encoder.encode("hello world\n"));
  assert.equal(text(await reader.readline(5)), "hello");
  assert.equal(text(await reader.readline(100)), " world\n");
});

/** http.server's request-line check: read 65537 bytes, answer 414 when the
 * line is longer than 65536, as `BaseHTTPRequestHandler.handle_one_request`
 * does. */
class RequestLine extends StreamRequestHandler {
  override async handle() {
    const raw = await this.rfile.readline(65537);
    if (raw.length > 65536) {
      await this.wfile.write("HTTP/1.0 414 Request-URI Too Long\r\nConnection: close\r\n\r\n");
      return;
    }
    await this.wfile.write(`HTTP/1.0 200 OK\r\nContent-Length: ${raw.length}\r\n\r\n`);
  }
}

Deno.test("readline(65537) lets a handler answer 414 to a request line over 65536 bytes, as http.server does", async () => {
  await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, RequestLine);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  await writeAll(conn, encoder.encode(`GET /${"a".repeat(70_000)} HTTP/1.0\r\n\r\n`));
  const { bytes } = await readToEnd(conn);
  conn.close();
  assert.match(text(bytes), /^HTTP\/1\.0 414 /);
});

Deno.test({
  name: "readline(65537) answers curl's over-long URL with 414, as http.server does",
  ignore: !hasCommand("curl"),
  async fn() {
    await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, RequestLine);
    server.serveForever();
    const url = `http://127.0.0.1:${server.serverAddress.port}/${"a".repeat(70_000)}`;
    const long = await runCommand("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", url]);
    assert.equal(long.stdout, "414");
    const short = await runCommand("curl", [
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      url.slice(0, 60),
    ]);
    assert.equal(short.stdout, "200");
  },
});
