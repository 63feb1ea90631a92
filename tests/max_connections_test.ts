/**
 * `maxConnections`: at the limit the server stops accepting; the next
 * connection waits in the kernel's backlog and is served, not refused, as
 * soon as a slot frees; descriptors stay bounded.
 */
import assert from "node:assert/strict";
import { BaseRequestHandler, StreamRequestHandler, TCPServer, ThreadingTCPServer } from "../mod.ts";
import { countOpenDescriptors } from "./_kernel.ts";
import { decoder, encoder, readToEnd } from "./_net.ts";
import { RecordingServer } from "./_servers.ts";
import { within } from "./_wait.ts";

Deno.test("maxConnections: the next connections wait in the backlog and are served, in turn, as slots free", async () => {
  const LIMIT = 2;
  const CLIENTS = 12;
  let active = 0;
  let peak = 0;
  let accepted = 0;
  const acceptedWhenStarted: number[] = [];
  const started: Array<PromiseWithResolvers<void>> = [];
  for (let i = 0; i < CLIENTS; i++) started.push(Promise.withResolvers<void>());

  class Hold extends StreamRequestHandler<Limited> {
    override async handle() {
      active++;
      peak = Math.max(peak, active);
      acceptedWhenStarted.push(accepted);
      try {
        const hello = decoder.decode(await this.rfile.readline()).trim();
        started[Number(hello)].resolve();
        await this.wfile.write(`served ${hello}\n`);
        await this.rfile.readline(); // hold the slot until the client hangs up
      } finally {
        active--;
      }
    }
  }
  class Limited extends RecordingServer {
    override async getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]> {
      const pair = await super.getRequest();
      accepted++;
      return pair;
    }
  }
  await using server = new Limited({ hostname: "127.0.0.1", port: 0 }, Hold, {
    maxConnections: LIMIT,
  });
  server.serveForever();

  const before = await countOpenDescriptors();
  const clients: Deno.TcpConn[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const conn = await Deno.connect(server.serverAddress); // completes: the kernel queues it
    await conn.write(encoder.encode(`${i}\n`));
    clients.push(conn);
  }
  await within(started[0].promise, 5_000, "the first request to start");
  await within(started[1].promise, 5_000, "the second request to start");
  // every client is connected, only LIMIT of them are accepted
  const during = await countOpenDescriptors() - before;
  assert.ok(
    during <= CLIENTS + LIMIT + 1,
    `${during} descriptors for ${CLIENTS} clients: the server holds more than ${LIMIT}`,
  );
  assert.equal(server.activeRequests, LIMIT);

  // let them go one by one: each hang-up lets exactly one more in
  const replies: string[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    await within(started[i].promise, 5_000, `request ${i} to start once a slot freed`);
    await clients[i].closeWrite();
    const { bytes } = await readToEnd(clients[i]);
    replies.push(decoder.decode(bytes));
    clients[i].close();
  }

  assert.deepEqual(replies, clients.map((_, i) => `served ${i}\n`), "nobody was refused");
  assert.equal(peak, LIMIT);
  // a handler started only when the server had accepted at most LIMIT + (its turn)
  for (const [i, seen] of acceptedWhenStarted.entries()) {
    assert.ok(seen <= Math.max(LIMIT, i + 1), `handler ${i} started with ${seen} accepted`);
  }
  assert.equal(server.errors.length + server.drops.length, 0);
});

Deno.test("maxConnections must be a positive integer or null", () => {
  for (const bad of [0, -1, 1.5, NaN, "10"]) {
    assert.throws(
      () =>
        new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
          maxConnections: bad as number,
          bindAndActivate: false,
        }),
      RangeError,
    );
  }
  const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
    bindAndActivate: false,
  });
  assert.equal(server.maxConnections, null);
  server.maxConnections = 3;
  assert.equal(server.maxConnections, 3);
});

Deno.test("serverClose() ends serveForever() while it waits for a free slot", async () => {
  const holding = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  let handled = 0;
  class Hold extends BaseRequestHandler {
    override async handle() {
      handled++;
      holding.resolve();
      await release.promise;
    }
  }
  const server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Hold, {
    maxConnections: 1,
  });
  const serving = server.serveForever();
  const first = await Deno.connect(server.serverAddress);
  await within(holding.promise, 5_000, "the first request to start");
  const second = await Deno.connect(server.serverAddress); // queued by the kernel
  const closing = server.serverClose();
  await within(serving, 5_000, "serveForever() to return"); // although it waited for the slot
  release.resolve();
  await within(closing, 5_000, "serverClose()");
  // never accepted: it ends when the listener closes
  const { bytes } = await readToEnd(second);
  assert.equal(bytes.length, 0);
  assert.equal(handled, 1);
  first.close();
  second.close();
});
