/**
 * datagrams.md: "`serverClose()` on a datagram server keeps the socket open until the requests in
 * flight have finished (at most `graceMs`), because their replies go out through it; nothing new
 * is received meanwhile." A ThreadingMixIn datagram server has a receive pending while its
 * handlers run; that receive stayed pending after the close, so the first datagram a client sent
 * afterwards — after `serveForever()` had returned — was received and handled like any other.
 */
import assert from "node:assert/strict";
import {
  type AnyServer,
  DatagramRequestHandler,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
} from "../mod.ts";
import { decoder, encoder } from "./_net.ts";
import { within } from "./_wait.ts";

for (const kind of ["udp", "unixpacket"] as const) {
  const name = kind === "udp" ? "ThreadingUDPServer" : "ThreadingUnixDatagramServer";
  Deno.test(`serverClose() of a ${name} with a handler in flight receives nothing new: a datagram sent after the close is not handled, the one in flight still replies`, async () => {
    const dir = kind === "unixpacket" ? await Deno.makeTempDir() : null;
    const seen: string[] = [];
    const entered = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    class Held extends DatagramRequestHandler<AnyServer> {
      override async handle() {
        const text = decoder.decode(this.packet);
        seen.push(text);
        if (text === "held") {
          entered.resolve();
          await release.promise;
        }
        await this.wfile.write(text.toUpperCase());
      }
    }
    const server = kind === "udp"
      ? new ThreadingUDPServer(["127.0.0.1", 0], Held)
      : new ThreadingUnixDatagramServer({ path: `${dir}/server.sock` }, Held);
    const client = kind === "udp"
      ? Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
      : Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
    const to = server.serverAddress as Deno.Addr;
    // the receive pending at the close (the second getRequest()): settles once it has the late
    // datagram, or fails, which is what the test awaits rather than a time
    const pendingSettled = Promise.withResolvers<void>();
    const hooks = server as unknown as { getRequest(): Promise<unknown> };
    const getRequest = hooks.getRequest;
    let calls = 0;
    hooks.getRequest = function (this: unknown) {
      const receiving = getRequest.call(this);
      const settled = () => pendingSettled.resolve();
      if (++calls === 2) receiving.then(settled, settled);
      return receiving;
    };
    try {
      const serving = server.serveForever();
      await client.send(encoder.encode("held"), to);
      await within(entered.promise, 10_000, "the held handler to start");
      const closing = server.serverClose();
      await serving;
      // the socket is still open for the held handler's reply: the datagram reaches it
      await client.send(encoder.encode("late"), to);
      // the socket is open (the held handler's reply goes out through it): the pending receive
      // takes the late datagram; whether it is then handled is the question
      await within(pendingSettled.promise, 10_000, "the pending receive to take the late datagram");
      assert.equal(calls, 2);
      release.resolve();
      const [reply] = await within(client.receive(), 10_000, "the held handler's reply");
      assert.equal(
        decoder.decode(reply),
        "HELD",
        "the first reply after the close: the held one's",
      );
      await within(closing, 10_000, "serverClose()");
      assert.deepEqual(seen, ["held"], "handled after the close: nothing but the one in flight");
      assert.equal(server.stats().accepted, 1);
    } finally {
      release.resolve();
      await server.serverClose({ graceMs: 5_000 });
      client.close();
      if (dir !== null) await Deno.remove(dir, { recursive: true });
    }
  });
}
