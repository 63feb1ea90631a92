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
 * It says "Serving on port …" once every child listens. SIGHUP deploys the
 * program as it is on disk now: new children start from the file, and once
 * each listens the old ones stop accepting and get 2 s to finish (the
 * parent keeps running the code it started with; a new child that fails to
 * listen abandons the restart, and the old ones serve on). Ctrl-C (SIGINT)
 * or SIGTERM stops the children gracefully: requests in flight get 2 s to
 * finish, then their connections are closed, and the program exits. A
 * second signal meanwhile ends the children's requests at once, and exits.
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

/** The server, which says where it serves once every child listens. */
export class DigestServer extends ForkingTCPServer {
  #listening = 0;

  /** Called in the parent as each child listens. The first children's
   * calls come once all of them listen and the parent's own listener is
   * closed, so a client that connects after the line is never queued on
   * the parent's listener (whose queue is reset when it closes). */
  override childStarted(_pid: number) {
    if (++this.#listening === this.maxChildren) {
      console.log(`Serving on port ${this.serverAddress.port} with ${this.maxChildren} processes`);
    }
  }
}

if (import.meta.main) {
  const port = Number(Deno.args[0] ?? 9999);
  await using server = new DigestServer({ port }, Digest);
  let stopping = false;
  const stopOn = (signal: Deno.Signal) => () => {
    if (stopping) {
      // the user will not wait: no grace, no linger, then exit (the
      // children are stopped and reaped, not left to finish on their own)
      console.log(`Second ${signal}: stopping the children now`);
      server.serverClose({ graceMs: 0, lingerMs: 0 })
        .finally(() => Deno.exit(signal === "SIGINT" ? 130 : 143));
      return;
    }
    stopping = true;
    server.shutdown();
  };
  const onInt = stopOn("SIGINT");
  const onTerm = stopOn("SIGTERM");
  // a rolling restart: the children run the file again, the parent does not
  const onHup = () => {
    console.log("SIGHUP: starting new processes from the program on disk");
    server.restartChildren({ graceMs: 2_000 }).then(
      () => console.log(`Restarted: ${server.maxChildren} new processes serve`),
      (error) => console.log(`Restart failed: ${error.message}`),
    );
  };
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  if (!isForkingChild()) Deno.addSignalListener("SIGHUP", onHup);
  await server.serveForever();
  await server.serverClose({ graceMs: 2_000 });
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  if (!isForkingChild()) Deno.removeSignalListener("SIGHUP", onHup);
  if (!isForkingChild()) console.log("Stopped");
}
