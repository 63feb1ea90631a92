/**
 * A Unix stream socket echo server: every line comes back, one task per
 * client. The socket file is created at start and removed on shutdown; a
 * socket file left by a crashed run is reclaimed when nothing answers on it.
 *
 *     deno run -A examples/unix_echo.ts [path]    # default /tmp/socketserver-echo.sock
 *
 * Try it: `nc -U /tmp/socketserver-echo.sock`, or from Python:
 * `s = socket.socket(AF_UNIX); s.connect(path); s.sendall(b"hello\n")`.
 * Ctrl-C (SIGINT) or SIGTERM shuts it down cleanly.
 *
 * @module
 */
import { StreamRequestHandler, ThreadingUnixStreamServer } from "../mod.ts";
import { serveUntilSignal } from "./_common.ts";

/** Echoes every line until the client closes. */
class Echo extends StreamRequestHandler<ThreadingUnixStreamServer> {
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

if (import.meta.main) {
  const path = Deno.args[0] ?? Deno.env.get("SOCKET") ?? "/tmp/socketserver-echo.sock";
  await using server = new ThreadingUnixStreamServer({ path }, Echo, {
    bindAndActivate: false,
    reclaimStaleSocket: true, // a file left by a crashed run goes, a live server's does not
  });
  await server.serverBind();
  server.serverActivate();
  await serveUntilSignal(server, "Unix stream echo");
}

export { Echo };
