/**
 * The request loop as Python's keeps it: one taker per request
 * (`handleRequest()` calls take turns; `serveForever()` and `handleRequest()`
 * refuse to overlap), `serviceActions()` never running twice at once nor
 * during a plain server's request, a stop asked before serving kept, and
 * `serverClose()` awaited inside a handler returning.
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  UDPServer,
} from "../mod.ts";
import { decoder, encoder, readLineWithin, readToEnd } from "./_net.ts";
import { within } from "./_wait.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** Answers the first line with itself. */
class EchoLine extends StreamRequestHandler {
  override async handle() {
    await this.wfile.write(await this.rfile.readline());
  }
}

async function sendLine(port: number, line: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(line + "\n"));
  return conn;
}

Deno.test("handleRequest() called twice at once: each call takes its own request, as Python's serialised handle_request() does", async () => {
  await using server = new TCPServer(LOCAL, EchoLine);
  const first = server.handleRequest();
  const second = server.handleRequest();
  const a = await sendLine(server.serverAddress.port, "one");
  const b = await sendLine(server.serverAddress.port, "two");
  try {
    assert.equal(await readLineWithin(a, 5_000), "one");
    assert.equal(await readLineWithin(b, 5_000), "two");
    await within(Promise.all([first, second]), 5_000, "both handleRequest() calls");
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("handleRequest() calls queued behind each other each time out from their own call, as Python's do", async () => {
  let timeouts = 0;
  class Patient extends TCPServer {
    override handleTimeout() {
      timeouts++;
    }
  }
  await using server = new Patient(LOCAL, EchoLine, { timeout: 30 });
  const started = performance.now();
  await within(
    Promise.all([server.handleRequest(), server.handleRequest(), server.handleRequest()]),
    5_000,
    "three handleRequest() calls to time out",
  );
  assert.equal(timeouts, 3);
  // and the next call still takes a request
  const handled = server.handleRequest();
  const conn = await sendLine(server.serverAddress.port, "after");
  assert.equal(await readLineWithin(conn, 5_000), "after");
  conn.close();
  await handled;
  assert.ok(performance.now() - started >= 30);
});

Deno.test("handleRequest() while serveForever() serves fails at once, saying why, instead of sharing a request", async () => {
  await using server = new ThreadingTCPServer(LOCAL, EchoLine);
  const serving = server.serveForever();
  await assert.rejects(
    within(server.handleRequest(), 2_000, "handleRequest() to fail"),
    (error: Error) => /serveForever\(\) is serving: call shutdown\(\) first/.test(error.message),
  );
  const conn = await sendLine(server.serverAddress.port, "served");
  assert.equal(await readLineWithin(conn, 5_000), "served");
  conn.close();
  await server.shutdown();
  await serving;
});

Deno.test("serveForever() while a handleRequest() waits for a request fails at once, saying why", async () => {
  await using server = new TCPServer(LOCAL, EchoLine);
  const handled = server.handleRequest();
  await assert.rejects(
    within(server.serveForever(), 2_000, "serveForever() to fail"),
    (error: Error) => /handleRequest\(\) is waiting for a request/.test(error.message),
  );
  const conn = await sendLine(server.serverAddress.port, "taken once");
  assert.equal(await readLineWithin(conn, 5_000), "taken once");
  conn.close();
  await handled;
});

Deno.test("serviceActions(), async and slower than pollInterval, never runs twice at once, as Python's service_actions() never does", async () => {
  let running = 0;
  let most = 0;
  let runs = 0;
  const enough = Promise.withResolvers<void>();
  class Slow extends ThreadingTCPServer {
    override async serviceActions() {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
      if (++runs === 6) enough.resolve();
    }
  }
  await using server = new Slow(LOCAL, EchoLine);
  const serving = server.serveForever(2);
  // requests too: each ends with a run of serviceActions()
  for (let i = 0; i < 3; i++) {
    const conn = await sendLine(server.serverAddress.port, `r${i}`);
    await readToEnd(conn);
    conn.close();
  }
  await within(enough.promise, 10_000, "six runs of serviceActions()");
  await server.shutdown();
  await serving;
  assert.equal(most, 1);
});

Deno.test("serviceActions() never runs during a plain server's request, as in Python's loop", async () => {
  let actionsRunning = false;
  let overlapped = 0;
  let idleRun: PromiseWithResolvers<void> | null = null;
  class During extends StreamRequestHandler {
    override async handle() {
      if (actionsRunning) overlapped++;
      await this.wfile.write(await this.rfile.readline());
    }
  }
  class Busy extends TCPServer {
    override async serviceActions() {
      actionsRunning = true;
      idleRun?.resolve();
      await new Promise((resolve) => setTimeout(resolve, 50));
      actionsRunning = false;
    }
  }
  await using server = new Busy(LOCAL, During);
  const serving = server.serveForever(1);
  for (let i = 0; i < 3; i++) {
    // a request that comes while a run started by the idle timer is going on
    idleRun = Promise.withResolvers<void>();
    await within(idleRun.promise, 5_000, "serviceActions() to run while idle");
    idleRun = null;
    const conn = await sendLine(server.serverAddress.port, `r${i}`);
    assert.equal(await readLineWithin(conn, 5_000), `r${i}`);
    conn.close();
  }
  await server.shutdown();
  await serving;
  assert.equal(overlapped, 0);
});

Deno.test("shutdown() before serveForever() makes it return at once, as Python's kept shutdown request does", async () => {
  await using server = new TCPServer(LOCAL, EchoLine);
  await server.shutdown(); // resolves at once: not serving
  await within(server.serveForever(), 2_000, "serveForever() to return at once");
  assert.equal(server.serving, false);
  // the request is used up: serving again serves
  const serving = server.serveForever();
  const conn = await sendLine(server.serverAddress.port, "again");
  assert.equal(await readLineWithin(conn, 5_000), "again");
  conn.close();
  await server.shutdown();
  await serving;
});

Deno.test("serverClose() awaited inside a handler returns once the other requests are done, instead of waiting for itself", async () => {
  const order: string[] = [];
  const otherStarted = Promise.withResolvers<void>();
  const releaseOther = Promise.withResolvers<void>();
  class Control extends StreamRequestHandler<ThreadingTCPServer> {
    override async handle() {
      const command = decoder.decode(await this.rfile.readline()).trim();
      if (command === "slow") {
        otherStarted.resolve();
        await releaseOther.promise;
        order.push("other done");
        await this.wfile.write("slow done\n");
        return;
      }
      setTimeout(() => releaseOther.resolve(), 20);
      await this.server.serverClose(); // waits for "slow", not for this handler
      order.push("closed");
      assert.equal(this.server.closed, true);
      await this.wfile.write("stopped\n");
    }
  }
  const server = new ThreadingTCPServer(LOCAL, Control);
  const serving = server.serveForever();
  const slow = await sendLine(server.serverAddress.port, "slow");
  await otherStarted.promise;
  const quit = await sendLine(server.serverAddress.port, "quit");
  try {
    assert.equal(await readLineWithin(quit, 5_000), "stopped");
    assert.equal(await readLineWithin(slow, 5_000), "slow done");
    await within(serving, 5_000, "serveForever() to return");
    await within(server.serverClose(), 5_000, "serverClose() from outside");
  } finally {
    slow.close();
    quit.close();
  }
  assert.deepEqual(order, ["other done", "closed"]);
  assert.equal(server.activeRequests, 0);
});

Deno.test("serverClose() awaited in a plain TCPServer handler, or in a helper it awaits, returns", async () => {
  async function stop(handler: BaseRequestHandler) {
    await handler.server.serverClose();
  }
  class Quit extends StreamRequestHandler {
    override async handle() {
      await this.rfile.readline();
      await stop(this);
      await this.wfile.write("bye\n");
    }
  }
  const server = new TCPServer(LOCAL, Quit);
  const serving = server.serveForever();
  const conn = await sendLine(server.serverAddress.port, "quit");
  try {
    assert.equal(await readLineWithin(conn, 5_000), "bye");
    await within(serving, 5_000, "serveForever() to return");
  } finally {
    conn.close();
  }
  await within(server.serverClose(), 5_000, "serverClose() from outside");
  assert.equal(server.activeRequests, 0);
});

Deno.test("serverClose() awaited in a datagram handler returns, and the reply still goes out", async () => {
  class Quit extends BaseRequestHandler<UDPServer> {
    override async handle() {
      await this.server.serverClose();
      const [, socket] = this.request;
      await socket.send(encoder.encode("bye"), this.clientAddress);
    }
  }
  const server = new UDPServer(LOCAL, Quit);
  const serving = server.serveForever();
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client.send(encoder.encode("quit"), server.serverAddress);
    const [reply] = await within(client.receive(), 5_000, "the reply");
    assert.equal(decoder.decode(reply), "bye");
    await within(serving, 5_000, "serveForever() to return");
  } finally {
    client.close();
  }
  await within(server.serverClose(), 5_000, "serverClose() from outside");
});

Deno.test("serverClose() called from a timer's callback inside a handler is not recognised as the handler's: it waits for that request to end, as for any other", async () => {
  const order: string[] = [];
  let closing: Promise<void> | undefined;
  class TimerClose extends StreamRequestHandler {
    override async handle() {
      await this.rfile.readline();
      // a timer's callback does not continue the handler's async stack
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          closing = this.server.serverClose().then(() => void order.push("closed"));
          resolve();
        }, 0)
      );
      // a round trip with the client: the event loop turns, and a close that
      // took this request for the caller's own would have resolved by now
      await this.wfile.write("closing\n");
      const more = decoder.decode(await this.rfile.readline()).trim();
      order.push(`handler read ${more}`);
      await this.wfile.write("bye\n");
    }
  }
  const server = new TCPServer(LOCAL, TimerClose);
  const serving = server.serveForever();
  const conn = await sendLine(server.serverAddress.port, "close");
  try {
    assert.equal(await readLineWithin(conn, 5_000), "closing");
    await conn.write(encoder.encode("more\n"));
    assert.equal(await readLineWithin(conn, 5_000), "bye");
    await within(serving, 5_000, "serveForever() to return");
    assert.notEqual(closing, undefined);
    await within(closing!, 5_000, "the timer's serverClose() to return");
  } finally {
    conn.close();
  }
  assert.deepEqual(order, ["handler read more", "closed"]);
  assert.equal(server.activeRequests, 0);
});
