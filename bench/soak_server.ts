/**
 * The server under test in `bench/soak.ts`, run in its own process so that
 * its memory and descriptors can be measured and a crash seen: a
 * `ThreadingTCPServer` answering each line `ok <line>`, with the hardening
 * settings on. It prints `{"port":N}` once listening and, after SIGTERM
 * (graceful: stop accepting, 2 s grace), one JSON line of counters.
 *
 *     deno run --allow-net=127.0.0.1 --v8-flags=--expose-gc bench/soak_server.ts [maxConnections]
 *
 * @module
 */
import { StreamRequestHandler, ThreadingTCPServer, TimeoutError } from "../mod.ts";

const MAX_CONNECTIONS = Number(Deno.args[0] ?? 384);
const PREFIX = new TextEncoder().encode("ok ");

const stats = {
  requests: 0,
  connections: 0,
  handleError: [] as string[],
  drops: {} as Record<string, number>,
  peakActive: 0,
  /** Peaks of Deno.memoryUsage(), sampled every 250 ms. */
  memory: { rss: 0, heapTotal: 0, heapUsed: 0, external: 0 },
  /** Deno.memoryUsage() after the load and a full GC (with --expose-gc). */
  afterGc: null as Deno.MemoryUsage | null,
  serveForeverFailed: null as string | null,
};

class Reply extends StreamRequestHandler<SoakServer> {
  override maxLineLength = 4096;
  override timeout = 2000;
  override idleTimeout = 3000;
  override requestTimeout = 2000;

  override async handle() {
    stats.connections++;
    stats.peakActive = Math.max(stats.peakActive, this.server.activeRequests);
    for await (const line of this.rfile) {
      const reply = new Uint8Array(PREFIX.length + line.length);
      reply.set(PREFIX);
      reply.set(line, PREFIX.length);
      await this.wfile.write(reply);
      stats.requests++;
    }
  }
}

class SoakServer extends ThreadingTCPServer {
  override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    if (stats.handleError.length < 20) {
      stats.handleError.push(error instanceof Error ? error.stack ?? error.message : String(error));
    } else {
      stats.handleError.push("…");
    }
  }

  override handleDrop(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    const reason = error instanceof TimeoutError
      ? `TimeoutError (${error.attribute})`
      : error instanceof Error
      ? error.name
      : String(error);
    stats.drops[reason] = (stats.drops[reason] ?? 0) + 1;
  }
}

const server = new SoakServer({ hostname: "127.0.0.1", port: 0 }, Reply, {
  maxConnections: MAX_CONNECTIONS,
});
const sampler = setInterval(() => {
  const now = Deno.memoryUsage();
  for (const key of ["rss", "heapTotal", "heapUsed", "external"] as const) {
    stats.memory[key] = Math.max(stats.memory[key], now[key]);
  }
}, 250);
const stop = () => server.shutdown();
Deno.addSignalListener("SIGTERM", stop);
console.log(JSON.stringify({ port: server.serverAddress.port }));

try {
  await server.serveForever();
} catch (error) {
  stats.serveForeverFailed = String(error);
}
await server.serverClose({ graceMs: 2000, lingerMs: 500 });
Deno.removeSignalListener("SIGTERM", stop);
clearInterval(sampler);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc) {
  // twice, a moment apart: array buffers are freed by a concurrent sweeper
  gc();
  await new Promise((resolve) => setTimeout(resolve, 100));
  gc();
  stats.afterGc = Deno.memoryUsage();
}
console.log(JSON.stringify(stats));
