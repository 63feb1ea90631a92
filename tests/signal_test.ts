/**
 * The `signal` option: an `AbortSignal` that stops and closes the server,
 * as `Deno.serve({ signal })` does — on every server.
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  DatagramRequestHandler,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUDPServer,
  UnixStreamServer,
} from "../mod.ts";
import { decoder, encoder, readLineWithin } from "./_net.ts";
import { runCommand } from "./_process.ts";
import { within } from "./_wait.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

Deno.test("BaseServer({ signal }) stops serveForever() and closes the server when it aborts, as Deno.serve({ signal }) does", async () => {
  const controller = new AbortController();
  const server = new ThreadingTCPServer(LOCAL, BaseRequestHandler, { signal: controller.signal });
  const { port } = server.serverAddress;
  const serving = server.serveForever();
  controller.abort();
  assert.equal(server.closed, true);
  await within(serving, 5_000, "serveForever() to return");
  await within(server.serverClose(), 5_000, "the close to end");
  Deno.listen({ hostname: "127.0.0.1", port }).close(); // the port is free
});

Deno.test("BaseServer({ signal }) aborted lets the request in flight finish and answer, as Deno.serve's graceful stop does", async () => {
  const controller = new AbortController();
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  class Slow extends StreamRequestHandler {
    override async handle() {
      entered.resolve();
      await release.promise;
      await this.wfile.write("finished\n");
    }
  }
  const server = new TCPServer(LOCAL, Slow, { signal: controller.signal });
  const serving = server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await within(entered.promise, 5_000, "the handler to start");
    controller.abort();
    await within(serving, 5_000, "serveForever() to return");
    release.resolve();
    assert.equal(await readLineWithin(conn, 5_000), "finished");
  } finally {
    conn.close();
  }
  await within(server.serverClose(), 5_000, "the close to end");
  assert.equal(server.activeRequests, 0);
});

Deno.test("BaseServer({ signal }) aborted before construction gives a server that binds nothing and whose serveForever() returns at once", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = probe.addr;
  probe.close();
  const server = new TCPServer({ hostname: "127.0.0.1", port }, BaseRequestHandler, {
    signal: AbortSignal.abort(),
  });
  assert.equal(server.closed, true);
  Deno.listen({ hostname: "127.0.0.1", port }).close(); // nothing was bound
  await within(server.serveForever(), 2_000, "serveForever() to return at once");
  await server.serverClose();
});

Deno.test("BaseServer({ signal }) works on datagram and Unix servers too, and leaves no listener on the signal", async () => {
  const controller = new AbortController();
  let listeners = 0;
  const signal = controller.signal;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<typeof add>) => (listeners++, add(...args));
  signal.removeEventListener = (
    ...args: Parameters<typeof remove>
  ) => (listeners--, remove(...args));

  class Echo extends DatagramRequestHandler {
    override async handle() {
      await this.wfile.write(this.packet);
    }
  }
  const udp = new ThreadingUDPServer(LOCAL, Echo, { signal });
  const dir = await Deno.makeTempDir();
  const unix = new UnixStreamServer(`${dir}/app.sock`, BaseRequestHandler, { signal });
  const servingUdp = udp.serveForever();
  const servingUnix = unix.serveForever();
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client.send(encoder.encode("ping"), udp.serverAddress);
    const [reply] = await within(client.receive(), 5_000, "the echo");
    assert.equal(decoder.decode(reply), "ping");
  } finally {
    client.close();
  }
  assert.equal(listeners, 2);
  controller.abort();
  await within(Promise.all([servingUdp, servingUnix]), 5_000, "both servers to stop");
  await within(Promise.all([udp.serverClose(), unix.serverClose()]), 5_000, "both to close");
  assert.equal(listeners, 0);
  assert.deepEqual([...Deno.readDirSync(dir)], []); // the socket file is gone
  await Deno.remove(dir);

  // closed by other means, a server takes its listener off the signal too
  const other = new AbortController();
  let left = 0;
  const otherAdd = other.signal.addEventListener.bind(other.signal);
  const otherRemove = other.signal.removeEventListener.bind(other.signal);
  other.signal.addEventListener = (...args: Parameters<typeof add>) => (left++, otherAdd(...args));
  other.signal.removeEventListener = (...args: Parameters<typeof remove>) => (
    left--, otherRemove(...args)
  );
  const server = new TCPServer(LOCAL, BaseRequestHandler, { signal: other.signal });
  await server.serverClose();
  assert.equal(left, 0);
});

Deno.test("BaseServer({ signal }) that is not an AbortSignal is refused before any socket opens", () => {
  assert.throws(
    () => new TCPServer(LOCAL, BaseRequestHandler, { signal: { aborted: false } as never }),
    /"signal" must be an AbortSignal/,
  );
});

Deno.test("BaseServer({ signal }) stops a ForkingTCPServer: its children end and serveForever() returns", async () => {
  const program = new URL("./fixtures/forking_lifecycle.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await runCommand("deno", [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=deno",
    program,
    "signal",
  ], { timeoutMs: 60_000 });
  assert.equal(code, 0, stderr);
  const outcome = JSON.parse(stdout.trim());
  assert.equal(outcome.ready, "resolved");
  assert.equal(outcome.served, "returned");
  assert.equal(outcome.children, 1);
  assert.equal(outcome.closed, true);
  assert.equal(outcome.left, 0);
});

Deno.test("BaseServer({ signal }) aborted, then serverClose({ graceMs }): a request still running at the deadline has its connection closed, and serverClose() returns", async () => {
  const controller = new AbortController();
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  class Hung extends StreamRequestHandler {
    override async handle() {
      await this.wfile.write("started\n");
      entered.resolve();
      await release.promise; // a handler that never ends on its own
    }
  }
  const server = new TCPServer(LOCAL, Hung, { signal: controller.signal });
  const serving = server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await within(entered.promise, 5_000, "the handler to start");
    assert.equal(await readLineWithin(conn, 5_000), "started");
    controller.abort();
    await within(serving, 5_000, "serveForever() to return");
    // the abort waits for the request for ever; the later close sets a deadline
    await within(server.serverClose({ graceMs: 50 }), 5_000, "serverClose({ graceMs: 50 })");
    assert.equal(await readLineWithin(conn, 5_000), null, "the connection closed at the deadline");
  } finally {
    release.resolve();
    conn.close();
  }
});
