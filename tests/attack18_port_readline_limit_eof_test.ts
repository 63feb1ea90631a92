/**
 * `readline()` without a size and a last line with no newline, as a datagram is: `maxLineLength`
 * is "the longest line readline() accepts, newline included; a longer one throws", so a last line
 * of exactly `maxLineLength` bytes is accepted, as a line of `maxLineLength - 1` bytes and its
 * newline is; Python's readline() returns it (it has no limit). (On a connection the reader cannot
 * know EOF comes next without reading past the limit, which the limit forbids: there, exactly
 * `maxLineLength` bytes with no newline are refused, as tests/limits_test.ts holds it to.)
 */
import assert from "node:assert/strict";
import { BufferedReader, DatagramRequestHandler, LineTooLongError, UDPServer } from "../mod.ts";
import { decoder, encoder } from "./_net.ts";

Deno.test("readline() returns a last line of exactly maxLineLength bytes at EOF, and refuses one byte more", async () => {
  const exact = BufferedReader.from(encoder.encode("abcdefgh"), { maxLineLength: 8 });
  assert.equal(decoder.decode(await exact.readline()), "abcdefgh");
  assert.equal((await exact.readline()).length, 0);

  const longer = BufferedReader.from(encoder.encode("abcdefghi"), { maxLineLength: 8 });
  await assert.rejects(longer.readline(), LineTooLongError);

  const withNewline = BufferedReader.from(encoder.encode("abcdefgh\n"), { maxLineLength: 8 });
  await assert.rejects(withNewline.readline(), LineTooLongError); // 9 bytes, newline included
});

Deno.test("a datagram handler's rfile.readline() takes a packet of exactly maxLineLength bytes", async () => {
  let line = "";
  let failure: unknown = null;
  class LastLine extends DatagramRequestHandler {
    override maxLineLength = 8;
    override async handle() {
      try {
        line = decoder.decode(await this.rfile.readline());
      } catch (error) {
        failure = error;
      }
    }
  }
  await using server = new UDPServer(["127.0.0.1", 0], LastLine);
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client.send(encoder.encode("abcdefgh"), server.serverAddress);
    await server.handleRequest();
  } finally {
    client.close();
  }
  assert.equal(failure, null);
  assert.equal(line, "abcdefgh");
});
