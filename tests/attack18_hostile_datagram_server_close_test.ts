/**
 * A datagram handler that awaits anything (a lookup, a timer, another
 * promise) and then `this.server.serverClose()` — a "quit" command — never
 * returned: by then the request loop had gone back to a receive on the socket,
 * which `serverClose()` waits for (it serves what the pending receive takes,
 * docs/deployment.md); but a datagram server keeps its socket open until its
 * requests in flight end, for their replies, and the request in flight was
 * the one awaiting `serverClose()`. Each waited for the other: the reply was
 * never sent and `serveForever()`'s caller never got past its own
 * `serverClose()`. (Without the await before it, the loop had not gone back
 * to a receive yet, which is why docs/porting.md's promise held in the tests.)
 */
import assert from "node:assert/strict";
import {
  DatagramRequestHandler,
  type DatagramServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
} from "../mod.ts";
import { withTempDir } from "./_files.ts";
import { within } from "./_wait.ts";

class Quit extends DatagramRequestHandler<DatagramServer> {
  override async handle() {
    await new Promise((resolve) => setTimeout(resolve, 0)); // any await, as real handlers have
    await this.wfile.write("bye");
    await this.server.serverClose();
  }
}

async function quitOnce(
  server: {
    serveForever(): Promise<void>;
    serverClose(options?: { graceMs?: number; lingerMs?: number }): Promise<void>;
  },
  client: Deno.DatagramConn,
  to: Deno.Addr,
): Promise<void> {
  const serving = server.serveForever();
  try {
    await client.send(new TextEncoder().encode("quit"), to);
    const [reply] = await within(client.receive(), 10_000, "the reply");
    assert.equal(new TextDecoder().decode(reply), "bye");
    await within(serving, 10_000, "serveForever() to return");
    await within(server.serverClose(), 10_000, "serverClose() from outside to return");
  } finally {
    client.close();
    await server.serverClose({ graceMs: 0, lingerMs: 0 });
  }
}

Deno.test("ThreadingUDPServer: a handler that awaits something and then serverClose() returns, and its reply is sent", async () => {
  const server = new ThreadingUDPServer({ hostname: "127.0.0.1", port: 0 }, Quit);
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await quitOnce(server, client, server.serverAddress);
});

Deno.test("ThreadingUnixDatagramServer: a handler that awaits something and then serverClose() returns, and its reply is sent", async () => {
  await withTempDir(async (dir) => {
    const server = new ThreadingUnixDatagramServer({ path: `${dir}/server.sock` }, Quit);
    const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
    await quitOnce(server, client, server.serverAddress);
  });
});
