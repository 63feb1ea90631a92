/**
 * The server under test in `bench/soak.ts`, run in its own process so that
 * its memory and descriptors can be measured and a crash seen: a
 * `ThreadingTCPServer` answering each line `ok <line>`, with the hardening
 * settings on, and beside it a `ThreadingUDPServer` answering each datagram
 * that is one line of UTF-8 `ok <line>` and refusing anything else — empty,
 * cut, not UTF-8 — without a reply. Two more TCP servers: a "careless" one
 * whose handler never awaits its writes (a line gets `ok <line>`, a line
 * `big` 256 KiB), and a "graceful" one, an echo server that counts the bytes
 * of the writes that resolved and that the driver stops gracefully, again
 * and again (`stop-graceful` on stdin: `serverClose({ graceMs: 300,
 * lingerMs: 10_000 })`, then a fresh one). It prints
 * `{"port","udpPort","carelessPort"}` and `{"graceful":port}` once
 * listening, `{"gracefulStopped":{written,ms}}` after each graceful stop,
 * and, after SIGTERM (graceful: stop serving, 2 s grace), one JSON line of
 * counters.
 *
 *     deno run --unstable-net --allow-net=127.0.0.1 --v8-flags=--expose-gc \
 *       bench/soak_server.ts [maxConnections]
 *
 * @module
 */
import {
  type DatagramRequest,
  DatagramRequestHandler,
  StreamRequestHandler,
  ThreadingTCPServer,
  ThreadingUDPServer,
  TimeoutError,
} from "../mod.ts";

const MAX_CONNECTIONS = Number(Deno.args[0] ?? 384);
const PREFIX = new TextEncoder().encode("ok ");

const stats = {
  careless: {
    requests: 0,
    big: 0,
    handleError: 0,
    drops: {} as Record<string, number>,
  },
  graceful: { stops: 0, handleError: 0 },
  acceptFailures: {} as Record<string, number>,
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
  udp: {
    requests: 0,
    /** Datagrams refused by the handler, by reason. */
    refused: { empty: 0, truncated: 0, invalid: 0 },
    peakActive: 0,
    drops: {} as Record<string, number>,
  },
};

/** One reason per error, for the drop counts. */
function reason(error: unknown): string {
  return error instanceof TimeoutError
    ? `TimeoutError (${error.attribute})`
    : error instanceof Error
    ? error.name
    : String(error);
}

/** Keeps the first 20 errors that reached handleError(), then counts "…". */
function recordError(error: unknown): void {
  if (stats.handleError.length < 20) {
    stats.handleError.push(error instanceof Error ? error.stack ?? error.message : String(error));
  } else {
    stats.handleError.push("…");
  }
}

class Reply extends StreamRequestHandler<SoakServer> {
  override maxLineLength = 4096;
  override timeout = 2000;
  override idleTimeout = 3000;
  override requestTimeout = 2000;
  override writeTimeout = 2000;

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
  /** Counts the accepts that failed (a client reset before it was taken):
   * retried at once. */
  override async getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]> {
    try {
      return await super.getRequest();
    } catch (error) {
      const why = reason(error);
      stats.acceptFailures[why] = (stats.acceptFailures[why] ?? 0) + 1;
      throw error;
    }
  }

  override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    recordError(error);
  }

  override handleDrop(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    const why = reason(error);
    stats.drops[why] = (stats.drops[why] ?? 0) + 1;
  }
}

const strict = new TextDecoder("utf-8", { fatal: true });

/** Validates, then answers: what is not one line of UTF-8 gets no reply. */
class UdpReply extends DatagramRequestHandler<SoakUdpServer> {
  override async handle() {
    const udp = stats.udp;
    udp.peakActive = Math.max(udp.peakActive, this.server.activeRequests);
    if (this.packet.length === 0) return void udp.refused.empty++;
    if (this.truncated) return void udp.refused.truncated++;
    let text: string;
    try {
      text = strict.decode(this.packet);
    } catch {
      return void udp.refused.invalid++;
    }
    udp.requests++;
    await this.wfile.write(`ok ${text}`);
  }
}

class SoakUdpServer extends ThreadingUDPServer {
  override handleError(_request: DatagramRequest, _address: Deno.NetAddr, error: unknown) {
    recordError(error);
  }

  override handleDrop(_request: DatagramRequest, _address: Deno.NetAddr, error: unknown) {
    const why = reason(error);
    stats.udp.drops[why] = (stats.udp.drops[why] ?? 0) + 1;
  }
}

/** Never awaits a write, as a line-by-line port of Python's
 * `self.wfile.write(...)` does: the library must handle their failures. */
class Careless extends StreamRequestHandler<CarelessServer> {
  override maxLineLength = 4096;
  override idleTimeout = 3000;
  override requestTimeout = 2000;

  override async handle() {
    for await (const line of this.rfile) {
      if (line.length === 4 && line[0] === 0x62 && line[1] === 0x69 && line[2] === 0x67) {
        stats.careless.big++;
        this.wfile.write(BIG); // not awaited
        continue;
      }
      const reply = new Uint8Array(PREFIX.length + line.length);
      reply.set(PREFIX);
      reply.set(line, PREFIX.length);
      this.wfile.write(reply); // not awaited
      stats.careless.requests++;
    }
  }
}
const BIG = new Uint8Array(256 * 1024).fill(0x78);
BIG[BIG.length - 1] = 0x0a;

class CarelessServer extends ThreadingTCPServer {
  override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    stats.careless.handleError++;
    recordError(error);
  }

  override handleDrop(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    const why = reason(error);
    stats.careless.drops[why] = (stats.careless.drops[why] ?? 0) + 1;
  }
}

/** Echoes lines, counting the bytes of the writes that resolved: what a
 * graceful stop must deliver. */
let gracefulWritten = 0;
class Graceful extends StreamRequestHandler<GracefulServer> {
  override async handle() {
    for await (const line of this.rfile) gracefulWritten += await this.wfile.write(line);
  }
}

class GracefulServer extends ThreadingTCPServer {
  override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    stats.graceful.handleError++;
    recordError(error);
  }
}

const server = new SoakServer({ hostname: "127.0.0.1", port: 0 }, Reply, {
  maxConnections: MAX_CONNECTIONS,
});
const careless = new CarelessServer({ hostname: "127.0.0.1", port: 0 }, Careless);
let graceful = new GracefulServer({ hostname: "127.0.0.1", port: 0 }, Graceful);
let gracefulServing = graceful.serveForever();
let stopping = false;

/** Stops the graceful server with a deadline, reports what it wrote and how
 * long `serverClose()` took, and starts a fresh one. */
async function stopGraceful(): Promise<void> {
  await graceful.shutdown();
  const t0 = performance.now();
  await graceful.serverClose({ graceMs: 300, lingerMs: 10_000 });
  const ms = Math.round(performance.now() - t0);
  await gracefulServing;
  stats.graceful.stops++;
  console.log(JSON.stringify({ gracefulStopped: { written: gracefulWritten, ms } }));
  gracefulWritten = 0;
  if (stopping) return;
  graceful = new GracefulServer({ hostname: "127.0.0.1", port: 0 }, Graceful);
  gracefulServing = graceful.serveForever();
  console.log(JSON.stringify({ graceful: graceful.serverAddress.port }));
}

(async () => {
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let pending = "";
  for await (const chunk of lines) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const command = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (command === "stop-graceful") await stopGraceful();
    }
  }
})();
const udpServer = new SoakUdpServer({ hostname: "127.0.0.1", port: 0 }, UdpReply);
const sampler = setInterval(() => {
  const now = Deno.memoryUsage();
  for (const key of ["rss", "heapTotal", "heapUsed", "external"] as const) {
    stats.memory[key] = Math.max(stats.memory[key], now[key]);
  }
}, 250);
const stop = () => {
  stopping = true;
  return Promise.all([
    server.shutdown(),
    udpServer.shutdown(),
    careless.shutdown(),
    graceful.shutdown(),
  ]);
};
Deno.addSignalListener("SIGTERM", stop);
console.log(
  JSON.stringify({
    port: server.serverAddress.port,
    udpPort: udpServer.serverAddress.port,
    carelessPort: careless.serverAddress.port,
  }),
);
console.log(JSON.stringify({ graceful: graceful.serverAddress.port }));

const serve = async (which: string, serving: Promise<void>) => {
  try {
    await serving;
  } catch (error) {
    stats.serveForeverFailed = `${which}: ${error}`;
  }
};
await Promise.all([
  serve("TCP", server.serveForever()),
  serve("UDP", udpServer.serveForever()),
  serve("careless TCP", careless.serveForever()),
]);
await Promise.all([
  server.serverClose({ graceMs: 2000, lingerMs: 500 }),
  udpServer.serverClose({ graceMs: 2000 }),
  careless.serverClose({ graceMs: 2000, lingerMs: 500 }),
  graceful.serverClose({ graceMs: 2000, lingerMs: 500 }),
]);
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
