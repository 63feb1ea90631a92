/**
 * Micro-benchmarks of request dispatch: the server's own work per request
 * (getRequest → verifyRequest → processRequest → finishRequest → handler →
 * shutdownRequest → closeRequest), with requests from an in-memory queue so
 * that no socket is timed.
 *
 *     deno bench bench/server_bench.ts
 *
 * @module
 */
import { BaseRequestHandler, BaseServer, StreamRequestHandler, ThreadingMixIn } from "../mod.ts";

const REQUESTS = 1000;

class QueueServer extends BaseServer<number, string, string> {
  next = 0;
  override getRequest(): [number, string] {
    return [this.next++, "queue"];
  }
}

let handled = 0;
class Count extends BaseRequestHandler<QueueServer, number, string> {
  override handle() {
    handled++;
  }
}

class AsyncCount extends BaseRequestHandler<QueueServer, number, string> {
  override async handle() {
    await null;
    handled++;
  }
}

Deno.bench({
  name: "handleRequest(), sync handler",
  group: "dispatch",
  baseline: true,
  async fn() {
    const server = new QueueServer("queue", Count);
    for (let i = 0; i < REQUESTS; i++) await server.handleRequest();
    await server.serverClose();
  },
});

Deno.bench({
  name: "handleRequest(), async handler",
  group: "dispatch",
  async fn() {
    const server = new QueueServer("queue", AsyncCount);
    for (let i = 0; i < REQUESTS; i++) await server.handleRequest();
    await server.serverClose();
  },
});

class StopAfter extends QueueServer {
  override serviceActions() {
    if (this.next >= REQUESTS) this.shutdown();
  }
}

Deno.bench({
  name: "serveForever(), 1000 requests, sync handler",
  group: "dispatch",
  async fn() {
    const server = new StopAfter("queue", Count);
    await server.serveForever(null);
    await server.serverClose();
  },
});

const Threading = ThreadingMixIn(StopAfter);

Deno.bench({
  name: "ThreadingMixIn serveForever(), 1000 requests, async handler",
  group: "dispatch",
  async fn() {
    const server = new Threading("queue", AsyncCount);
    await server.serveForever(null);
    await server.serverClose();
  },
});

/** A connection-shaped request for StreamRequestHandler: one line in, echo out. */
class FakeConn {
  #sent = false;
  read(p: Uint8Array): Promise<number | null> {
    if (this.#sent) return Promise.resolve(null);
    this.#sent = true;
    p.set(LINE);
    return Promise.resolve(LINE.length);
  }
  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(p.length);
  }
}
const LINE = new TextEncoder().encode("x".repeat(63) + "\n");

class ConnServer extends BaseServer<Deno.Conn, string, string> {
  next = 0;
  override getRequest(): [Deno.Conn, string] {
    this.next++;
    return [new FakeConn() as unknown as Deno.Conn, "queue"];
  }
  override serviceActions() {
    if (this.next >= REQUESTS) this.shutdown();
  }
}

class Echo extends StreamRequestHandler<ConnServer> {
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

const ThreadingConn = ThreadingMixIn(ConnServer);

Deno.bench({
  name: "ThreadingMixIn + StreamRequestHandler line echo, 1000 one-line connections",
  group: "dispatch",
  async fn() {
    const server = new ThreadingConn("queue", Echo);
    await server.serveForever(null);
    await server.serverClose();
  },
});
