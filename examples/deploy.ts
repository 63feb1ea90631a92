/**
 * A line echo service deployed the way production TCP services are, with the
 * recipes of docs/deployment.md:
 *
 * - **behind a balancer** (`--proxy v2 --trusted 10.0.0.0/8`): every
 *   connection starts with a PROXY protocol header, so `clientAddress` is
 *   the real client; the balancer's health checks (`LOCAL` headers, a `PING`
 *   line) are answered `PONG`. On SIGTERM it first fails its health checks
 *   until the balancer has taken it out (`--fall N`: after N failed checks,
 *   HAProxy's `fall N`, and the next one, which proves it), then stops
 *   accepting and lets its connections finish;
 * - **blue/green** (`--reuse-port`): a new process binds the same port with
 *   `SO_REUSEPORT`; once it says it serves, SIGTERM the old one, which
 *   closes its listener at once and finishes its connections;
 * - **on every core** (`--processes N`): a `ForkingTCPServer` with N
 *   children; SIGHUP is a rolling restart (`restartChildren()`): new
 *   children from the file as it is on disk now, then the old ones stop.
 *
 *     deno run --allow-net --allow-run=deno examples/deploy.ts --port 9999 [options]
 *
 * It prints "Serving on HOST:PORT" once it listens, and on stopping the
 * requests and health checks it answered. Durations are milliseconds.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  ForkingTCPServer,
  isForkingChild,
  type ProxyProtocolMode,
  StreamRequestHandler,
  type TCPServer,
  ThreadingTCPServer,
} from "../mod.ts";

/** The counters and the drain of a server of this service. */
interface Service {
  requests: number;
  checks: number;
  draining: boolean;
  failedChecks: number;
  /** Resolves once the balancer is known to send nothing more. */
  takenOut: PromiseWithResolvers<void>;
}

/** Echoes every line; a balancer's health check gets `PONG`, or nothing
 * once the service drains. */
export class Echo extends StreamRequestHandler<TCPServer & Service> {
  static fall = 0;

  override async handle() {
    const service = this.server;
    if (this.proxy?.header.command === "LOCAL") {
      await this.rfile.readline(); // "PING"
      if (!service.draining) {
        service.checks++;
        await this.wfile.write("PONG\r\n");
      } else if (++service.failedChecks > Echo.fall) service.takenOut.resolve();
      return;
    }
    for await (const line of this.rfile) {
      await this.wfile.write(line);
      service.requests++;
    }
  }
}

/** One process, a task per connection. */
class ThreadingService extends ThreadingTCPServer implements Service {
  requests = 0;
  checks = 0;
  draining = false;
  failedChecks = 0;
  takenOut = Promise.withResolvers<void>();
}

/** A process per core: each child counts its own. */
class ForkingService extends ForkingTCPServer implements Service {
  requests = 0;
  checks = 0;
  draining = false;
  failedChecks = 0;
  takenOut = Promise.withResolvers<void>();
  #listening = 0;

  override childStarted() {
    if (++this.#listening === this.maxChildren) serving(this);
  }
}

function serving(server: ThreadingTCPServer | ForkingTCPServer): void {
  const { hostname, port } = server.serverAddress;
  console.log(`Serving on ${hostname}:${port} (process ${Deno.pid})`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "9999" },
      processes: { type: "string" },
      "reuse-port": { type: "boolean", default: false },
      proxy: { type: "string" },
      trusted: { type: "string", default: "127.0.0.1,::1" },
      fall: { type: "string", default: "0" },
      "grace-ms": { type: "string", default: "10000" },
    },
  });
  const graceMs = Number(values["grace-ms"]);
  Echo.fall = Number(values.fall);
  const options = {
    ...(values["reuse-port"] ? { allowReusePort: true } : {}),
    ...(values.proxy
      ? {
        proxyProtocol: values.proxy as ProxyProtocolMode,
        trustedProxies: values.trusted.split(","),
      }
      : {}),
  };
  const address = { hostname: values.host, port: Number(values.port) };
  const forking = values.processes !== undefined;
  await using server = forking
    ? new ForkingService(address, Echo, {
      ...options,
      maxChildren: Number(values.processes),
      childGraceMs: graceMs,
    })
    : new ThreadingService(address, Echo, options);
  if (!forking) serving(server);

  const stop = async () => {
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGINT", stop);
    if (!forking && options.proxyProtocol && Echo.fall > 0) {
      // Still serving, failing the health checks until the balancer has
      // taken this instance out: a listener that closes resets its queue
      console.log("Draining: failing health checks");
      server.draining = true;
      await server.takenOut.promise;
    }
    await server.shutdown(); // the listener closes in serverClose() below, at once
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  const restart = () => {
    (server as ForkingService).restartChildren({ graceMs }).then(
      () => console.log("Restarted"),
      (error) => console.log(`Restart failed: ${error.message}`),
    );
  };
  if (forking && !isForkingChild()) Deno.addSignalListener("SIGHUP", restart);
  await server.serveForever();
  await server.serverClose({ graceMs });
  if (forking && !isForkingChild()) Deno.removeSignalListener("SIGHUP", restart);
  if (!forking) console.log(`Stopped: ${server.requests} requests, ${server.checks} health checks`);
}
