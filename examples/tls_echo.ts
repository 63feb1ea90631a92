/**
 * A TLS line echo server, one task per client, with the test certificate for
 * localhost from tests/tls/ (self-signed: clients must be told to trust it).
 *
 *     deno run -A examples/tls_echo.ts [port]     # default 9443; or PORT=9443
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

/** Echoes every line until the client closes. */
class Echo extends StreamRequestHandler<ThreadingTLSServer> {
  override async handle() {
    const { alpnProtocol } = await this.request.handshake();
    console.log(`${this.clientAddress.hostname} connected (ALPN: ${alpnProtocol ?? "none"})`);
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

if (import.meta.main) {
  const port = Number(Deno.args[0] ?? Deno.env.get("PORT") ?? 9443);
  const cert = await Deno.readTextFile(
    Deno.env.get("CERT") ?? new URL("../tests/tls/localhost.crt", import.meta.url),
  );
  const key = await Deno.readTextFile(
    Deno.env.get("KEY") ?? new URL("../tests/tls/localhost.key", import.meta.url),
  );
  await using server = new ThreadingTLSServer({ hostname: "127.0.0.1", port }, Echo, {
    cert,
    key,
  });
  const stop = () => server.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  console.log(`TLS echo listening on 127.0.0.1:${server.serverAddress.port}; Ctrl-C stops`);
  await server.serveForever();
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  await server.serverClose({ graceMs: 2000 }); // clients still connected get 2 s
  console.log("Server stopped");
}

export { Echo };
