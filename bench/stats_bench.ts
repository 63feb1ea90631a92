/**
 * What `stats()`'s counters cost the request path (issue 19), A/B in one
 * process: this tree's library and, with `BENCH_BASE` set to another tree
 * (a checkout from before the counters), that one's, on the same in-memory
 * workloads — no socket is timed, so the request path is all there is.
 *
 *     deno bench -A bench/stats_bench.ts                      # this tree only
 *     BENCH_BASE=/tmp/before deno bench -A bench/stats_bench.ts
 *
 * @module
 */
import * as current from "../mod.ts";
import * as currentTesting from "../testing.ts";

type Lib = typeof current;
type Testing = typeof currentTesting;

const base = Deno.env.get("BENCH_BASE");
const trees: { name: string; lib: Lib; testing: Testing }[] = [
  { name: "this tree", lib: current, testing: currentTesting },
];
if (base !== undefined) {
  trees.unshift({
    name: "base",
    lib: await import(`${base}/mod.ts`),
    testing: await import(`${base}/testing.ts`),
  });
}

const REQUESTS = 1000;
const LINE = new TextEncoder().encode("x".repeat(63) + "\n");
const LINES = new Uint8Array(LINE.length * REQUESTS);
for (let i = 0; i < REQUESTS; i++) LINES.set(LINE, i * LINE.length);

for (const { name, lib, testing } of trees) {
  const baseline = name === "base" || base === undefined;

  class QueueServer extends lib.BaseServer<number, string, string> {
    next = 0;
    override getRequest(): [number, string] {
      return [this.next++, "queue"];
    }
    override serviceActions() {
      if (this.next >= REQUESTS) this.shutdown();
    }
  }
  class Nothing extends lib.BaseRequestHandler<QueueServer, number, string> {
    override handle() {}
  }
  Deno.bench({
    name: `${name}: serveForever(), ${REQUESTS} requests, sync handler`,
    group: "dispatch",
    baseline,
    async fn() {
      const server = new QueueServer("queue", Nothing);
      await server.serveForever(null);
      await server.serverClose();
    },
  });

  class Echo extends lib.StreamRequestHandler {
    override async handle() {
      for await (const line of this.rfile) await this.wfile.write(line);
    }
  }
  Deno.bench({
    name: `${name}: ${REQUESTS} lines echoed through rfile and wfile, in memory`,
    group: "lines",
    baseline,
    async fn() {
      const server = new lib.ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Echo, {
        bindAndActivate: false,
      });
      const network = testing.bindInMemory(server);
      server.serverActivate();
      const serving = server.serveForever(null);
      const conn = await network.connect(server.serverAddress);
      await lib.sendall(conn, LINES);
      await conn.closeWrite();
      const echoed = await new Response(conn.readable).arrayBuffer();
      if (echoed.byteLength !== LINES.length) throw new Error("Not every line came back");
      await server.shutdown();
      await server.serverClose();
      await serving;
    },
  });

  class DatagramEcho extends lib.DatagramRequestHandler {
    override async handle() {
      await this.wfile.write(this.packet);
    }
  }
  Deno.bench({
    name: `${name}: ${REQUESTS} datagrams echoed by a UDPServer, in memory`,
    group: "datagrams",
    baseline,
    async fn() {
      const server = new lib.UDPServer({ hostname: "127.0.0.1", port: 0 }, DatagramEcho, {
        bindAndActivate: false,
      });
      const network = testing.bindInMemory(server);
      server.serverActivate();
      const serving = server.serveForever(null);
      const client = network.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      for (let i = 0; i < REQUESTS; i++) {
        await client.send(LINE, server.serverAddress);
        await client.receive();
      }
      client.close();
      await server.shutdown();
      await server.serverClose();
      await serving;
    },
  });
}
