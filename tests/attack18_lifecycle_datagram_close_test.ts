/**
 * `serverClose()` of a ThreadingMixIn datagram server that does not block on close
 * (`blockOnClose: false` or `daemonThreads: true`): docs/concurrency.md says it returns as soon as
 * the socket is closed, the handlers still running going on to the end. A datagram server keeps
 * its socket open for the replies of the handlers in flight, so the receive pending when the
 * server closed stays pending until the last of them ends; `serverClose()` waited for that
 * receive, and so for every handler in flight, as if it blocked.
 */
import assert from "node:assert/strict";
import {
  type AnyServer,
  DatagramRequestHandler,
  type ThreadingServerOptions,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
} from "../mod.ts";
import { decoder, encoder } from "./_net.ts";
import { until, within } from "./_wait.ts";

type Kind = "udp" | "unixpacket";

for (const kind of ["udp", "unixpacket"] as Kind[]) {
  for (const options of [{ blockOnClose: false }, { daemonThreads: true }]) {
    const name = kind === "udp" ? "ThreadingUDPServer" : "ThreadingUnixDatagramServer";
    Deno.test(
      `serverClose() of a ${name} with ${
        JSON.stringify(options)
      } returns while a handler still runs, which then finishes and replies`,
      async () => {
        const dir = kind === "unixpacket" ? await Deno.makeTempDir() : null;
        const entered = Promise.withResolvers<void>();
        const release = Promise.withResolvers<void>();
        class Held extends DatagramRequestHandler<AnyServer> {
          override async handle() {
            entered.resolve();
            await release.promise;
            await this.wfile.write(decoder.decode(this.packet).toUpperCase());
          }
        }
        const server = kind === "udp"
          ? new ThreadingUDPServer(["127.0.0.1", 0], Held, options as ThreadingServerOptions)
          : new ThreadingUnixDatagramServer(
            { path: `${dir}/server.sock` },
            Held,
            options as ThreadingServerOptions,
          );
        const client = kind === "udp"
          ? Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
          : Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
        try {
          const serving = server.serveForever();
          await client.send(encoder.encode("late"), server.serverAddress as Deno.Addr);
          await within(entered.promise, 10_000, "the handler to start");
          await server.shutdown();
          await serving;
          await within(
            server.serverClose(),
            5_000,
            "serverClose() not to wait for the handler in flight",
          );
          assert.equal(server.activeRequests, 1, "the handler still runs after the close");
          release.resolve();
          const [reply] = await within(client.receive(), 10_000, "the late reply");
          assert.equal(decoder.decode(reply), "LATE", "it finishes its work and replies");
        } finally {
          release.resolve();
          // the socket closes once the last handler is done: wait for it before the next test
          await server.serverClose({ graceMs: 5_000 });
          await until(() => server.activeRequests === 0, "the handler to end");
          client.close();
          if (dir !== null) await Deno.remove(dir, { recursive: true });
        }
      },
    );
  }
}
