/**
 * Writes a handler does not await, attacked where the library's
 * unhandled-rejection net has a hole: a write to a `wfile` whose handler has
 * finished (a chat broadcast reaching a member who just left — Python's
 * `for member in members: member.wfile.write(line)`). The rejection is not
 * one the net knows, so the process dies (run in a child process: an
 * unhandled rejection would end the test runner too). And a `sendall()` a
 * handler does not await — Python's `self.request.sendall(data)` blocks, so
 * its port forgets the await — is cut silently when the handler returns:
 * the server shuts the connection between two of its partial writes.
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  sendall,
  type StreamServer,
  TCPServer,
  ThreadingTCPServer,
} from "../mod.ts";
import { readToEnd } from "./_net.ts";
import { runDenoSource } from "./_process.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

Deno.test("StreamWriter.write() not awaited, on the wfile of a handler that has finished (a broadcast to a member who left), does not end the process", async () => {
  const program = `
import { StreamRequestHandler, ThreadingTCPServer } from "${MOD}";
const members = new Set<Room>();
const leaving = Promise.withResolvers<void>();
const said = Promise.withResolvers<void>();
class Room extends StreamRequestHandler {
  override async handle() {
    members.add(this);
    for await (const line of this.rfile) {
      for (const member of members) if (member !== this) member.wfile.write(line); // not awaited
      said.resolve();
    }
  }
  override async finish() {
    await super.finish();
    leaving.resolve();
    await said.promise; // cleanup that takes a moment (a log, a database) before it leaves the room
    members.delete(this);
  }
}
const server = new ThreadingTCPServer(["127.0.0.1", 0], Room);
server.serveForever();
const alice = await Deno.connect(server.serverAddress);
const bob = await Deno.connect(server.serverAddress);
while (members.size < 2) await new Promise((resolve) => setTimeout(resolve, 1));
bob.close(); // bob leaves
await leaving.promise;
await alice.write(new TextEncoder().encode("hello\\n")); // alice speaks to the room
await said.promise;
await new Promise((resolve) => setTimeout(resolve, 100));
alice.close();
await server.shutdown();
await server.serverClose({ graceMs: 1000 });
console.log("served on");
`;
  const { code, stdout, stderr } = await runDenoSource(program, ["--allow-net=127.0.0.1"]);
  assert.equal(
    stdout.trim(),
    "served on",
    `the process ended (code ${code}): ${stderr.split("\n").slice(0, 3).join(" / ")}`,
  );
  assert.equal(code, 0);
});

for (const Server of [TCPServer, ThreadingTCPServer]) {
  Deno.test(`sendall() not awaited by a ${Server.name} handler (the port of self.request.sendall(data)) delivers all 8 MiB, as an unawaited wfile.write() does, instead of a silent cut`, async () => {
    const SIZE = 8 << 20;
    class Seed extends BaseRequestHandler<StreamServer> {
      override async handle() {
        const buffer = new Uint8Array(16);
        await this.request.read(buffer);
        sendall(this.request, new Uint8Array(SIZE).fill(0x61)); // the await is forgotten
      }
    }
    await using server = new Server({ hostname: "127.0.0.1", port: 0 }, Seed);
    server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    try {
      await conn.write(new TextEncoder().encode("hi\n"));
      const { bytes, error } = await readToEnd(conn, 20_000);
      assert.equal(error, null, `the client's read failed: ${error}`);
      assert.equal(bytes.length, SIZE, `${bytes.length} of ${SIZE} bytes arrived, then EOF`);
    } finally {
      conn.close();
    }
  });
}
