/**
 * `sendall()` and `wfile.write()` given bytes in a form other than a `Uint8Array`, as a port of
 * Python passes them: Python's `sendall()` takes any bytes-like object (`bytes`, `bytearray`,
 * `memoryview`), and the nearest JavaScript has are an `ArrayBuffer` (`await blob.arrayBuffer()`),
 * a `DataView` (`struct.pack`'s stand-in) or another typed array. The types refuse them, but
 * `deno run` does not type-check: `sendall()` resolved having sent nothing, so the reply was lost
 * in silence. Both must refuse them with a `TypeError` that says what to pass.
 */
import assert from "node:assert/strict";
import { sendall, StreamRequestHandler, TCPServer } from "../mod.ts";
import { readAllText } from "./_net.ts";

const notBytes: [string, () => unknown][] = [
  ["an ArrayBuffer", () => new TextEncoder().encode("hi").buffer],
  ["a DataView", () => new DataView(new ArrayBuffer(4))],
  ["a Uint16Array", () => new Uint16Array([0x6968])],
  ["a number", () => 42],
];

for (const [what, make] of notBytes) {
  Deno.test(`sendall() refuses ${what} with a TypeError instead of sending nothing`, async () => {
    const written: Uint8Array[] = [];
    const sink = { write: (p: Uint8Array) => (written.push(p), Promise.resolve(p.length)) };
    await assert.rejects(sendall(sink, make() as never), (error: Error) => {
      assert.ok(error instanceof TypeError, `a TypeError, got ${error}`);
      assert.match(error.message, /Uint8Array/);
      return true;
    });
    assert.deepEqual(written, []);
  });
}

Deno.test("wfile.write() refuses an ArrayBuffer with a TypeError naming Uint8Array, reported to handleError()", async () => {
  const errors: unknown[] = [];
  class Replies extends StreamRequestHandler {
    override async handle() {
      await this.wfile.write(new TextEncoder().encode("hi\n").buffer as never);
    }
  }
  class Server extends TCPServer {
    override handleError(_request: Deno.TcpConn, _client: Deno.NetAddr, error: unknown) {
      errors.push(error);
    }
  }
  await using server = new Server(["127.0.0.1", 0], Replies);
  const client = await Deno.connect(server.serverAddress);
  try {
    await server.handleRequest();
    assert.equal(await readAllText(client), "");
  } finally {
    client.close();
  }
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof TypeError);
  assert.match((errors[0] as Error).message, /wfile\.write\(\) takes a Uint8Array or a string/);
});
