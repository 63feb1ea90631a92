/**
 * A buffered `wfile` (`wbufsize` > 0, Python's too) written without
 * awaiting, as a Python port writes it (`self.wfile.write(...)` three times).
 * A write that must flush first awaits that flush and then copies its
 * bytes into the buffer without looking again: the writes made meanwhile
 * went into the buffer before it (reordered), a resolved write can land in
 * a buffer the handler's finish() already closed (lost), and one that no
 * longer fits overflows it (`RangeError: offset is out of bounds`, an
 * unhandled rejection that ends the process). Python's `BufferedWriter` is
 * synchronous: none of this happens there.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, type StreamServer, StreamWriter, TCPServer } from "../mod.ts";
import { readToEnd } from "./_net.ts";
import { runDenoSource } from "./_process.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const decoder = new TextDecoder();

Deno.test("StreamWriter({ bufferSize }): writes made without awaiting each other all resolve and reach the sink whole, in call order", async () => {
  const sent: Uint8Array[] = [];
  // a socket: each write completes a turn of the event loop later
  const sink = {
    write: (p: Uint8Array) =>
      new Promise<number>((resolve) => setTimeout(() => (sent.push(p.slice()), resolve(p.length)))),
  };
  const wfile = new StreamWriter(sink, { bufferSize: 10 });
  const writes = [wfile.write("aaaa\n"), wfile.write("bbbbbbb\n"), wfile.write("cc\n")];
  const outcomes = await Promise.allSettled(writes);
  await wfile.flush();
  assert.deepEqual(
    outcomes.map((o) => o.status === "fulfilled" ? o.value : `rejected: ${o.reason}`),
    [5, 8, 3],
  );
  assert.equal(decoder.decode(new Uint8Array(sent.flatMap((b) => [...b]))), "aaaa\nbbbbbbb\ncc\n");
});

Deno.test("StreamRequestHandler with wbufsize: three writes it does not await reach the client whole and in order (the second was lost)", async () => {
  class Buffered extends StreamRequestHandler<StreamServer> {
    override wbufsize = 10;
    override handle() {
      this.wfile.write("aaaa\n");
      this.wfile.write("bbbbbbb\n");
      this.wfile.write("cc\n");
    }
  }
  await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Buffered);
  const handled = server.handleRequest();
  const conn = await Deno.connect(server.serverAddress);
  try {
    const { bytes, error } = await readToEnd(conn);
    assert.equal(error, null);
    assert.equal(decoder.decode(bytes), "aaaa\nbbbbbbb\ncc\n");
  } finally {
    conn.close();
    await handled;
  }
});

Deno.test("StreamRequestHandler with wbufsize: unawaited writes followed by more work do not end the process (RangeError: offset is out of bounds)", async () => {
  const program = `
import { StreamRequestHandler, ThreadingTCPServer } from "${MOD}";
class Buffered extends StreamRequestHandler {
  override wbufsize = 10;
  override async handle() {
    this.wfile.write("aaaa\\n");
    this.wfile.write("bbbbbbb\\n");
    this.wfile.write("cc\\n");
    await new Promise((resolve) => setTimeout(resolve, 50)); // more work before it returns
  }
}
const server = new ThreadingTCPServer(["127.0.0.1", 0], Buffered);
server.serveForever();
const conn = await Deno.connect(server.serverAddress);
const reply = await new Response(conn.readable).text();
await server.shutdown();
await server.serverClose();
console.log(JSON.stringify(reply));
`;
  const { code, stdout, stderr } = await runDenoSource(program, ["--allow-net=127.0.0.1"]);
  assert.equal(
    stdout.trim(),
    JSON.stringify("aaaa\nbbbbbbb\ncc\n"),
    `exit code ${code}: ${stderr.split("\n").slice(0, 2).join(" / ")}`,
  );
  assert.equal(code, 0);
});
