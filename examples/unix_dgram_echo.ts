/**
 * A Unix datagram socket echo server (`AF_UNIX, SOCK_DGRAM`): every datagram
 * comes back to the client's own socket path. A client that wants the echo
 * binds its socket to a path first; the server needs `write` and `net`
 * permission for that path to reply (`-A` grants everything).
 *
 *     deno run -A examples/unix_dgram_echo.ts [path]   # default /tmp/socketserver-dgram.sock
 *
 * Try it from Python:
 * `s = socket.socket(AF_UNIX, SOCK_DGRAM); s.bind("/tmp/me.sock");
 *  s.sendto(b"hello\n", path); print(s.recv(100))`.
 * Ctrl-C (SIGINT) or SIGTERM shuts it down cleanly and removes the socket
 * file. `Deno.listenDatagram` is unstable in Deno 2.9: this repository's
 * deno.json enables it; elsewhere add `--unstable-net`.
 *
 * @module
 */
import { DatagramRequestHandler, UnixDatagramServer } from "../mod.ts";
import { serveUntilSignal } from "./_common.ts";

/** Sends every datagram back to its sender's path. */
class Echo extends DatagramRequestHandler<UnixDatagramServer> {
  override async handle() {
    const data = await this.rfile.read();
    console.log(`${this.clientAddress.path ?? "(unnamed)"} sent ${data.length} bytes`);
    await this.wfile.write(data); // to an unbound client this is a silent drop (handleDrop)
  }
}

if (import.meta.main) {
  const path = Deno.args[0] ?? Deno.env.get("SOCKET") ?? "/tmp/socketserver-dgram.sock";
  await using server = new UnixDatagramServer({ path }, Echo, {
    bindAndActivate: false,
    reclaimStaleSocket: true,
  });
  await server.serverBind();
  await serveUntilSignal(server, "Unix datagram echo");
}

export { Echo };
