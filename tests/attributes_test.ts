import assert from "node:assert/strict";
import { BaseRequestHandler, TCPServer, ThreadingMixIn, ThreadingTCPServer } from "../mod.ts";
import { exchange } from "./_helpers.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

Deno.test("a static attribute override in a subclass takes effect for the bind inside the constructor", async () => {
  // SO_REUSEPORT is only set if the bind saw the override: two servers can
  // then share one port, which a plain bind refuses.
  class Shared extends TCPServer {
    static override allowReusePort = true;
  }
  await using first = new Shared(LOCAL, BaseRequestHandler);
  assert.equal(first.allowReusePort, true);
  await using second = new Shared(
    { hostname: "127.0.0.1", port: first.serverAddress.port },
    BaseRequestHandler,
  );
  assert.equal(second.serverAddress.port, first.serverAddress.port);
  assert.throws(
    () =>
      new TCPServer({ hostname: "127.0.0.1", port: first.serverAddress.port }, BaseRequestHandler),
    Deno.errors.AddrInUse,
  );
});

Deno.test("a getter override in a subclass also takes effect for the bind inside the constructor", async () => {
  class Shared extends TCPServer {
    override get allowReusePort(): boolean {
      return true;
    }
  }
  await using first = new Shared(LOCAL, BaseRequestHandler);
  await using second = new Shared(
    { hostname: "127.0.0.1", port: first.serverAddress.port },
    BaseRequestHandler,
  );
  assert.equal(second.serverAddress.port, first.serverAddress.port);
});

Deno.test("a constructor option beats the class attribute, for this instance only", async () => {
  class Patient extends TCPServer {
    static override timeout = 5_000;
    static override requestQueueSize = 64;
  }
  await using a = new Patient(LOCAL, BaseRequestHandler, { timeout: 10, requestQueueSize: 8 });
  await using b = new Patient(LOCAL, BaseRequestHandler);
  assert.equal(a.timeout, 10);
  assert.equal(a.requestQueueSize, 8);
  assert.equal(b.timeout, 5_000);
  assert.equal(b.requestQueueSize, 64);
  assert.equal(Patient.timeout, 5_000);
  assert.equal(TCPServer.timeout, null);
});

Deno.test("instance attribute assignment changes that instance and not the class", async () => {
  let timeouts = 0;
  class Counting extends TCPServer {
    override handleTimeout() {
      timeouts++;
    }
  }
  await using server = new Counting(LOCAL, BaseRequestHandler);
  server.timeout = 5;
  await server.handleRequest();
  assert.equal(timeouts, 1);
  assert.equal(Counting.timeout, null);
  assert.throws(() => (server.timeout = -1), RangeError);
  assert.throws(() => (server.timeout = "5" as unknown as number), TypeError);
});

Deno.test("defaults: timeout null, requestQueueSize 511, allowReuseAddress true, allowReusePort false", async () => {
  await using server = new TCPServer(LOCAL, BaseRequestHandler);
  assert.equal(server.timeout, null);
  assert.equal(server.requestQueueSize, 511);
  assert.equal(server.allowReuseAddress, true);
  assert.equal(server.allowReusePort, false);
  assert.equal(server.socketType, "SOCK_STREAM");
  assert.equal(server.addressFamily, "AF_INET");
  assert.equal(server.RequestHandlerClass, BaseRequestHandler);
});

Deno.test("allowReuseAddress false is refused, since Deno always sets SO_REUSEADDR", () => {
  class Strict extends TCPServer {
    static override allowReuseAddress = false;
  }
  assert.throws(
    () => new Strict(LOCAL, BaseRequestHandler),
    /allowReuseAddress false cannot be honoured/,
  );
});

Deno.test("requestQueueSize must be a positive integer", () => {
  assert.throws(
    () => new TCPServer(LOCAL, BaseRequestHandler, { requestQueueSize: 0 }),
    /"requestQueueSize" must be a positive integer, got 0/,
  );
});

Deno.test("ThreadingMixIn class attributes: blockOnClose and daemonThreads, static and per instance", async () => {
  class Daemonic extends ThreadingMixIn(TCPServer) {
    static override daemonThreads = true;
  }
  await using a = new Daemonic(LOCAL, BaseRequestHandler);
  await using b = new ThreadingTCPServer(LOCAL, BaseRequestHandler, { blockOnClose: false });
  assert.equal(a.daemonThreads, true);
  assert.equal(a.blockOnClose, true);
  assert.equal(b.daemonThreads, false);
  assert.equal(b.blockOnClose, false);
  assert.equal(ThreadingTCPServer.blockOnClose, true);
});

Deno.test("IPv6: a server on ::1 reports AF_INET6 and its address, and serves", async () => {
  class Echo extends BaseRequestHandler {
    override async handle() {
      const buf = new Uint8Array(64);
      const n = await this.request.read(buf);
      await this.request.write(buf.subarray(0, n ?? 0));
    }
  }
  await using server = new TCPServer({ hostname: "::1", port: 0 }, Echo);
  assert.equal(server.addressFamily, "AF_INET6");
  assert.equal(server.serverAddress.hostname, "::1");
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, "six\n"), "six\n");
  await server.shutdown();
  await serving;
});

Deno.test("a typed handler reaches its own server's members without casts", async () => {
  class Counter extends ThreadingTCPServer {
    hits = 0;
  }
  class Hit extends BaseRequestHandler<Counter> {
    override async handle() {
      this.server.hits++; // typed: Counter
      await this.request.write(new TextEncoder().encode(String(this.server.hits)));
    }
  }
  await using server = new Counter(LOCAL, Hit);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, ""), "1");
  assert.equal(await exchange(server.serverAddress, ""), "2");
  await server.shutdown();
  await serving;
});
