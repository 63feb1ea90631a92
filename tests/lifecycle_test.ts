import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  type BaseServer,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  UDPServer,
  UnixStreamServer,
} from "../mod.ts";
import { connectTcp, exchange, readAllText } from "./_net.ts";
import { within } from "./_wait.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

class Echo extends StreamRequestHandler {
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

Deno.test("TCPServer's constructor binds and listens, so serverAddress has the real port", async () => {
  await using server = new TCPServer(LOCAL, Echo);
  assert.equal(server.serverAddress.transport, "tcp");
  assert.equal(server.serverAddress.hostname, "127.0.0.1");
  assert.ok(server.serverAddress.port > 0);
  assert.deepEqual(server.socket.addr, server.serverAddress);
  // listening already: a client connects before any serving starts
  const conn = await connectTcp(server.serverAddress);
  const handled = server.handleRequest();
  await conn.write(new TextEncoder().encode("hi\n"));
  await conn.closeWrite();
  assert.equal(await readAllText(conn), "hi\n");
  conn.close();
  await handled;
});

Deno.test("serveForever() returns after shutdown() called right after it starts", async () => {
  await using server = new TCPServer(LOCAL, Echo);
  const serving = server.serveForever();
  assert.equal(server.serving, true);
  await server.shutdown();
  assert.equal(server.serving, false);
  await serving;
});

Deno.test("shutdown() resolves once serveForever() has returned, as Python's, on stream and datagram servers; a second call meanwhile waits for the same return and stops no later run", async () => {
  for (
    const make of [() => new TCPServer(LOCAL, Echo), () => new UDPServer(LOCAL, BaseRequestHandler)]
  ) {
    await using server = make();
    let returned = false;
    const serving = server.serveForever().then(() => returned = true);
    const first = server.shutdown();
    const second = server.shutdown();
    await first;
    assert.equal(returned, true, `${server.constructor.name}: serveForever() had not returned`);
    await second;
    await serving;
    // neither call was kept for the next run
    const again = server.serveForever();
    assert.equal(server.serving, true);
    await server.shutdown();
    await again;
  }
});

Deno.test("handleRequest() waiting for a request when serverClose() runs resolves, as serveForever() returns, on stream and datagram servers; one called after the close still throws", async () => {
  for (
    const make of [() => new TCPServer(LOCAL, Echo), () => new UDPServer(LOCAL, BaseRequestHandler)]
  ) {
    const server = make();
    const waiting = server.handleRequest();
    const second = server.handleRequest(); // waits for its turn behind the first
    await server.serverClose();
    await within(waiting, 2_000, `${server.constructor.name}: the waiting handleRequest()`);
    await within(second, 2_000, `${server.constructor.name}: the handleRequest() waiting its turn`);
    await assert.rejects(server.handleRequest(), /on a closed server/);
  }
});

Deno.test("shutdown() resolves at once when the server is not serving, and the next serveForever() returns at once", async () => {
  await using server = new TCPServer(LOCAL, Echo);
  await server.shutdown();
  await server.shutdown();
  // the stop is kept for the next serveForever(), which uses it up
  await server.serveForever();
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, "after\n"), "after\n");
  await server.shutdown();
  await serving;
});

Deno.test("serveForever() returns after shutdown() from a handler", async () => {
  class StopAndReply extends StreamRequestHandler {
    override async handle() {
      await this.server.shutdown(); // awaited from inside: must not deadlock
      await this.wfile.write("stopping\n");
    }
  }
  await using server = new TCPServer(LOCAL, StopAndReply);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, ""), "stopping\n");
  await serving;
  assert.equal(server.serving, false);
});

Deno.test("shutdown() from a threading handler stops the loop and the reply still arrives", async () => {
  class StopAndReply extends StreamRequestHandler {
    override async handle() {
      await this.server.shutdown();
      await this.wfile.write("stopping\n");
    }
  }
  await using server = new ThreadingTCPServer(LOCAL, StopAndReply);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, ""), "stopping\n");
  await serving;
});

Deno.test("shutdown() while a request is in flight: the loop stops, the request finishes and is answered", async () => {
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  class Slow extends StreamRequestHandler {
    override async handle() {
      const line = await this.rfile.readline();
      entered.resolve();
      await release.promise;
      await this.wfile.write(line);
    }
  }
  const server = new TCPServer(LOCAL, Slow);
  const serving = server.serveForever();
  const reply = exchange(server.serverAddress, "in flight\n");
  await entered.promise;
  await server.shutdown();
  await serving; // returned although the handler has not finished
  assert.equal(server.activeRequests, 1);
  const closed = server.serverClose(); // waits for the request in flight
  release.resolve();
  assert.equal(await reply, "in flight\n");
  await closed;
  assert.equal(server.activeRequests, 0);
});

Deno.test("serveForever() and shutdown() on twenty servers at once", async () => {
  const servers = Array.from({ length: 20 }, () => new TCPServer(LOCAL, Echo));
  const serving = servers.map((s) => s.serveForever());
  const replies = await Promise.all(
    servers.map((s, i) => exchange(s.serverAddress, `server ${i}\n`)),
  );
  assert.deepEqual(replies, servers.map((_, i) => `server ${i}\n`));
  await Promise.all(servers.map((s) => s.shutdown()));
  await Promise.all(serving);
  await Promise.all(servers.map((s) => s.serverClose()));
  assert.ok(servers.every((s) => !s.serving && s.closed));
});

Deno.test("serveForever() twice at once throws, and after serverClose() it throws", async () => {
  const server = new TCPServer(LOCAL, Echo);
  const serving = server.serveForever();
  await assert.rejects(server.serveForever(), /already running/);
  await server.shutdown();
  await serving;
  await server.serverClose();
  await assert.rejects(server.serveForever(), Deno.errors.BadResource);
  await assert.rejects(server.handleRequest(), Deno.errors.BadResource);
});

Deno.test("serverClose() while serving ends serveForever() and frees the port at once", async () => {
  const server = new TCPServer(LOCAL, Echo);
  const { port } = server.serverAddress;
  const serving = server.serveForever();
  // leave a connection in TIME_WAIT on the port first
  assert.equal(await exchange(server.serverAddress, "x\n"), "x\n");
  await server.serverClose();
  await serving;
  await using again = new TCPServer({ hostname: "127.0.0.1", port }, Echo);
  assert.equal(again.serverAddress.port, port);
});

Deno.test("[Symbol.asyncDispose]() (await using) shuts the server down and closes it at scope end", async () => {
  let port: number;
  let serving: Promise<void>;
  {
    await using server = new TCPServer(LOCAL, Echo);
    port = server.serverAddress.port;
    serving = server.serveForever();
    assert.equal(await exchange(server.serverAddress, "scoped\n"), "scoped\n");
  }
  await serving;
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("handleRequest() handles exactly one request", async () => {
  await using server = new TCPServer(LOCAL, Echo);
  const first = await connectTcp(server.serverAddress);
  const second = await connectTcp(server.serverAddress);
  await first.write(new TextEncoder().encode("one\n"));
  await first.closeWrite();
  await server.handleRequest();
  assert.equal(await readAllText(first), "one\n");
  // the second connection is still waiting in the backlog, unanswered
  assert.equal(server.activeRequests, 0);
  await second.write(new TextEncoder().encode("two\n"));
  await second.closeWrite();
  await server.handleRequest();
  assert.equal(await readAllText(second), "two\n");
  first.close();
  second.close();
});

Deno.test("handleRequest() calls handleTimeout() when no request comes within timeout, and awaits an async one", async () => {
  let timeouts = 0;
  class Waiting extends TCPServer {
    override async handleTimeout() {
      await new Promise((resolve) => setTimeout(resolve, 10));
      timeouts++;
    }
  }
  await using server = new Waiting(LOCAL, Echo, { timeout: 20 });
  await server.handleRequest();
  await server.handleRequest();
  assert.equal(timeouts, 2);
  // the accept that timed out is kept, not lost: a client now is served
  const reply = exchange(server.serverAddress, "late\n");
  await server.handleRequest();
  assert.equal(await reply, "late\n");
  assert.equal(timeouts, 2);
});

Deno.test("handleRequest() without a timeout waits for the request", async () => {
  let timeouts = 0;
  class Waiting extends TCPServer {
    override handleTimeout() {
      timeouts++;
    }
  }
  await using server = new Waiting(LOCAL, Echo);
  assert.equal(server.timeout, null);
  const handled = server.handleRequest();
  assert.equal(await exchange(server.serverAddress, "waited\n"), "waited\n");
  await handled;
  assert.equal(timeouts, 0);
});

Deno.test("serveForever() awaits an async serviceActions() before it takes the next request", async () => {
  class Ordered extends TCPServer {
    events: string[] = [];
    override async getRequest() {
      this.events.push("getRequest");
      return await super.getRequest();
    }
    override async serviceActions() {
      this.events.push("actions begin");
      await new Promise((resolve) => setTimeout(resolve, 10));
      this.events.push("actions end");
    }
  }
  await using server = new Ordered(LOCAL, Echo);
  const serving = server.serveForever(null);
  assert.equal(await exchange(server.serverAddress, "a\n"), "a\n");
  assert.equal(await exchange(server.serverAddress, "b\n"), "b\n");
  await server.shutdown();
  await serving;
  assert.deepEqual(server.events.slice(0, 4), [
    "getRequest",
    "actions begin",
    "actions end",
    "getRequest",
  ]);
  assert.equal(server.events.filter((e) => e === "actions end").length, 2);
});

Deno.test("serviceActions() runs after every request and while idle every pollInterval", async () => {
  const idleTicks = Promise.withResolvers<void>();
  class Ticking extends TCPServer {
    actions = 0;
    override serviceActions() {
      this.actions++;
      if (this.actions === 5) idleTicks.resolve();
    }
  }
  await using server = new Ticking(LOCAL, Echo);
  const serving = server.serveForever(5);
  await idleTicks.promise; // five ticks with no request at all
  await server.shutdown();
  await serving;

  // with pollInterval null, it runs once per request and never while idle
  await using quiet = new Ticking(LOCAL, Echo);
  const quietServing = quiet.serveForever(null);
  await exchange(quiet.serverAddress, "a\n");
  await exchange(quiet.serverAddress, "b\n");
  await quiet.shutdown();
  await quietServing;
  assert.equal(quiet.actions, 2);
});

Deno.test("serverClose({ graceMs }) closes requests still running after the deadline", async () => {
  const entered = Promise.withResolvers<void>();
  let handlerError: unknown;
  class Hung extends StreamRequestHandler {
    override async handle() {
      entered.resolve();
      try {
        await this.rfile.readline(); // the client never sends
      } catch (error) {
        handlerError = error;
        throw error;
      }
    }
  }
  class Quiet extends ThreadingTCPServer {
    override handleError() {}
  }
  const server = new Quiet(LOCAL, Hung);
  const serving = server.serveForever();
  const client = await connectTcp(server.serverAddress);
  await entered.promise;
  await server.shutdown();
  await serving;
  await server.serverClose({ graceMs: 20 });
  assert.equal(server.activeRequests, 0);
  assert.equal(await readAllText(client), ""); // the server closed it
  client.close();
  assert.ok(handlerError instanceof Error);
});

Deno.test("BaseRequestHandler that does nothing still gets its connection closed", async () => {
  await using server = new TCPServer(LOCAL, BaseRequestHandler);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, "ignored"), "");
  await server.shutdown();
  await serving;
});

Deno.test("serveForever() and handleRequest() on a server never bound reject at once, saying to call serverBind()", async () => {
  const dir = await Deno.makeTempDir();
  const unbound = { bindAndActivate: false };
  // deno-lint-ignore no-explicit-any
  const servers: BaseServer<any, any, any>[] = [
    new TCPServer(LOCAL, Echo, unbound),
    new ThreadingTCPServer(LOCAL, Echo, unbound),
    new UDPServer(LOCAL, BaseRequestHandler, unbound),
    new UnixStreamServer({ path: `${dir}/never.sock` }, BaseRequestHandler, unbound),
  ];
  const notBound = (name: string) => (error: unknown) =>
    error instanceof Deno.errors.BadResource &&
    error.message ===
      `${name} is not bound: call serverBind() and then serverActivate() before serving, or construct it without { bindAndActivate: false }`;
  try {
    for (const server of servers) {
      const name = server.constructor.name;
      await assert.rejects(within(server.serveForever(), 1000, "serveForever()"), notBound(name));
      assert.equal(server.serving, false);
      await assert.rejects(within(server.handleRequest(), 1000, "handleRequest()"), notBound(name));
    }
  } finally {
    await Promise.all(servers.map((server) => server.serverClose()));
    await Deno.remove(dir, { recursive: true });
  }
});
