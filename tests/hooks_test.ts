import assert from "node:assert/strict";
import { BaseRequestHandler, StreamRequestHandler, TCPServer, ThreadingTCPServer } from "../mod.ts";
import { exchange, readAllText } from "./_net.ts";
import { Subprocess } from "./_process.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** A server that records every hook call, each one async. */
class Recording extends TCPServer {
  calls: string[] = [];
  accept = true;
  errors: unknown[] = [];

  override async getRequest() {
    const pair = await super.getRequest();
    this.calls.push("getRequest");
    return pair;
  }
  override async verifyRequest(request: Deno.TcpConn, address: Deno.NetAddr) {
    await Promise.resolve();
    this.calls.push("verifyRequest");
    assert.equal(address.port, request.remoteAddr.port);
    return this.accept;
  }
  override async processRequest(request: Deno.TcpConn, address: Deno.NetAddr) {
    this.calls.push("processRequest");
    await super.processRequest(request, address);
  }
  override async finishRequest(request: Deno.TcpConn, address: Deno.NetAddr) {
    this.calls.push("finishRequest");
    await super.finishRequest(request, address);
  }
  override async shutdownRequest(request: Deno.TcpConn) {
    this.calls.push("shutdownRequest");
    await super.shutdownRequest(request);
  }
  override async closeRequest(request: Deno.TcpConn) {
    await Promise.resolve();
    this.calls.push("closeRequest");
    super.closeRequest(request);
  }
  override async handleError(_request: Deno.TcpConn, address: Deno.NetAddr, error: unknown) {
    await Promise.resolve();
    this.calls.push("handleError");
    assert.equal(address.hostname, "127.0.0.1");
    this.errors.push(error);
  }
}

class RecordingHandler extends StreamRequestHandler<Recording> {
  override async setup() {
    super.setup();
    await Promise.resolve();
    this.server.calls.push("setup");
  }
  override async handle() {
    await Promise.resolve();
    this.server.calls.push("handle");
    const line = await this.rfile.readline();
    if (line.length === 0) throw new Error("no request line");
    await this.wfile.write(line);
  }
  override async finish() {
    await Promise.resolve();
    this.server.calls.push("finish");
    await super.finish();
  }
}

Deno.test("handleRequest() runs the hooks in Python's order: get, verify, process, finish, setup, handle, finish, shutdown, close", async () => {
  await using server = new Recording(LOCAL, RecordingHandler);
  const handled = server.handleRequest();
  assert.equal(await exchange(server.serverAddress, "ordered\n"), "ordered\n");
  await handled;
  assert.deepEqual(server.calls, [
    "getRequest",
    "verifyRequest",
    "processRequest",
    "finishRequest",
    "setup",
    "handle",
    "finish",
    "shutdownRequest",
    "closeRequest",
  ]);
  assert.equal(server.activeRequests, 0);
});

Deno.test("verifyRequest() returning false: the request is shut down without any handler running", async () => {
  await using server = new Recording(LOCAL, RecordingHandler);
  server.accept = false;
  const handled = server.handleRequest();
  assert.equal(await exchange(server.serverAddress, "refused\n"), "");
  await handled;
  assert.deepEqual(server.calls, [
    "getRequest",
    "verifyRequest",
    "shutdownRequest",
    "closeRequest",
  ]);
});

Deno.test("handleError(request, clientAddress, error) gets an error in handle() after finish(), then shutdownRequest() runs", async () => {
  await using server = new Recording(LOCAL, RecordingHandler);
  const handled = server.handleRequest();
  assert.equal(await exchange(server.serverAddress, ""), ""); // no line: handle() throws
  await handled;
  assert.deepEqual(server.calls, [
    "getRequest",
    "verifyRequest",
    "processRequest",
    "finishRequest",
    "setup",
    "handle",
    "finish",
    "handleError",
    "shutdownRequest",
    "closeRequest",
  ]);
  assert.equal(server.errors.length, 1);
  assert.match(String(server.errors[0]), /no request line/);
});

Deno.test("serveForever() goes on serving after a handler throws", async () => {
  let n = 0;
  class Flaky extends StreamRequestHandler {
    override async handle() {
      if (n++ === 0) throw new Error("first one fails");
      await this.wfile.write("ok\n");
    }
  }
  class Quiet extends TCPServer {
    errors = 0;
    override handleError() {
      this.errors++;
    }
  }
  await using server = new Quiet(LOCAL, Flaky);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, ""), "");
  assert.equal(await exchange(server.serverAddress, ""), "ok\n");
  assert.equal(server.errors, 1);
  await server.shutdown();
  await serving;
});

Deno.test("verifyRequest() that throws goes to handleError() and the connection is closed", async () => {
  class Broken extends TCPServer {
    errors: unknown[] = [];
    override verifyRequest(): boolean {
      throw new Error("verify broke");
    }
    override handleError(_r: Deno.TcpConn, _a: Deno.NetAddr, error: unknown) {
      this.errors.push(error);
    }
  }
  await using server = new Broken(LOCAL, BaseRequestHandler);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, "x"), "");
  assert.match(String(server.errors[0]), /verify broke/);
  assert.equal(server.activeRequests, 0);
  await server.shutdown();
  await serving;
});

Deno.test("handleError() that throws does not stop serveForever()", async () => {
  class Worse extends TCPServer {
    override handleError(): void {
      throw new Error("handleError broke too");
    }
  }
  class Fails extends BaseRequestHandler {
    override handle(): void {
      throw new Error("handler broke");
    }
  }
  const errors: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args);
  try {
    await using server = new Worse(LOCAL, Fails);
    const serving = server.serveForever();
    assert.equal(await exchange(server.serverAddress, ""), "");
    assert.equal(await exchange(server.serverAddress, ""), "");
    assert.equal(server.serving, true);
    await server.shutdown();
    await serving;
  } finally {
    console.error = original;
  }
  assert.equal(errors.length, 2);
  assert.match(String(errors[0]), /handleError broke too/);
});

Deno.test("handleError() by default writes the client's address and the stack to stderr", async () => {
  const script = `
    import { BaseRequestHandler, TCPServer } from "${new URL("../mod.ts", import.meta.url)}";
    class Fails extends BaseRequestHandler {
      override handle(): void { throw new Error("boom in handle"); }
    }
    const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Fails);
    console.log("port", server.serverAddress.port);
    await server.handleRequest();
    await server.serverClose();
    console.log("done");
  `;
  await using proc = new Subprocess("deno", ["run", "--allow-net=127.0.0.1", "-"], {});
  const writer = proc.child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const [, port] = await proc.waitFor(/^port (\d+)/);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
  await proc.waitFor(/^done/);
  conn.close();
  const { status, stderr } = await proc.finish();
  assert.equal(status.code, 0);
  assert.match(
    stderr,
    new RegExp(
      `Exception occurred during processing of request from 127\\.0\\.0\\.1:${conn.localAddr.port}`,
    ),
  );
  assert.match(stderr, /Error: boom in handle/);
  assert.match(stderr, /at Fails\.handle/);
});

Deno.test("serveForever() with the default handleError() reports a failed request on stderr and goes on serving", async () => {
  const script = `
    import { StreamRequestHandler, TCPServer } from "${new URL("../mod.ts", import.meta.url)}";
    let n = 0;
    class FailsFirst extends StreamRequestHandler {
      override async handle() {
        if (n++ === 0) throw new Error("boom in the first request");
        await this.wfile.write("served " + n + "\\n");
      }
    }
    const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, FailsFirst);
    console.log("port", server.serverAddress.port);
    await server.serveForever();
  `;
  await using proc = new Subprocess("deno", ["run", "--allow-net=127.0.0.1", "-"], {});
  const writer = proc.child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const [, port] = await proc.waitFor(/^port (\d+)/);
  const address = { hostname: "127.0.0.1", port: Number(port) };
  const first = await Deno.connect(address);
  const failedPort = first.localAddr.port;
  assert.equal(await readAllText(first), ""); // closed without a reply
  first.close();
  assert.equal(await exchange(address, ""), "served 2\n");
  assert.equal(await exchange(address, ""), "served 3\n");
  proc.child.kill("SIGTERM");
  const { stderr } = await proc.finish();
  assert.match(
    stderr,
    new RegExp(
      `Exception occurred during processing of request from 127\\.0\\.0\\.1:${failedPort}`,
    ),
  );
  assert.match(stderr, /Error: boom in the first request/);
  assert.equal(stderr.match(/Exception occurred/g)?.length, 1);
});

Deno.test("finish() runs even when handle() throws, and setup() before both", async () => {
  const order: string[] = [];
  class Tracked extends BaseRequestHandler {
    override setup() {
      order.push("setup");
    }
    override async handle() {
      order.push("handle");
      await Promise.resolve();
      throw new Error("handle failed");
    }
    override async finish() {
      await Promise.resolve();
      order.push("finish");
    }
  }
  class Quiet extends TCPServer {
    override handleError() {
      order.push("handleError");
    }
  }
  await using server = new Quiet(LOCAL, Tracked);
  const handled = server.handleRequest();
  await exchange(server.serverAddress, "");
  await handled;
  assert.deepEqual(order, ["setup", "handle", "finish", "handleError"]);
});

Deno.test("serverBind() and serverActivate() are the user's to call with bindAndActivate: false", async () => {
  const calls: string[] = [];
  class Manual extends TCPServer {
    override serverBind() {
      calls.push("serverBind");
      super.serverBind();
    }
    override serverActivate() {
      calls.push("serverActivate");
      super.serverActivate();
    }
  }
  const server = new Manual(LOCAL, BaseRequestHandler, { bindAndActivate: false });
  assert.deepEqual(calls, []);
  assert.equal(server.socket, undefined);
  assert.equal(server.serverAddress.port, 0);
  server.serverBind();
  server.serverActivate();
  assert.deepEqual(calls, ["serverBind", "serverActivate"]);
  assert.ok(server.serverAddress.port > 0);
  assert.throws(() => server.serverBind(), /already bound/);
  await server.serverClose();

  calls.length = 0;
  await using bound = new Manual(LOCAL, BaseRequestHandler);
  assert.deepEqual(calls, ["serverBind", "serverActivate"]);
  assert.ok(bound.serverAddress.port > 0);
});

Deno.test("serverBind() made async is refused by the constructor with a hint, and works with bindAndActivate: false", async () => {
  class AsyncBind extends TCPServer {
    override async serverBind() {
      await Promise.resolve();
      super.serverBind();
    }
  }
  assert.throws(
    () => new AsyncBind(LOCAL, BaseRequestHandler),
    /serverBind\(\) returned a promise.*bindAndActivate: false/,
  );
  const server = new AsyncBind(LOCAL, BaseRequestHandler, { bindAndActivate: false });
  await server.serverBind();
  assert.ok(server.serverAddress.port > 0);
  await server.serverClose();
});

Deno.test("serverActivate() made async is refused by the constructor with a hint, and awaited with bindAndActivate: false", async () => {
  let port = 0;
  class Announced extends TCPServer {
    announced = false;
    override async serverActivate() {
      port = this.serverAddress.port;
      super.serverActivate();
      await new Promise((resolve) => setTimeout(resolve, 10));
      this.announced = true;
    }
  }
  assert.throws(
    () => new Announced(LOCAL, BaseRequestHandler),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message ===
        "serverActivate() returned a promise, which a constructor cannot await: pass { bindAndActivate: false } and await server.serverActivate() yourself",
  );
  // the refused server's socket was closed: its port is free
  await using again = new TCPServer({ hostname: "127.0.0.1", port }, BaseRequestHandler);
  assert.equal(again.serverAddress.port, port);

  await using server = new Announced(LOCAL, BaseRequestHandler, { bindAndActivate: false });
  server.serverBind();
  await server.serverActivate();
  assert.equal(server.announced, true);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, "x"), "");
  await server.shutdown();
  await serving;
});

Deno.test("serverActivate() that throws closes the socket and the error reaches the caller", async () => {
  let port = 0;
  class Fails extends TCPServer {
    override serverActivate(): void {
      port = this.serverAddress.port;
      throw new Error("activation failed");
    }
  }
  assert.throws(() => new Fails(LOCAL, BaseRequestHandler), /activation failed/);
  // the socket was closed: its port can be bound again
  await using again = new TCPServer({ hostname: "127.0.0.1", port }, BaseRequestHandler);
  assert.equal(again.serverAddress.port, port);
});

Deno.test("getRequest() overridden to fail once is skipped and serving goes on", async () => {
  class Flaky extends TCPServer {
    calls = 0;
    override async getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]> {
      if (this.calls++ === 0) throw new Deno.errors.ConnectionAborted("aborted before accept");
      return await super.getRequest();
    }
  }
  class Echo extends StreamRequestHandler {
    override async handle() {
      await this.wfile.write(await this.rfile.readline());
    }
  }
  await using server = new Flaky(LOCAL, Echo);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, "after\n"), "after\n");
  assert.ok(server.calls >= 2);
  await server.shutdown();
  await serving;
});

Deno.test("closeRequest() overrides see every request, including refused and failed ones, in a threading server", async () => {
  class Counting extends ThreadingTCPServer {
    closes = 0;
    override closeRequest(request: Deno.TcpConn) {
      this.closes++;
      super.closeRequest(request);
    }
    override verifyRequest(_r: Deno.TcpConn, _a: Deno.NetAddr) {
      return this.closes !== 1; // refuse the second request
    }
    override handleError() {}
  }
  class MaybeFail extends StreamRequestHandler {
    override async handle() {
      const line = await this.rfile.readline();
      if (line.length === 0) throw new Error("empty");
      await this.wfile.write(line);
    }
  }
  await using server = new Counting(LOCAL, MaybeFail);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, "a\n"), "a\n");
  assert.equal(await exchange(server.serverAddress, "refused\n"), "");
  assert.equal(await exchange(server.serverAddress, ""), "");
  assert.equal(server.closes, 3);
  await server.shutdown();
  await serving;
});
