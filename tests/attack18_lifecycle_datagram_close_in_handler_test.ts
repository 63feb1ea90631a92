/**
 * request-flow.md: `serverClose()` "awaited inside a handler (`await this.server.serverClose()`),
 * it waits for every other request but not for the caller's own". On a ThreadingMixIn datagram
 * server whose loop had already started its next receive, it waited for that receive, which the
 * socket — kept open for the caller's own reply — never ends: the handler waited for itself, and
 * the server hung until some datagram happened to arrive.
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
  Deno.test(`serverClose() awaited in a ${name}'s handler, once the loop waits for the next datagram, returns and the handler replies`, async () => {
    const dir = kind === "unixpacket" ? await Deno.makeTempDir() : null;
    // the loop's next receive started: the second getRequest() call
    const receiving = Promise.withResolvers<void>();
    const closed = Promise.withResolvers<void>();
    class Closer extends DatagramRequestHandler<AnyServer> {
      override async handle() {
        await receiving.promise;
        await this.server.serverClose();
        closed.resolve();
        await this.wfile.write(decoder.decode(this.packet).toUpperCase());
      }
    }
    const server = kind === "udp"
      ? new ThreadingUDPServer(["127.0.0.1", 0], Closer)
      : new ThreadingUnixDatagramServer({ path: `${dir}/server.sock` }, Closer);
    const hooks = server as unknown as { getRequest(): Promise<unknown> };
    const getRequest = hooks.getRequest;
    let calls = 0;
    hooks.getRequest = function (this: unknown) {
      const taking = getRequest.call(this);
      if (++calls === 2) receiving.resolve();
      return taking;
    };
    const client = kind === "udp"
      ? Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
      : Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
    try {
      const serving = server.serveForever();
      await client.send(encoder.encode("bye"), server.serverAddress as Deno.Addr);
      await within(closed.promise, 5_000, "serverClose() in the handler to return");
      await serving;
      const [reply] = await within(client.receive(), 10_000, "the reply");
      assert.equal(decoder.decode(reply), "BYE");
      await within(server.serverClose(), 10_000, "serverClose() from outside, after");
      assert.equal(server.activeRequests, 0);
    } finally {
      // a datagram ends the receive the hang waited for: the server can then be closed
      await client.send(encoder.encode("unblock"), server.serverAddress as Deno.Addr)
        .catch(() => {});
      await server.serverClose({ graceMs: 1_000 });
      client.close();
      if (dir !== null) await Deno.remove(dir, { recursive: true });
    }
  });
}
