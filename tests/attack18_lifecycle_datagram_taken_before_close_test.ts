/**
 * `await server.shutdown(); await server.serverClose()` (what `await using` does) on a busy
 * datagram server: a datagram that arrives between the two is received by the receive left
 * pending by `shutdown()`, and `serverClose()` serves it, as it serves the connection a stream
 * server's pending accept took (docs/deployment.md). But with no other request in flight the
 * datagram server closed its socket first, so the handler's reply failed with `BadResource`
 * ("Socket has been closed"), reported to `handleError()` (a stack on stderr by default) and
 * counted as an error; the client got no reply. The same happened to a datagram taken while an
 * async `serviceActions()` ran when `serverClose()` came.
 */
import assert from "node:assert/strict";
import { type AnyServer, DatagramRequestHandler, UDPServer, UnixDatagramServer } from "../mod.ts";
import { decoder, encoder } from "./_net.ts";
import { until, within } from "./_wait.ts";

class Echo extends DatagramRequestHandler<AnyServer> {
  override async handle() {
    await this.wfile.write(decoder.decode(this.packet).toUpperCase());
  }
}

// deno-lint-ignore no-explicit-any
function recording<C extends new (...args: any[]) => AnyServer>(Base: C) {
  return class extends Base {
    errors: unknown[] = [];
    override handleError(_request: unknown, _address: unknown, error: unknown) {
      this.errors.push(error);
    }
  };
}

for (const kind of ["udp", "unixpacket"] as const) {
  const name = kind === "udp" ? "UDPServer" : "UnixDatagramServer";
  Deno.test(`serverClose() after shutdown() of a ${name} serves the datagram received in between, whose reply goes out`, async () => {
    const dir = kind === "unixpacket" ? await Deno.makeTempDir() : null;
    const server = kind === "udp"
      ? new (recording(UDPServer))(["127.0.0.1", 0], Echo)
      : new (recording(UnixDatagramServer))({ path: `${dir}/server.sock` }, Echo);
    const client = kind === "udp"
      ? Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 })
      : Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
    try {
      const serving = server.serveForever();
      await server.shutdown();
      await serving;
      // the receive serveForever() left pending takes it: its bytes are counted once received
      await client.send(encoder.encode("between"), server.serverAddress as Deno.Addr);
      await until(() => server.stats().bytesRead === 7, "the datagram to be received");
      await within(server.serverClose(), 10_000, "serverClose()");
      assert.deepEqual(server.errors.map((e) => String(e)), [], "no error reported");
      const [reply] = await within(client.receive(), 10_000, "the reply");
      assert.equal(decoder.decode(reply), "BETWEEN");
      const { accepted, completed, errors } = server.stats();
      assert.deepEqual({ accepted, completed, errors }, { accepted: 1, completed: 1, errors: 0 });
    } finally {
      await server.serverClose();
      client.close();
      if (dir !== null) await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("serverClose() of a UDPServer while an async serviceActions() runs serves the datagram taken meanwhile, whose reply goes out", async () => {
  const inActions = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  class Busy extends recording(UDPServer) {
    runs = 0;
    override async serviceActions() {
      if (++this.runs > 1) return;
      inActions.resolve();
      await release.promise;
    }
  }
  const server = new Busy(["127.0.0.1", 0], Echo);
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const serving = server.serveForever(1);
    await within(inActions.promise, 10_000, "serviceActions() to run");
    // taken by the loop, which waits for serviceActions() before handling it
    await client.send(encoder.encode("meanwhile"), server.serverAddress);
    await until(() => server.stats().bytesRead === 9, "the datagram to be received");
    const closing = server.serverClose();
    release.resolve();
    await within(closing, 10_000, "serverClose()");
    await serving;
    assert.deepEqual(server.errors.map((e) => String(e)), [], "no error reported");
    const [reply] = await within(client.receive(), 10_000, "the reply");
    assert.equal(decoder.decode(reply), "MEANWHILE");
  } finally {
    release.resolve();
    await server.serverClose();
    client.close();
  }
});
