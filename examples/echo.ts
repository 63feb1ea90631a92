/**
 * The seed's echo server: a `TCPServer` on localhost:9999 whose handler reads
 * up to 1024 bytes, prints who wrote what, and sends the data back
 * upper-cased.
 *
 *     deno run -A examples/echo.ts [port]      # or PORT=9999
 *
 * Ctrl-C (SIGINT) or SIGTERM shuts it down cleanly: it stops accepting at
 * once, gives the request in flight GRACE_MS (default 5000) ms to finish,
 * then closes its connection after delivering what was written. A second
 * Ctrl-C during that grace period exits at once.
 *
 * @module
 */
import { BaseRequestHandler, sendall, TCPServer } from "../mod.ts";

/**
 * The request handler class for our server.
 *
 * It is instantiated once per connection to the server, and must override
 * the handle() method to implement communication to the client.
 */
class MyTCPHandler extends BaseRequestHandler {
  data = "";

  override async handle() {
    // this.request is the TCP connection to the client
    const buffer = new Uint8Array(1024);
    const n = await this.request.read(buffer) ?? 0;
    this.data = new TextDecoder().decode(buffer.subarray(0, n)).trim();
    console.log(`${this.clientAddress.hostname} wrote:`);
    console.log(this.data);
    // just send back the same data, but upper-cased
    await sendall(this.request, this.data.toUpperCase());
  }
}

if (import.meta.main) {
  const HOST = "localhost";
  const PORT = Number(Deno.args[0] ?? Deno.env.get("PORT") ?? 9999);
  /** How long requests in flight may take to finish once a signal came. */
  const GRACE_MS = Number(Deno.env.get("GRACE_MS") ?? 5000);

  // Create the server, binding to localhost on port 9999
  const server = new TCPServer({ hostname: HOST, port: PORT }, MyTCPHandler);
  let stopping = false;
  const stopOn = (signal: Deno.Signal) => () => {
    if (stopping) {
      // the user will not wait for the grace period
      console.log(`Second ${signal}: exiting now`);
      Deno.exit(signal === "SIGINT" ? 130 : 143);
    }
    stopping = true;
    console.log("Stopping: no new connections; requests in flight get", GRACE_MS, "ms");
    server.shutdown();
  };
  const onInt = stopOn("SIGINT");
  const onTerm = stopOn("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  console.log(`Serving on ${HOST}:${server.serverAddress.port}; Ctrl-C stops`);

  // Activate the server; this will keep running until you
  // interrupt the program with Ctrl-C (or send it SIGTERM)
  await server.serveForever();
  // Not accepting any more: let the request in flight finish within the
  // grace period; after it, its connection gets what was written, then EOF.
  await server.serverClose({ graceMs: GRACE_MS });
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  console.log("Server stopped");
}

export { MyTCPHandler };
