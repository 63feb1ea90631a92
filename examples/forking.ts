/**
 * A CPU-bound service on every core: each line is answered with its SHA-256
 * digest, by one of `maxChildren` child processes (one per core by default)
 * that share port 9999. Every child runs this program again, so the server
 * is constructed under `import.meta.main`, and what must happen once is
 * under `!isForkingChild()`.
 *
 *     deno run --allow-net=0.0.0.0:9999 --allow-run=deno examples/forking.ts [port]
 *     echo hello | nc localhost 9999     # or: deno run -A examples/echo_client.ts hello
 *
 * Ctrl-C (SIGINT) or SIGTERM stops the children gracefully and exits.
 *
 * @module
 */
import { ForkingTCPServer, isForkingChild, StreamRequestHandler } from "../mod.ts";
import { createHash } from "node:crypto";

/** Answers every line with its SHA-256 digest, in hex. */
export class Digest extends StreamRequestHandler {
  override async handle() {
    for await (const line of this.rfile) {
      await this.wfile.write(createHash("sha256").update(line).digest("hex") + "\n");
    }
  }
}

if (import.meta.main) {
  const port = Number(Deno.args[0] ?? 9999);
  await using server = new ForkingTCPServer({ port }, Digest);
  const stop = () => server.shutdown();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  if (!isForkingChild()) {
    console.log(
      `Serving on port ${server.serverAddress.port} with ${server.maxChildren} processes`,
    );
  }
  await server.serveForever();
  Deno.removeSignalListener("SIGINT", stop);
  Deno.removeSignalListener("SIGTERM", stop);
  if (!isForkingChild()) console.log("Stopped");
}
