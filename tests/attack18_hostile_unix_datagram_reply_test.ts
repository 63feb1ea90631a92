/**
 * A Unix datagram client that closes its socket and puts a stream socket at
 * its path before its reply: the server's send fails with `EPROTOTYPE`
 * ("Protocol wrong type for socket"). The client is as gone as one whose path
 * was removed (`NotFound`) or replaced by a file (`ConnectionRefused`), which
 * docs/hardening.md counts as drops; this one reached `handleError()` with a
 * stack trace, one per datagram a hostile local client cares to send.
 */
import assert from "node:assert/strict";
import { DatagramRequestHandler, isRoutineDrop, ThreadingUnixDatagramServer } from "../mod.ts";
import { withTempDir } from "./_files.ts";
import { Reporting } from "./_servers.ts";
import { within } from "./_wait.ts";

class Recording extends Reporting(ThreadingUnixDatagramServer) {
  swapped = Promise.withResolvers<void>();
}

/** Echoes the datagram once the test has swapped the client's socket. */
class LateEcho extends DatagramRequestHandler<Recording> {
  override async handle() {
    await this.server.swapped.promise;
    await this.wfile.write(this.packet);
  }
}

Deno.test("ThreadingUnixDatagramServer: a reply to a client whose path is now a stream socket (EPROTOTYPE) is a drop, as one to a removed path is, not handleError()", async () => {
  await withTempDir(async (dir) => {
    await using server = new Recording({ path: `${dir}/server.sock` }, LateEcho);
    server.serveForever();
    const clientPath = `${dir}/client.sock`;
    const client = Deno.listenDatagram({ transport: "unixpacket", path: clientPath });
    await client.send(new TextEncoder().encode("hello"), server.serverAddress);
    client.close();
    await Deno.remove(clientPath);
    using stream = Deno.listen({ transport: "unix", path: clientPath });
    server.swapped.resolve();
    await within(server.ended.promise, 10_000, "the reply's failure to be reported");
    assert.deepEqual(server.errors.map(String), []);
    assert.equal(server.drops.length, 1);
    assert.ok(isRoutineDrop(server.drops[0]), String(server.drops[0]));
    assert.equal(stream.addr.transport, "unix");
  });
});
