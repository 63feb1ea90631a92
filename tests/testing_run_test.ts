/**
 * `runHandler()` and `runDatagramHandler()` reproduce production: the same
 * handler on the same server class, run once over a real socket (with
 * `withServer()`) and once in memory, calls the same hooks in the same
 * order, ends the same way (normally, `handleError()`, `handleDrop()`) and
 * sends the client the same bytes.
 */
import assert from "node:assert/strict";
import net from "node:net";
import {
  type DatagramRequest,
  DatagramRequestHandler,
  ForkingTCPServer,
  type RequestHandlerClass,
  StreamRequestHandler,
  type StreamServer,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUDPServer,
  TimeoutError,
  TLSServer,
  UDPServer,
  UnixDatagramServer,
  UnixStreamServer,
} from "../mod.ts";
import {
  bindInMemory,
  connPair,
  MemoryNetwork,
  runDatagramHandler,
  runHandler,
  withServer,
} from "../testing.ts";
import { decoder, encoder } from "./_net.ts";
import { errorName } from "./_servers.ts";
import { within } from "./_wait.ts";
import { cert, key } from "./_tls.ts";

// deno-lint-ignore no-explicit-any
type Constructor = new (...args: any[]) => StreamServer<any, any>;

/** Logs every hook of a stream server, and resolves `ended` when a request
 * is closed. */
function logged<C extends Constructor>(Base: C) {
  return class Logged extends Base {
    log: string[] = [];
    ended = Promise.withResolvers<void>();
    override verifyRequest(request: unknown, address: unknown) {
      this.log.push("verifyRequest");
      return super.verifyRequest(request, address);
    }
    override processRequest(request: unknown, address: unknown) {
      this.log.push("processRequest");
      return super.processRequest(request, address);
    }
    override finishRequest(request: unknown, address: unknown) {
      this.log.push("finishRequest");
      return super.finishRequest(request, address);
    }
    override shutdownRequest(request: unknown) {
      this.log.push("shutdownRequest");
      return super.shutdownRequest(request);
    }
    override closeRequest(request: unknown) {
      this.log.push("closeRequest");
      super.closeRequest(request);
      this.ended.resolve();
    }
    override handleError(_request: unknown, _address: unknown, error: unknown) {
      this.log.push(`handleError ${errorName(error)}`);
    }
    override handleDrop(_request: unknown, _address: unknown, error: unknown) {
      this.log.push(`handleDrop ${errorName(error)}`);
    }
  };
}

type Logged = InstanceType<ReturnType<typeof logged>>;

// deno-lint-ignore no-explicit-any
type HandlerClass = RequestHandlerClass<any, any>;

/** A handler whose three steps log to the server, then do `body`. */
function handler(
  body: (self: StreamRequestHandler) => Promise<void>,
): HandlerClass {
  // deno-lint-ignore no-explicit-any
  return class Steps extends StreamRequestHandler<any> {
    override setup() {
      (this.server as unknown as Logged).log.push("setup");
      super.setup();
    }
    override async handle() {
      (this.server as unknown as Logged).log.push("handle");
      await body(this as unknown as StreamRequestHandler);
    }
    override finish() {
      (this.server as unknown as Logged).log.push("finish");
      return super.finish();
    }
  };
}

/** What a client does: returns what it read. */
type Client = (conn: Deno.Conn) => Promise<string>;

async function readAll(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) return text;
    text += decoder.decode(buffer.subarray(0, n));
  }
}

const servers = [
  { name: "TCPServer", Base: TCPServer, unix: false },
  { name: "ThreadingTCPServer", Base: ThreadingTCPServer, unix: false },
  { name: "UnixStreamServer", Base: UnixStreamServer, unix: true },
] as const;

/** Runs `Handler` with `client` on a real `Base` server and in memory, and
 * returns both `[log, reply]`s. */
async function bothWays(
  Base: Constructor,
  unix: boolean,
  Handler: HandlerClass,
  client: Client,
): Promise<{ real: [string[], string]; memory: [string[], string] }> {
  const Server = logged(Base);
  const real = await withServer(Server, Handler, async (server, address) => {
    const conn = await Deno.connect(address);
    try {
      const reply = await within(client(conn), 10_000, "the real client");
      await within(server.ended.promise, 10_000, "the real request's end");
      return [server.log, reply] as [string[], string];
    } finally {
      conn.close();
    }
  });
  const address = unix ? { path: "/memory/server.sock" } : { hostname: "127.0.0.1", port: 0 };
  await using server = new Server(address, Handler, { bindAndActivate: false });
  await using run = runHandler(Handler, { server });
  const reply = await client(run.client);
  await run.done.catch(() => {});
  return { real, memory: [server.log, reply] };
}

const echo = handler(async (self) => {
  for await (const line of self.rfile) await self.wfile.write(line);
});
const sendLines: Client = async (conn) => {
  await conn.write(encoder.encode("one\ntwo\n"));
  await conn.closeWrite();
  return await readAll(conn);
};

for (const { name, Base, unix } of servers) {
  Deno.test(`runHandler() on a ${name}: an echo handler takes the same hooks in the same order and sends the same bytes as over a socket`, async () => {
    const { real, memory } = await bothWays(Base, unix, echo, sendLines);
    assert.deepEqual(memory, real);
    assert.equal(memory[1], "one\ntwo\n");
    assert.deepEqual(memory[0].slice(-5), [
      "setup",
      "handle",
      "finish",
      "shutdownRequest",
      "closeRequest",
    ]);
  });

  Deno.test(`runHandler() on a ${name}: a handler that throws reaches handleError() after finish(), and the client gets what was written before, as over a socket`, async () => {
    const Throws = handler(async (self) => {
      await self.wfile.write("before\n");
      throw new TypeError("a bug");
    });
    const { real, memory } = await bothWays(Base, unix, Throws, readAll);
    assert.deepEqual(memory, real);
    assert.equal(memory[1], "before\n");
    assert.deepEqual(memory[0].slice(-4), [
      "finish",
      "handleError TypeError",
      "shutdownRequest",
      "closeRequest",
    ]);
  });

  Deno.test(`runHandler() on a ${name}: a read timeout is a drop (handleDrop, TimeoutError), and the client reads EOF, as over a socket`, async () => {
    const Patient = handler(async (self) => {
      self.rfile.timeout = 50;
      await self.rfile.readline();
    });
    const { real, memory } = await bothWays(Base, unix, Patient, readAll);
    assert.deepEqual(memory, real);
    assert.equal(memory[1], "");
    assert.ok(memory[0].includes("handleDrop TimeoutError"), String(memory[0]));
  });
}

for (const { name, Base, unix } of servers) {
  Deno.test(`runHandler() on a ${name}: a handler that reads request.readable to the end finds the connection closed under it (BadResource to handleError), as over a socket`, async () => {
    const Raw = handler(async (self) => {
      const text = await new Response(self.request.readable).text();
      await self.wfile.write(text.toUpperCase());
    });
    const { real, memory } = await bothWays(Base, unix, Raw, sendLines);
    assert.deepEqual(memory, real);
    assert.ok(memory[0].includes("handleError BadResource"), String(memory[0]));
  });

  Deno.test(`runHandler() on a ${name}: a 1 MiB write the handler does not await still reaches the client whole before the close`, async () => {
    const Careless = handler(async (self) => {
      await self.rfile.readline();
      self.wfile.write(new Uint8Array(1 << 20).fill(0x61)); // not awaited
    });
    const { real, memory } = await bothWays(Base, unix, Careless, async (conn) => {
      await conn.write(encoder.encode("go\n"));
      return String((await readAll(conn)).length);
    });
    assert.deepEqual(memory, real);
    assert.equal(memory[1], String(1 << 20));
  });
}

Deno.test("runHandler(): a client that resets mid-line is a drop with ConnectionReset, as a Node client's reset over TCP is", async () => {
  const Reader = handler(async (self) => {
    await self.rfile.readline();
  });
  const Server = logged(TCPServer);
  const real = await withServer(Server, Reader, async (server, address) => {
    const socket = net.connect(address.port, "127.0.0.1", () => {
      socket.write("half a li", () => socket.resetAndDestroy());
    });
    socket.on("error", () => {});
    await within(server.ended.promise, 10_000, "the real request's end");
    return server.log;
  });
  await using server = new Server({ hostname: "127.0.0.1", port: 0 }, Reader, {
    bindAndActivate: false,
  });
  await using run = runHandler(Reader, { server });
  await run.client.write(encoder.encode("half a li"));
  run.client.reset();
  const { drops } = await run.done;
  assert.deepEqual(server.log, real);
  assert.ok(real.includes("handleDrop ConnectionReset"), String(real));
  assert.ok(drops[0] instanceof Deno.errors.ConnectionReset);
});

Deno.test("runHandler(): a client that resets while the handler writes makes the write fail, a drop with ConnectionReset", async () => {
  const writing = Promise.withResolvers<void>();
  class Flood extends StreamRequestHandler {
    override async handle() {
      await this.rfile.readline();
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < 64; i++) {
        const write = this.wfile.write(chunk);
        writing.resolve(); // the first megabyte is waiting for room
        await write;
      }
    }
  }
  await using run = runHandler(Flood);
  await run.client.write(encoder.encode("send me a lot\n"));
  await writing.promise;
  run.client.reset();
  const { drops } = await run.done;
  assert.equal(drops.length, 1);
  assert.ok(drops[0] instanceof Deno.errors.ConnectionReset, errorName(drops[0]));
});

Deno.test("runHandler(): when serverClose() cuts a request off at its deadline, done waits for the handler to return and reports what it then threw as a drop", async () => {
  const order: string[] = [];
  const started = Promise.withResolvers<void>();
  class Stubborn extends StreamRequestHandler {
    override async handle() {
      started.resolve();
      try {
        await this.rfile.readline(); // the client never sends
      } finally {
        order.push("handler returned");
      }
    }
  }
  await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Stubborn, {
    bindAndActivate: false,
  });
  await using run = runHandler(Stubborn, { server });
  const done = run.done.then((outcome) => (order.push("done"), outcome));
  await started.promise;
  await server.serverClose({ graceMs: 10, lingerMs: 10 });
  const { drops } = await within(done, 10_000, "the request's end");
  assert.deepEqual(order, ["handler returned", "done"]);
  assert.equal(drops.length, 1, `drops: ${drops.map(errorName)}`);
  assert.equal(run.connection.closed, true);
});

Deno.test("runHandler(): done resolves with the drops (a TimeoutError from writeTimeout when the client does not read) and the connection closed", async () => {
  class Flood extends StreamRequestHandler {
    override writeTimeout = 50;
    override async handle() {
      for (let i = 0; i < 64; i++) await this.wfile.write(new Uint8Array(1 << 20));
    }
  }
  await using run = runHandler(Flood);
  const { drops } = await within(run.done, 10_000, "the write timeout");
  assert.equal(drops.length, 1);
  assert.ok(drops[0] instanceof TimeoutError);
  assert.equal((drops[0] as TimeoutError).attribute, "writeTimeout");
  assert.equal(run.connection.closed, true);
  assert.ok(run.client.buffered <= 64 * 1024, "back-pressure held the flood at the buffer");
});

Deno.test("runHandler(): done rejects with what reached handleError(), and the kit's own server prints nothing", async () => {
  class Strict extends StreamRequestHandler {
    override handle(): void {
      throw new RangeError("bad request");
    }
  }
  const printed: unknown[] = [];
  const error = console.error;
  console.error = (...args: unknown[]) => printed.push(args);
  try {
    await using run = runHandler(Strict);
    await assert.rejects(run.done, RangeError);
  } finally {
    console.error = error;
  }
  assert.deepEqual(printed, []);
});

Deno.test("runHandler(): disposing a run throws the handler's error when done was never read, and only then", async () => {
  class Strict extends StreamRequestHandler {
    override handle(): void {
      throw new RangeError("bad request");
    }
  }
  const unobserved = async () => {
    await using _run = runHandler(Strict);
  };
  await assert.rejects(unobserved(), RangeError);
  const observed = async () => {
    await using run = runHandler(Strict);
    await run.done.catch(() => {});
  };
  await observed();
});

Deno.test("runHandler(): a plain TCPServer takes its runs one at a time, a ThreadingTCPServer all at once", async () => {
  const waiting = new Map<string, PromiseWithResolvers<void>>();
  const reached = (name: string) => {
    if (!waiting.has(name)) waiting.set(name, Promise.withResolvers());
    return waiting.get(name)!;
  };
  class Greet extends StreamRequestHandler {
    override async handle() {
      const name = decoder.decode(await this.rfile.readline()).trim();
      reached(name).resolve();
      await this.rfile.readline();
      await this.wfile.write(`bye ${name}\n`);
    }
  }
  for (const [Server, concurrent] of [[TCPServer, false], [ThreadingTCPServer, true]] as const) {
    waiting.clear();
    await using server = new Server({ hostname: "127.0.0.1", port: 0 }, Greet, {
      bindAndActivate: false,
    });
    await using a = runHandler(Greet, { server });
    await using b = runHandler(Greet, { server });
    await a.client.write(encoder.encode("a\n"));
    await b.client.write(encoder.encode("b\n"));
    await reached("a").promise;
    if (concurrent) await reached("b").promise;
    // a plain server has not taken b: it waits in the listener's queue
    assert.equal(server.activeRequests, concurrent ? 2 : 1);
    await a.client.write(encoder.encode("done\n"));
    await b.client.write(encoder.encode("done\n"));
    assert.equal(await readAll(a.client), "bye a\n");
    assert.equal(await readAll(b.client), "bye b\n");
    await Promise.all([a.done, b.done]);
    assert.equal(server.activeRequests, 0);
  }
});

Deno.test("runHandler(): disposing a run still queued behind another on a plain server does not wait for it", async () => {
  class Hold extends StreamRequestHandler {
    override async handle() {
      await this.rfile.readline();
    }
  }
  await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Hold, {
    bindAndActivate: false,
  });
  await using first = runHandler(Hold, { server });
  {
    await using _queued = runHandler(Hold, { server }); // disposed first: must not deadlock
  }
  first.client.close();
  await first.done;
});

Deno.test("runHandler(): the server's own settings reach the connection — daemonThreads unrefs it, disableNagleAlgorithm sets TCP_NODELAY", async () => {
  class NoDelay extends StreamRequestHandler {
    override disableNagleAlgorithm = true;
  }
  await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, NoDelay, {
    bindAndActivate: false,
    daemonThreads: true,
  });
  await using run = runHandler(NoDelay, { server });
  await run.done;
  assert.equal(run.connection.refed, false);
  assert.equal(run.connection.noDelay, true);
});

Deno.test("runHandler(): verifyRequest() refusing the client closes the connection before any handler runs", async () => {
  let handled = false;
  class Hello extends StreamRequestHandler {
    override async handle() {
      handled = true;
      await this.wfile.write("hello\n");
    }
  }
  class LocalOnly extends TCPServer {
    override verifyRequest(_request: Deno.TcpConn, address: Deno.NetAddr) {
      return address.hostname === "127.0.0.1";
    }
  }
  await using server = new LocalOnly({ hostname: "127.0.0.1", port: 0 }, Hello, {
    bindAndActivate: false,
  });
  await using outsider = runHandler(Hello, {
    server,
    clientAddr: { transport: "tcp", hostname: "198.51.100.1", port: 40000 },
  });
  assert.equal(await readAll(outsider.client), "");
  assert.equal(handled, false);
  await using local = runHandler(Hello, { server });
  assert.equal(await readAll(local.client), "hello\n");
});

Deno.test("runHandler() refuses what cannot run in memory, saying what to do", async () => {
  class Echo extends StreamRequestHandler {}
  class Dgram extends DatagramRequestHandler {}
  assert.throws(() => runHandler(Dgram), /runDatagramHandler/);
  await using bound = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Echo);
  assert.throws(() => runHandler(Echo, { server: bound }), /bindAndActivate: false/);
  await using other = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Echo, {
    bindAndActivate: false,
  });
  class Other extends StreamRequestHandler {}
  assert.throws(() => runHandler(Other, { server: other }), /the handler class under test/);
  await using udp = new UDPServer({ hostname: "127.0.0.1", port: 0 }, Dgram, {
    bindAndActivate: false,
  });
  assert.throws(() => runHandler(Dgram, { server: udp }), /runDatagramHandler/);
  class TlsEcho extends StreamRequestHandler<TLSServer> {}
  await using tls = new TLSServer({ hostname: "127.0.0.1", port: 0 }, TlsEcho, {
    cert,
    key,
    bindAndActivate: false,
  });
  assert.throws(() => runHandler(TlsEcho, { server: tls }), /TLS handshake needs a real socket/);
  await using forking = new ForkingTCPServer({ hostname: "127.0.0.1", port: 0 }, Echo, {
    bindAndActivate: false,
  });
  assert.throws(() => bindInMemory(forking), /run the program again/);
});

Deno.test("bindInMemory(): a ThreadingTCPServer serves several in-memory clients with serveForever(), as a chat test needs", async () => {
  class Shout extends StreamRequestHandler<ThreadingTCPServer> {
    override async handle() {
      for await (const line of this.rfile) {
        await this.wfile.write(decoder.decode(line).toUpperCase());
      }
    }
  }
  await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Shout, {
    bindAndActivate: false,
  });
  const network = bindInMemory(server);
  assert.equal(bindInMemory(server), network, "a second call returns the same network");
  server.serverActivate();
  const serving = server.serveForever(null);
  const clients = await Promise.all(
    ["a", "b", "c"].map(async (name) => {
      const conn = await network.connect(server.serverAddress);
      await conn.write(encoder.encode(`${name}\n`));
      await conn.closeWrite();
      return await readAll(conn);
    }),
  );
  assert.deepEqual(clients, ["A\n", "B\n", "C\n"]);
  await server.shutdown();
  await serving;
});

Deno.test("connPair(): a handler can be driven by hand on the server end, with no server at all", async () => {
  class Echo extends StreamRequestHandler {
    override async handle() {
      await this.wfile.write(await this.rfile.readline());
    }
  }
  const [client, conn] = connPair();
  const handler = new Echo(conn, conn.remoteAddr, undefined as unknown as TCPServer);
  handler.setup();
  const handling = handler.handle();
  await client.write(encoder.encode("hi\n"));
  await handling;
  await handler.finish();
  conn.close();
  assert.equal(await readAll(client), "hi\n");
  client.close();
});

class DatagramEcho extends DatagramRequestHandler {
  override async handle() {
    await this.wfile.write(this.packet);
  }
}

Deno.test("runDatagramHandler(): a UDP echo replies as over a real socket, truncation included", async () => {
  const real = await withServer(
    UDPServer,
    DatagramEcho,
    { serverOptions: { maxPacketSize: 4 } },
    async (_server, address) => {
      const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      try {
        await client.send(encoder.encode("hello"), address);
        return decoder.decode((await client.receive())[0]);
      } finally {
        client.close();
      }
    },
  );
  await using server = new UDPServer({ hostname: "127.0.0.1", port: 0 }, DatagramEcho, {
    bindAndActivate: false,
    maxPacketSize: 4,
  });
  const { reply, replies, drops } = await runDatagramHandler(DatagramEcho, "hello", { server });
  assert.equal(real, "hell");
  assert.equal(decoder.decode(reply!), real);
  assert.equal(replies.length, 1);
  assert.deepEqual(drops, []);
});

Deno.test("runDatagramHandler(): no reply when the handler writes nothing; a throw rejects the call; a refused datagram never reaches the handler", async () => {
  class Silent extends DatagramRequestHandler {}
  assert.deepEqual(await runDatagramHandler(Silent, "x"), { drops: [], reply: null, replies: [] });
  class Broken extends DatagramRequestHandler {
    override handle(): void {
      throw new TypeError("a bug");
    }
  }
  await assert.rejects(runDatagramHandler(Broken, "x"), TypeError);
  class NoEmpty extends UDPServer {
    override verifyRequest(request: DatagramRequest) {
      return request[0].length > 0;
    }
  }
  await using server = new NoEmpty({ hostname: "127.0.0.1", port: 0 }, DatagramEcho, {
    bindAndActivate: false,
  });
  assert.equal((await runDatagramHandler(DatagramEcho, "", { server })).reply, null);
  assert.equal(
    decoder.decode((await runDatagramHandler(DatagramEcho, "a", { server })).reply!),
    "a",
  );
});

Deno.test("runDatagramHandler(): concurrent datagrams on a ThreadingUDPServer each get their own reply", async () => {
  const gate = Promise.withResolvers<void>();
  let inFlight = 0;
  class Slow extends DatagramRequestHandler<ThreadingUDPServer> {
    override async handle() {
      if (++inFlight === 3) gate.resolve();
      await gate.promise; // all three are in flight at once
      await this.wfile.write(this.packet);
    }
  }
  await using server = new ThreadingUDPServer({ hostname: "127.0.0.1", port: 0 }, Slow, {
    bindAndActivate: false,
  });
  const outcomes = await Promise.all(
    ["a", "b", "c"].map((text) => runDatagramHandler(Slow, text, { server })),
  );
  assert.deepEqual(outcomes.map((o) => decoder.decode(o.reply!)), ["a", "b", "c"]);
});

Deno.test("runDatagramHandler() on a UnixDatagramServer in memory: the reply goes to the client's path", async () => {
  class Path extends DatagramRequestHandler<UnixDatagramServer> {
    override async handle() {
      await this.wfile.write(this.clientAddress.path);
    }
  }
  const network = new MemoryNetwork();
  await using server = new UnixDatagramServer({ path: "/run/app.sock" }, Path, {
    bindAndActivate: false,
  });
  const { reply } = await runDatagramHandler(Path, "", {
    server,
    network,
    clientAddr: { transport: "unixpacket", path: "/run/client.sock" },
  });
  assert.equal(decoder.decode(reply!), "/run/client.sock");
});

Deno.test("runHandler() and runDatagramHandler() hand their requests to a serve loop already running, and track them all the same", async () => {
  class Echo extends StreamRequestHandler {
    override async handle() {
      await this.wfile.write(await this.rfile.readline());
    }
  }
  await using tcp = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Echo, {
    bindAndActivate: false,
  });
  bindInMemory(tcp);
  tcp.serveForever(null); // waiting in getRequest() before any run
  await using run = runHandler(Echo, { server: tcp });
  await run.client.write(encoder.encode("looped\n"));
  assert.equal(await readAll(run.client), "looped\n");
  assert.deepEqual(await run.done, { drops: [] });

  await using udp = new ThreadingUDPServer({ hostname: "127.0.0.1", port: 0 }, DatagramEcho, {
    bindAndActivate: false,
  });
  bindInMemory(udp);
  udp.serveForever(null);
  const { reply } = await runDatagramHandler(DatagramEcho, "looped", { server: udp });
  assert.equal(decoder.decode(reply!), "looped");
});

Deno.test("runHandler() and runDatagramHandler() on a closed server say so", async () => {
  class Echo extends StreamRequestHandler {}
  const tcp = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Echo, { bindAndActivate: false });
  await tcp.serverClose();
  assert.throws(() => runHandler(Echo, { server: tcp }), /closed TCPServer: create a new server/);
  assert.throws(() => bindInMemory(tcp), /is closed/);
  const udp = new UDPServer({ hostname: "127.0.0.1", port: 0 }, DatagramEcho, {
    bindAndActivate: false,
  });
  await udp.serverClose();
  await assert.rejects(runDatagramHandler(DatagramEcho, "x", { server: udp }), /closed UDPServer/);
});
