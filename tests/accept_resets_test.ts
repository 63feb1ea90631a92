/**
 * A client that resets its connection before the server accepts it makes
 * `accept()` fail (Deno: `NotConnected`, from the peer address of a socket
 * already gone). The accept loop retries such a failure at once, with no
 * timer: a burst of resets does not stall the clients queued behind it.
 * Only descriptor or memory exhaustion backs off (tests/emfile_test.ts).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
import { readLineWithin } from "./_net.ts";
import { within } from "./_wait.ts";

/** Holds the only slot (`hold`) until released, else echoes a line. */
class Echo extends StreamRequestHandler<BurstServer> {
  override async handle() {
    const line = new TextDecoder().decode(await this.rfile.readline());
    if (line === "hold\n") await this.server.held.promise;
    await this.wfile.write(line);
  }
}

class BurstServer extends ThreadingTCPServer {
  held = Promise.withResolvers<void>();
  failures: string[] = [];
  override async getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]> {
    try {
      return await super.getRequest();
    } catch (error) {
      this.failures.push(error instanceof Error ? error.name : String(error));
      throw error;
    }
  }
}

/** Connects `count` clients and resets each (RST) as soon as it connects. */
function resetBurst(port: number, count: number): Promise<void> {
  return Promise.all(Array.from({ length: count }, () =>
    new Promise<void>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.resetAndDestroy());
      socket.on("error", () => {});
      socket.on("close", () => resolve());
    }))).then(() => {});
}

Deno.test("serveForever() retries 400 accepts that failed because their clients reset with no timer, and serves the client queued behind them", async () => {
  await using server = new BurstServer({ hostname: "127.0.0.1", port: 0 }, Echo, {
    maxConnections: 1,
  });
  server.serveForever(null);
  const { port } = server.serverAddress;
  // The one slot is taken, so the burst waits in the listen queue, where
  // every one of its connections is reset before its accept
  const holder = await Deno.connect({ hostname: "127.0.0.1", port });
  await holder.write(new TextEncoder().encode("hold\n"));
  await resetBurst(port, 400);
  const good = await Deno.connect({ hostname: "127.0.0.1", port });
  await good.write(new TextEncoder().encode("hello\n"));

  // Timers the server sets while it works through the burst: before, one
  // back-off timer per reset (about 2 ms each: 400 resets cost ~860 ms)
  const original = globalThis.setTimeout;
  let serverTimers = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    if (/\/src\/(base_server|_accept_backoff)\.ts/.test(new Error().stack ?? "")) serverTimers++;
    return original(...args);
  }) as typeof setTimeout;
  let reply: string | null;
  try {
    server.held.resolve();
    reply = await within(readLineWithin(good), 20_000, "the queued client's reply");
  } finally {
    globalThis.setTimeout = original;
  }
  assert.equal(reply, "hello");
  assert.equal(await readLineWithin(holder), "hold");
  assert.equal(server.failures.length, 400, `failures: ${server.failures.length}`);
  assert.ok(server.failures.every((name) => name === "NotConnected"), String(server.failures));
  assert.equal(serverTimers, 0, `${serverTimers} back-off timers for client resets`);
  good.close();
  holder.close();
});
