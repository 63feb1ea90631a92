/**
 * A UDP echo server: every datagram comes back as it came. The handler reads
 * the packet through `rfile` and writes the reply to `wfile`, which
 * `DatagramRequestHandler.finish()` sends back to the client in one datagram.
 *
 *     deno run -A examples/udp_echo.ts [port]     # default 9999; or PORT=, HOST=
 *
 * Try it: `echo hello | nc -u -w1 localhost 9999`, or from Python:
 * `socket.socket(AF_INET, SOCK_DGRAM).sendto(b"hello\n", ("127.0.0.1", 9999))`.
 * Ctrl-C (SIGINT) or SIGTERM shuts it down cleanly. `Deno.listenDatagram` is
 * unstable in Deno 2.9: this repository's deno.json enables it; elsewhere add
 * `--unstable-net`.
 *
 * @module
 */
import { DatagramRequestHandler, ThreadingUDPServer } from "../mod.ts";
import { listenAddress, serveUntilSignal } from "./_common.ts";

/** Sends every datagram back, and logs who sent how much. */
class Echo extends DatagramRequestHandler {
  override async handle() {
    const data = await this.rfile.read();
    console.log(
      `${this.clientAddress.hostname}:${this.clientAddress.port} sent ${data.length} bytes${
        this.truncated ? " (truncated)" : ""
      }`,
    );
    await this.wfile.write(data);
  }
}

if (import.meta.main) {
  await using server = new ThreadingUDPServer(listenAddress(9999), Echo);
  await serveUntilSignal(server, "UDP echo");
}

export { Echo };
