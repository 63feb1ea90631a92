/**
 * A plain `TCPServer` "handles one connection at a time, as in Python" (README). Python's
 * `shutdown()` returns once `serve_forever()` has, which a plain server's loop does only after the
 * request it is handling, so a `serve_forever()` started again never meets the old request. Here
 * `shutdown()` returns at once (it may be awaited inside a handler), and the `serveForever()`
 * started after it took the next connection while the first handler still ran: two handlers at
 * once on a plain server, whose handlers, ported from Python, share state without locks.
 *
 * The new loop must not take a request before the one in flight has ended. What is observed is
 * `getRequest()` being called while the first handler runs: the loop calls it as soon as it
 * starts, so this needs no waiting on time.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, TCPServer, UnixStreamServer } from "../mod.ts";
import { connectTcp, readAllText, writeAll } from "./_net.ts";
import { withTempDir } from "./_files.ts";

const encoder = new TextEncoder();

Deno.test("plain TCPServer: serveForever() again after shutdown() takes no request while the first handler runs", async () => {
  const events: string[] = [];
  let running = 0;
  let takenWhileRunning = 0;
  const started = Promise.withResolvers<void>();
  class OneAtATime extends StreamRequestHandler {
    override async handle() {
      const me = new TextDecoder().decode(await this.rfile.readline()).trim();
      running++;
      started.resolve();
      events.push(`start ${me}`);
      await this.rfile.readline(); // until the client says go
      events.push(`end ${me}`);
      running--;
      await this.wfile.write("done\n");
    }
  }
  class Server extends TCPServer {
    override getRequest() {
      if (running > 0) takenWhileRunning++;
      return super.getRequest();
    }
  }
  await using server = new Server(["127.0.0.1", 0], OneAtATime);
  const a = await connectTcp(server.serverAddress);
  const b = await connectTcp(server.serverAddress);
  try {
    let serving = server.serveForever();
    await writeAll(a, encoder.encode("a\n"));
    await started.promise;
    await server.shutdown();
    await serving;
    serving = server.serveForever(); // as Python's loop restarted
    await writeAll(b, encoder.encode("b\n"));
    await writeAll(a, encoder.encode("go\n"));
    assert.equal(await readAllText(a), "done\n");
    await writeAll(b, encoder.encode("go\n"));
    assert.equal(await readAllText(b), "done\n");
    await server.shutdown();
    await serving;
  } finally {
    a.close();
    b.close();
  }
  assert.equal(takenWhileRunning, 0, "getRequest() was called while a handler ran");
  assert.deepEqual(events, ["start a", "end a", "start b", "end b"]);
});

Deno.test("plain UnixStreamServer: handleRequest() after shutdown() waits for the request serveForever() left in flight", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/server.sock`;
    let running = 0;
    let takenWhileRunning = 0;
    const started = Promise.withResolvers<void>();
    class Held extends StreamRequestHandler<UnixStreamServer> {
      override async handle() {
        running++;
        started.resolve();
        await this.rfile.readline();
        running--;
      }
    }
    class Server extends UnixStreamServer {
      override getRequest() {
        if (running > 0) takenWhileRunning++;
        return super.getRequest();
      }
    }
    await using server = new Server(path, Held);
    const a = await Deno.connect({ transport: "unix", path });
    const b = await Deno.connect({ transport: "unix", path });
    try {
      const serving = server.serveForever();
      await started.promise;
      await server.shutdown();
      await serving;
      const handled = server.handleRequest();
      await writeAll(a, encoder.encode("go\n"));
      await writeAll(b, encoder.encode("go\n"));
      await handled;
    } finally {
      a.close();
      b.close();
    }
    assert.equal(takenWhileRunning, 0, "getRequest() was called while a handler ran");
  }));

Deno.test("plain TCPServer: a handler that stops serveForever() and then calls handleRequest() itself is not made to wait for itself", async () => {
  const served: string[] = [];
  class Relay extends StreamRequestHandler {
    override async handle() {
      const me = new TextDecoder().decode(await this.rfile.readline()).trim();
      served.push(me);
      if (me === "first") {
        await this.server.shutdown();
        await this.server.handleRequest(); // the next client, from inside this one
      }
      await this.wfile.write(`${me} done\n`);
    }
  }
  await using server = new TCPServer(["127.0.0.1", 0], Relay);
  const a = await connectTcp(server.serverAddress);
  const b = await connectTcp(server.serverAddress);
  try {
    const serving = server.serveForever();
    await writeAll(a, encoder.encode("first\n"));
    await writeAll(b, encoder.encode("second\n"));
    assert.equal(await readAllText(b), "second done\n");
    assert.equal(await readAllText(a), "first done\n");
    await serving;
  } finally {
    a.close();
    b.close();
  }
  assert.deepEqual(served, ["first", "second"]);
});

Deno.test("plain TCPServer: a handler that stops serveForever() and starts it again itself is not made to wait for itself", async () => {
  const restarted = Promise.withResolvers<void>();
  let serving: Promise<void> | undefined;
  class Reload extends StreamRequestHandler {
    override async handle() {
      const me = new TextDecoder().decode(await this.rfile.readline()).trim();
      if (me === "reload") {
        await this.server.shutdown();
        serving = this.server.serveForever(); // the reloaded loop
        restarted.resolve();
        await this.rfile.readline(); // this connection stays, as a long-lived one does
      }
      await this.wfile.write(`${me} done\n`);
    }
  }
  await using server = new TCPServer(["127.0.0.1", 0], Reload);
  const admin = await connectTcp(server.serverAddress);
  const client = await connectTcp(server.serverAddress);
  try {
    const first = server.serveForever();
    await writeAll(admin, encoder.encode("reload\n"));
    await restarted.promise;
    await first;
    await writeAll(client, encoder.encode("client\n"));
    assert.equal(await readAllText(client), "client done\n"); // served while admin's handler runs
    await writeAll(admin, encoder.encode("bye\n"));
    assert.equal(await readAllText(admin), "reload done\n");
    await server.shutdown();
    await serving;
  } finally {
    admin.close();
    client.close();
  }
});
