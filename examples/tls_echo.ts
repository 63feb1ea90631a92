/**
 * A TLS line echo server, one task per client, with the test certificate for
 * localhost from tests/tls/ (self-signed: clients must be told to trust it).
 *
 *     deno run -A examples/tls_echo.ts [port]     # default 9443; or PORT=, HOST=
 *     CERT=cert.pem KEY=key.pem deno run -A examples/tls_echo.ts   # your own
 *
 * Try it: `openssl s_client -connect localhost:9443 -CAfile tests/tls/localhost.crt`,
 * or from Python: `ssl.create_default_context(cafile="tests/tls/localhost.crt")
 * .wrap_socket(socket.create_connection(("localhost", 9443)), server_hostname="localhost")`.
 * A client that fails the handshake is reported on stderr; the server goes on.
 * Ctrl-C (SIGINT) or SIGTERM shuts it down cleanly.
 *
 * @module
 */
import { StreamRequestHandler, ThreadingTLSServer } from "../mod.ts";
import { listenAddress, serveUntilSignal } from "./_common.ts";

/** Echoes every line until the client closes. */
class Echo extends StreamRequestHandler<ThreadingTLSServer> {
  override async handle() {
    const { alpnProtocol } = await this.request.handshake();
    console.log(`${this.clientAddress.hostname} connected (ALPN: ${alpnProtocol ?? "none"})`);
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

if (import.meta.main) {
  const cert = await Deno.readTextFile(
    Deno.env.get("CERT") ?? new URL("../tests/tls/localhost.crt", import.meta.url),
  );
  const key = await Deno.readTextFile(
    Deno.env.get("KEY") ?? new URL("../tests/tls/localhost.key", import.meta.url),
  );
  await using server = new ThreadingTLSServer(listenAddress(9443), Echo, { cert, key });
  await serveUntilSignal(server, "TLS echo");
}

export { Echo };
