/**
 * ThreadingMixIn and the Threading* servers: one async task per request, in
 * this process, over real sockets.
 */
import assert from "node:assert/strict";
import {
  type AnyServer,
  DatagramRequestHandler,
  type DatagramServer,
  StreamRequestHandler,
  type StreamServer,
  TCPServer,
  ThreadingMixIn,
  ThreadingTCPServer,
  ThreadingTLSServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
} from "../mod.ts";
import { withTempDir } from "./_files.ts";
import { ask, decoder, encoder, readLineWithin } from "./_net.ts";
import { Fixture } from "./_process.ts";
import { cert, key } from "./_tls.ts";
import { until, within } from "./_wait.ts";
const LOOPBACK = { hostname: "127.0.0.1", port: 0 };

/** Lines in, the handler's `reply(line)` out; `null` ends the request. */
function lineHandler(reply: (line: string) => Promise<string | null> | string | null) {
  return class extends StreamRequestHandler {
    override async handle() {
      for await (const raw of this.rfile) {
        const answer = await reply(decoder.decode(raw).trim());
        if (answer === null) return;
        await this.wfile.write(answer + "\n");
      }
    }
  };
}

async function connect(port: number, hostname = "127.0.0.1"): Promise<Deno.TcpConn> {
  return await Deno.connect({ hostname, port });
}

async function say(conn: Deno.Conn, line: string): Promise<void> {
  await conn.write(encoder.encode(line + "\n"));
}

/** Handlers for the meeting test: "wait" waits until a "release" request
 * has been handled, which only a server running both at once can do. */
function meeting() {
  const waiting = Promise.withResolvers<void>();
  const met = Promise.withResolvers<void>();
  const answer = async (line: string) => {
    if (line === "wait") {
      waiting.resolve();
      await met.promise;
      return "met\n";
    }
    met.resolve();
    return "released\n";
  };
  class Stream extends StreamRequestHandler<StreamServer> {
    override async handle() {
      await this.wfile.write(await answer(decoder.decode(await this.rfile.readline()).trim()));
    }
  }
  class Datagram extends DatagramRequestHandler<DatagramServer> {
    override async handle() {
      await this.wfile.write(await answer(decoder.decode(this.packet).trim()));
    }
  }
  return { Stream, Datagram, waiting: waiting.promise };
}

type Ask = (line: string) => Promise<string>;

async function askStream(connect: () => Promise<Deno.Conn>, line: string): Promise<string> {
  const conn = await connect();
  try {
    await say(conn, line);
    return (await readLineWithin(conn)) ?? "EOF";
  } finally {
    conn.close();
  }
}

async function askDatagram(
  client: Deno.DatagramConn,
  server: Deno.Addr,
  line: string,
): Promise<string> {
  try {
    await client.send(encoder.encode(line + "\n"), server);
    const [reply] = await client.receive();
    return decoder.decode(reply).trim();
  } finally {
    client.close();
  }
}

const meetings: [string, (dir: string, m: ReturnType<typeof meeting>) => [AnyServer, Ask]][] = [
  ["ThreadingTCPServer", (_, m) => {
    const server = new ThreadingTCPServer(LOOPBACK, m.Stream);
    return [server, (line) => askStream(() => Deno.connect(server.serverAddress), line)];
  }],
  ["ThreadingTLSServer", (_, m) => {
    const server = new ThreadingTLSServer(LOOPBACK, m.Stream, { cert, key });
    const port = server.serverAddress.port;
    return [
      server,
      (line) =>
        askStream(() => Deno.connectTls({ hostname: "localhost", port, caCerts: [cert] }), line),
    ];
  }],
  ["ThreadingUnixStreamServer", (dir, m) => {
    const server = new ThreadingUnixStreamServer({ path: `${dir}/s.sock` }, m.Stream);
    return [server, (line) => askStream(() => Deno.connect(server.serverAddress), line)];
  }],
  ["ThreadingUDPServer", (_, m) => {
    const server = new ThreadingUDPServer(LOOPBACK, m.Datagram);
    return [server, (line) =>
      askDatagram(
        Deno.listenDatagram({ transport: "udp", ...LOOPBACK }),
        server.serverAddress,
        line,
      )];
  }],
  ["ThreadingUnixDatagramServer", (dir, m) => {
    const server = new ThreadingUnixDatagramServer({ path: `${dir}/d.sock` }, m.Datagram);
    return [server, (line) =>
      askDatagram(
        Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/${line}.sock` }),
        server.serverAddress,
        line,
      )];
  }],
];

for (const [name, make] of meetings) {
  Deno.test(`${name} runs requests at once: one waiting for a second client's request completes`, async () => {
    await withTempDir(async (dir) => {
      const m = meeting();
      const [server, ask] = make(dir, m);
      const serving = server.serveForever();
      try {
        const first = ask("wait");
        await within(m.waiting, 5_000, "the first request to be waiting");
        // A server that ran one request at a time would never take this one.
        assert.equal(await within(ask("release"), 5_000, "the second reply"), "released");
        assert.equal(await within(first, 5_000, "the first reply"), "met");
      } finally {
        await server.shutdown();
        await within(serving, 5_000, "serveForever() to return");
        await server.serverClose({ graceMs: 1_000 });
      }
    });
  });
}

Deno.test("TCPServer (plain) serves one connection at a time (the control for the test above)", async () => {
  let handling = 0;
  let most = 0;
  const Count = lineHandler(async (line) => {
    handling++;
    most = Math.max(most, handling);
    await new Promise((resolve) => setTimeout(resolve, 5));
    handling--;
    return line === "end" ? null : line;
  });
  await using server = new TCPServer(LOOPBACK, Count);
  server.serveForever();
  const replies = await Promise.all(
    Array.from({ length: 4 }, (_, i) => ask(server.serverAddress.port, `n${i}`)),
  );
  assert.deepEqual(replies.sort(), ["n0", "n1", "n2", "n3"]);
  assert.equal(most, 1);
});

Deno.test("blockOnClose true: serverClose() waits until the handler in flight has finished", async () => {
  const gate = Promise.withResolvers<void>();
  let finished = false;
  const Slow = lineHandler(async () => {
    await gate.promise;
    finished = true;
    return null;
  });
  const server = new ThreadingTCPServer(LOOPBACK, Slow);
  assert.equal(server.blockOnClose, true);
  const serving = server.serveForever();
  const conn = await connect(server.serverAddress.port);
  await say(conn, "go");
  await until(() => server.activeRequests === 1, "the request to be taken");
  await server.shutdown();
  await within(serving, 5_000, "serveForever() to return");
  // Open the gate only later: a serverClose() that did not wait would
  // resolve before that, with the handler unfinished.
  setTimeout(() => gate.resolve(), 50);
  await within(server.serverClose(), 5_000, "serverClose() once the handler finished");
  assert.equal(finished, true);
  assert.equal(server.activeRequests, 0);
  assert.equal(await readLineWithin(conn), null);
  conn.close();
});

Deno.test("blockOnClose false: serverClose() returns while the handler still runs, which then finishes", async () => {
  const gate = Promise.withResolvers<void>();
  const done = Promise.withResolvers<void>();
  const Slow = lineHandler(async () => {
    await gate.promise;
    return "late";
  });
  class Detached extends ThreadingMixIn(TCPServer) {
    override closeRequest(request: Deno.TcpConn) {
      super.closeRequest(request);
      done.resolve();
    }
  }
  const server = new Detached(LOOPBACK, Slow, { blockOnClose: false });
  assert.equal(server.blockOnClose, false);
  server.serveForever();
  const conn = await connect(server.serverAddress.port);
  await say(conn, "go");
  await until(() => server.activeRequests === 1, "the request to be taken");
  await server.shutdown();
  await within(server.serverClose(), 5_000, "serverClose() not to wait");
  assert.equal(server.activeRequests, 1); // still running after close
  gate.resolve();
  assert.equal(await readLineWithin(conn), "late"); // and it finishes its work
  await conn.closeWrite();
  await within(done.promise, 5_000, "the detached handler to finish");
  assert.equal(server.activeRequests, 0);
  conn.close();
});

Deno.test("serverClose({ graceMs }) with handlers in flight closes their connections after the grace", async () => {
  const started = Promise.withResolvers<void>();
  let entered = 0;
  const Stuck = lineHandler(async () => {
    if (++entered === 3) started.resolve();
    await new Promise(() => {}); // never returns
    return null;
  });
  await using server = new ThreadingTCPServer(LOOPBACK, Stuck);
  server.serveForever();
  const conns = await Promise.all([1, 2, 3].map(() => connect(server.serverAddress.port)));
  for (const conn of conns) await say(conn, "hold");
  await within(started.promise, 5_000, "three handlers");
  assert.equal(server.activeRequests, 3);
  const t0 = performance.now();
  await server.serverClose({ graceMs: 100 });
  assert.ok(performance.now() - t0 >= 90);
  assert.equal(server.activeRequests, 0);
  for (const conn of conns) {
    assert.equal(await readLineWithin(conn), null);
    conn.close();
  }
});

Deno.test("ThreadingMixIn(TCPServer): a throwing handler is reported; healthy handlers beside it answer and the server serves on", async () => {
  const errors: unknown[] = [];
  const Picky = lineHandler((line) => {
    if (line === "bad") throw new Error("bad request, on purpose");
    return line.toUpperCase();
  });
  class Counting extends ThreadingMixIn(TCPServer) {
    override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
      errors.push(error);
    }
  }
  await using server = new Counting(LOOPBACK, Picky);
  server.serveForever();
  const port = server.serverAddress.port;
  const replies = await Promise.all(["a", "b", "bad", "c", "d"].map((line) => ask(port, line)));
  assert.deepEqual(replies, ["A", "B", null, "C", "D"]);
  assert.equal(errors.length, 1);
  assert.match((errors[0] as Error).message, /on purpose/);
  assert.equal(await ask(port, "after"), "AFTER");
});

Deno.test("ThreadingMixIn(TCPServer): a hung handler blocks neither other clients, nor the accept loop, nor shutdown()", async () => {
  const hung = Promise.withResolvers<void>();
  const Hang = lineHandler(async (line) => {
    if (line === "hang") {
      hung.resolve();
      await new Promise(() => {});
    }
    return line;
  });
  const server = new ThreadingTCPServer(LOOPBACK, Hang);
  const serving = server.serveForever();
  const stuck = await connect(server.serverAddress.port);
  await say(stuck, "hang");
  await within(hung.promise, 5_000, "the handler to hang");
  for (let i = 0; i < 5; i++) {
    assert.equal(await ask(server.serverAddress.port, `ok${i}`), `ok${i}`);
  }
  await within(server.shutdown(), 5_000, "shutdown()");
  await within(serving, 5_000, "serveForever() to return");
  assert.equal(server.serving, false);
  await until(() => server.activeRequests === 1, "only the hung request to be left");
  await server.serverClose({ graceMs: 0 });
  assert.equal(await readLineWithin(stuck), null);
  stuck.close();
});

Deno.test("processRequestThread() overridden to reject is reported and its request released", async () => {
  const errors: unknown[] = [];
  class Broken extends ThreadingMixIn(TCPServer) {
    override processRequestThread(): Promise<void> {
      return Promise.reject(new Error("broken task, on purpose"));
    }
    override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
      errors.push(error);
    }
  }
  await using server = new Broken(LOOPBACK, lineHandler((line) => line));
  server.serveForever();
  assert.equal(await ask(server.serverAddress.port, "x"), null);
  await until(() => server.activeRequests === 0, "every request to end");
  assert.equal(errors.length, 1);
  assert.match((errors[0] as Error).message, /broken task/);
});

Deno.test("shutdownRequest() that throws still releases the request, so serverClose() does not hang", async () => {
  const errors: unknown[] = [];
  class Sloppy extends ThreadingMixIn(TCPServer) {
    override shutdownRequest(request: Deno.TcpConn): Promise<void> {
      request.close();
      return Promise.reject(new Error("shutdown failed, on purpose"));
    }
    override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
      errors.push(error);
    }
  }
  const server = new Sloppy(LOOPBACK, lineHandler((line) => (line === "end" ? null : line)));
  server.serveForever();
  assert.equal(await ask(server.serverAddress.port, "end"), null);
  await until(() => errors.length === 1, "the error to be reported");
  assert.equal(server.activeRequests, 0);
  await server.shutdown();
  await within(server.serverClose(), 5_000, "serverClose()");
});

Deno.test("ThreadingMixIn(TCPServer): finished requests leave nothing behind: 2,000 requests, then no request is tracked", async () => {
  await using server = new ThreadingTCPServer(LOOPBACK, lineHandler((line) => line));
  server.serveForever();
  const port = server.serverAddress.port;
  for (let batch = 0; batch < 20; batch++) {
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, i) => ask(port, `${batch}-${i}`)),
    );
    assert.equal(replies.filter((reply, i) => reply === `${batch}-${i}`).length, 100);
  }
  await until(() => server.activeRequests === 0, "every request to end");
  assert.equal(server.activeRequests, 0);
});

Deno.test("ThreadingTCPServer serves IPv6 clients end to end", async () => {
  await using server = new ThreadingTCPServer(
    { hostname: "::1", port: 0 },
    lineHandler((line) => line.toUpperCase()),
  );
  server.serveForever();
  assert.equal(server.addressFamily, "AF_INET6");
  const replies = await Promise.all(
    ["x", "y", "z"].map((line) => ask(server.serverAddress.port, line, "::1")),
  );
  assert.deepEqual(replies, ["X", "Y", "Z"]);
});

Deno.test("daemonThreads: a handler blocked on its connection does not keep the process alive", async () => {
  const program = new URL("./fixtures/daemon_exit.ts", import.meta.url).pathname;
  await using fixture = new Fixture(["run", "--allow-net=127.0.0.1", program]);
  const { code } = await within(fixture.status, 20_000, "the process to exit on its own");
  assert.equal(code, 0, fixture.output.join(""));
  assert.deepEqual(fixture.events.map((e) => e.event), ["blocked", "closed"]);
});

Deno.test("daemonThreads false (blockOnClose false): the blocked handler keeps the process alive", async () => {
  const program = new URL("./fixtures/daemon_exit.ts", import.meta.url).pathname;
  await using fixture = new Fixture(["run", "--allow-net=127.0.0.1", program, "--no-daemon"]);
  await fixture.next((e) => e.event === "closed");
  // The control for the test above: still running a while after close.
  const outcome = await Promise.race([
    fixture.status.then(() => "exited"),
    new Promise((resolve) => setTimeout(resolve, 500, "running")),
  ]);
  assert.equal(outcome, "running");
  fixture.process.kill("SIGKILL");
});
