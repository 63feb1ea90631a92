/**
 * Lifecycle methods called a second time, or from a hook, at the worst
 * moment: `serverClose()` awaited from `verifyRequest()`, `handleError()`
 * and `handleDrop()` (the request is open, its handler frame is not on the
 * stack, so `serverClose()` waits for the very hook that awaits it), and
 * `serverBind()` after `serverClose()` or twice at once (a listener nobody
 * closes).
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  StreamRequestHandler,
  type StreamServer,
  TCPServer,
  ThreadingTCPServer,
  UDPServer,
  UnixStreamServer,
} from "../mod.ts";
import { pathExists } from "./_files.ts";
import { hasCommand, runCommand } from "./_process.ts";
import { until, within } from "./_wait.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

for (const Server of [TCPServer, ThreadingTCPServer]) {
  Deno.test(`serverClose() awaited in a ${Server.name}'s verifyRequest() returns, as Python's server_close() does there, instead of waiting for the request being verified`, async () => {
    let inner: Promise<void> | null = null;
    class Closing extends Server {
      override async verifyRequest() {
        inner = this.serverClose();
        await inner;
        return false;
      }
    }
    const server = new Closing(LOCAL, BaseRequestHandler);
    const serving = server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    try {
      await until(() => inner !== null, "verifyRequest() to call serverClose()");
      await within(inner!, 2_000, "serverClose() called in verifyRequest() to return");
      await within(serving, 2_000, "serveForever() to return");
    } finally {
      conn.close();
      // a broken build is stuck in verifyRequest(): cut it off
      await within(server.serverClose({ graceMs: 0, lingerMs: 0 }), 5_000, "the cleanup");
      await serving;
    }
  });

  Deno.test(`serverClose() awaited in a ${Server.name}'s handleError() returns instead of waiting for the request whose error it reports`, async () => {
    let inner: Promise<void> | null = null;
    class Failing extends StreamRequestHandler<StreamServer> {
      override handle(): void {
        throw new Error("a bug in the handler");
      }
    }
    class Closing extends Server {
      override async handleError() {
        inner = this.serverClose();
        await inner;
      }
    }
    const server = new Closing(LOCAL, Failing);
    const serving = server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    try {
      await until(() => inner !== null, "handleError() to call serverClose()");
      await within(inner!, 2_000, "serverClose() called in handleError() to return");
      await within(serving, 2_000, "serveForever() to return");
    } finally {
      conn.close();
      await within(server.serverClose({ graceMs: 0, lingerMs: 0 }), 5_000, "the cleanup");
      await serving;
    }
  });
}

Deno.test("serverClose() awaited in handleDrop() (stop at the first reset) returns instead of waiting for the dropped request", async () => {
  let inner: Promise<void> | null = null;
  class Reader extends StreamRequestHandler<StreamServer> {
    override timeout = 50;
    override async handle() {
      await this.rfile.readline(); // the silent client times out: a drop
    }
  }
  class Closing extends ThreadingTCPServer {
    override async handleDrop() {
      inner = this.serverClose();
      await inner;
    }
  }
  const server = new Closing(LOCAL, Reader);
  const serving = server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await until(() => inner !== null, "handleDrop() to call serverClose()");
    await within(inner!, 2_000, "serverClose() called in handleDrop() to return");
  } finally {
    conn.close();
    await within(server.serverClose({ graceMs: 0, lingerMs: 0 }), 5_000, "the cleanup");
    await serving;
  }
});

Deno.test("serverBind() after serverClose() refuses, as Python's fails on the closed socket, instead of leaving a listener nobody closes", async () => {
  const server = new TCPServer(LOCAL, BaseRequestHandler, { bindAndActivate: false });
  await server.serverClose();
  let bound = false;
  try {
    server.serverBind();
    bound = true;
  } catch {
    // refused: what Python does too
  }
  // a second serverClose() is the only close the caller can make: it must
  // not leave the listener open (Deno's sanitizer would also report it)
  await server.serverClose();
  if (bound) {
    // the port must be free again, as after any serverClose()
    const probe = await Deno.connect(server.serverAddress).then(
      (conn) => (conn.close(), "accepted"),
      () => "refused",
    );
    server.socket?.close(); // leave nothing behind when this fails
    assert.equal(probe, "refused", "a closed server still listens on its port");
    assert.fail("serverBind() bound a closed server");
  }
});

Deno.test("UDPServer.serverBind() after serverClose() refuses instead of binding a socket nobody closes", async () => {
  const server = new UDPServer(LOCAL, BaseRequestHandler, { bindAndActivate: false });
  await server.serverClose();
  let bound = false;
  try {
    server.serverBind();
    bound = true;
  } catch {
    // refused
  }
  await server.serverClose();
  if (bound) {
    server.socket?.close();
    assert.fail("serverBind() bound a closed UDPServer, and serverClose() left the socket open");
  }
});

Deno.test("UnixStreamServer.serverBind() twice at once over a stale socket file: one binds and serves, the other fails, and no listener is left behind", async () => {
  if (!hasCommand("python3")) return;
  const dir = await Deno.makeTempDir();
  const path = `${dir}/app.sock`;
  // a stale socket file, as a crashed run leaves one: bound, never listened on
  const made = await runCommand("python3", [
    "-c",
    `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`,
  ]);
  assert.equal(made.code, 0, made.stderr);
  class Hello extends StreamRequestHandler<StreamServer> {
    override async handle() {
      await this.wfile.write("hello\n");
    }
  }
  const server = new UnixStreamServer({ path }, Hello, {
    bindAndActivate: false,
    reclaimStaleSocket: true,
  });
  const binds = await Promise.allSettled([server.serverBind(), server.serverBind()]);
  const leaked = server.socket;
  try {
    assert.deepEqual(
      binds.map((b) => b.status).sort(),
      ["fulfilled", "rejected"],
      "one of the two binds wins",
    );
    server.serverActivate();
    const handled = server.handleRequest();
    const conn = await Deno.connect({ transport: "unix", path });
    try {
      const reply = await within(
        new Response(conn.readable).text(),
        2_000,
        "the server to serve the connection made to its path",
      );
      assert.equal(reply, "hello\n");
    } finally {
      try {
        conn.close();
      } catch {
        // closed by reading to the end
      }
    }
    await within(handled, 2_000, "handleRequest() to return");
  } finally {
    await server.serverClose({ graceMs: 0, lingerMs: 0 });
    // what a broken build leaves: the listener the second bind replaced
    try {
      leaked?.close();
    } catch {
      // closed already
    }
  }
  assert.equal(await pathExists(path), false, "serverClose() removes the socket file");
  await Deno.remove(dir, { recursive: true });
});

for (const Server of [TCPServer, ThreadingTCPServer]) {
  Deno.test(`shutdown() awaited in a ${Server.name}'s serviceActions() after a request stops serveForever() instead of deadlocking ("shutdown() never deadlocks")`, async () => {
    let handled = 0;
    let inner: Promise<void> | null = null;
    class Count extends BaseRequestHandler {
      override handle() {
        handled++;
      }
    }
    class StopAfterOne extends Server {
      override async serviceActions() {
        if (handled >= 1 && inner === null) {
          inner = this.shutdown();
          await inner;
        }
      }
    }
    const server = new StopAfterOne(LOCAL, Count);
    const serving = server.serveForever(null); // serviceActions() only after requests
    const conn = await Deno.connect(server.serverAddress);
    try {
      await until(() => inner !== null, "serviceActions() to call shutdown()");
      await within(serving, 2_000, "serveForever() to return");
      await within(inner!, 2_000, "shutdown() to return");
    } finally {
      conn.close();
      await server.serverClose({ graceMs: 0, lingerMs: 0 });
    }
  });
}

Deno.test("serverClose() awaited in a handler returns when Error.prepareStackTrace is replaced, as source-map-support and error-reporting agents do", async () => {
  const original = (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
  (Error as { prepareStackTrace?: unknown }).prepareStackTrace = (
    error: Error,
    frames: unknown[],
  ) => `${error.name}: ${error.message} (${frames.length} frames, source-mapped)`;
  let inner: Promise<void> | null = null;
  class Stop extends StreamRequestHandler<StreamServer> {
    override async handle() {
      await this.rfile.readline();
      inner = this.server.serverClose();
      await inner;
      await this.wfile.write("bye\n");
    }
  }
  const server = new ThreadingTCPServer(LOCAL, Stop);
  const serving = server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await conn.write(new TextEncoder().encode("stop\n"));
    await until(() => inner !== null, "the handler to call serverClose()");
    await within(inner!, 2_000, "serverClose() called in the handler to return");
  } finally {
    (Error as { prepareStackTrace?: unknown }).prepareStackTrace = original;
    conn.close();
    await within(server.serverClose({ graceMs: 0, lingerMs: 0 }), 5_000, "the cleanup");
    await serving;
  }
});
