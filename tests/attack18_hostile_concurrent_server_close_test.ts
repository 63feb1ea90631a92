/**
 * Two clients send a server's "quit" command at once (two admins, or one
 * whose client retried on a new connection): each handler awaits
 * `this.server.serverClose()`, which "waits for the other requests, never for
 * its caller" (docs/porting.md) — so each waited for the other, for ever. The
 * listener was closed, nothing was served again, the two clients never got
 * their EOF and `serveForever()`'s caller never got past its own
 * `serverClose()`. A handler awaiting `serverClose()` is waiting to stop, not
 * serving: no other `serverClose()` from a handler should wait for it.
 */
import assert from "node:assert/strict";
import {
  DatagramRequestHandler,
  sendall,
  StreamRequestHandler,
  ThreadingTCPServer,
  ThreadingUDPServer,
} from "../mod.ts";
import { readAllText } from "./_net.ts";
import { within } from "./_wait.ts";

/** Resolves once `count` handlers have called `arrive()`. */
function meeting(count: number) {
  const all = Promise.withResolvers<void>();
  let arrived = 0;
  return {
    arrive(): Promise<void> {
      if (++arrived === count) all.resolve();
      return all.promise;
    },
  };
}

Deno.test("ThreadingTCPServer: two handlers that await serverClose() at once both return, and their clients get their replies and EOF", async () => {
  const both = meeting(2);
  class Quit extends StreamRequestHandler {
    override async handle() {
      await this.rfile.readline();
      await both.arrive();
      await this.wfile.write("bye\n");
      await this.server.serverClose();
    }
  }
  const server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Quit);
  const serving = server.serveForever();
  const quit = async () => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
    try {
      await sendall(conn, "quit\n");
      return await readAllText(conn, 10_000);
    } finally {
      conn.close();
    }
  };
  try {
    assert.deepEqual(
      await within(Promise.all([quit(), quit()]), 10_000, "both clients' EOF"),
      ["bye\n", "bye\n"],
    );
    await within(serving, 10_000, "serveForever() to return");
    await within(server.serverClose(), 10_000, "serverClose() from outside to return");
  } finally {
    await server.serverClose({ graceMs: 0, lingerMs: 0 });
  }
});

Deno.test("ThreadingUDPServer: two handlers that await serverClose() at once both return, and both replies are sent", async () => {
  const both = meeting(2);
  class Quit extends DatagramRequestHandler {
    override async handle() {
      await both.arrive();
      await this.wfile.write("bye");
      await this.server.serverClose();
    }
  }
  const server = new ThreadingUDPServer({ hostname: "127.0.0.1", port: 0 }, Quit);
  const serving = server.serveForever();
  const clients = [0, 1].map(() =>
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
  );
  try {
    for (const client of clients) {
      await client.send(new TextEncoder().encode("quit"), server.serverAddress);
    }
    const replies = await within(
      Promise.all(
        clients.map(async (client) => new TextDecoder().decode((await client.receive())[0])),
      ),
      10_000,
      "both replies",
    );
    assert.deepEqual(replies, ["bye", "bye"]);
    await within(serving, 10_000, "serveForever() to return");
    await within(server.serverClose(), 10_000, "serverClose() from outside to return");
  } finally {
    for (const client of clients) client.close();
    await server.serverClose({ graceMs: 0, lingerMs: 0 });
  }
});
