/**
 * `stats()`: every transport's counters equal what its clients did — each
 * request counted once, under completed, refused, a drop reason or errors,
 * and the bytes that went through `rfile` / `wfile` or the datagrams.
 */
import assert from "node:assert/strict";
import net from "node:net";
import {
  type AnyServer,
  DatagramRequestHandler,
  type DropReason,
  sendall,
  type ServerClass,
  type ServerStats,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  ThreadingTLSServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
  UDPServer,
} from "../mod.ts";
import { bindInMemory, localhostCert } from "../testing.ts";
import { decoder, encoder, readToEnd } from "./_net.ts";
import { Fixture } from "./_process.ts";
import { until, within } from "./_wait.ts";

const upper = (bytes: Uint8Array) => encoder.encode(decoder.decode(bytes).toUpperCase());

/** Echoes lines upper-cased; "fail" throws, "idle" makes the next wait time
 * out, "hold" is answered and then waits for the next line. */
class Counted extends StreamRequestHandler<AnyServer> {
  override maxLineLength = 64;
  override async handle() {
    for await (const line of this.rfile) {
      const text = decoder.decode(line).trim();
      if (text === "fail") throw new Error("handler failed on purpose");
      if (text === "idle") {
        this.rfile.idleTimeout = 50;
        continue;
      }
      await this.wfile.write(upper(line));
    }
  }
}

/** Echoes the datagram upper-cased as a line; "fail" throws; a datagram of
 * more than 64 bytes without a newline is a line too long. */
class CountedDatagram extends DatagramRequestHandler<AnyServer> {
  override maxLineLength = 64;
  override async handle() {
    const line = await this.rfile.readline();
    if (decoder.decode(line) === "fail") throw new Error("handler failed on purpose");
    await this.wfile.write(upper(line));
  }
}

/** Refuses the next request when asked; keeps errors off stderr. */
function Counting<C extends ServerClass>(Base: C) {
  return class extends Base {
    refuseNext = false;
    errorsSeen: unknown[] = [];
    override verifyRequest(request: unknown, clientAddress: unknown) {
      if (!this.refuseNext) return super.verifyRequest(request, clientAddress);
      this.refuseNext = false;
      return false;
    }
    override handleError(_request: unknown, _clientAddress: unknown, error: unknown) {
      this.errorsSeen.push(error);
    }
  };
}
type CountingServer = AnyServer & { refuseNext: boolean; errorsSeen: unknown[] };

/** What `stats()` should say: the counts given, zeros elsewhere. */
function expected(
  counts: Partial<Omit<ServerStats, "dropped">> & { dropped?: Partial<Record<DropReason, number>> },
): ServerStats {
  const dropped: Record<DropReason, number> = {
    reset: 0,
    timeout: 0,
    idleTimeout: 0,
    requestTimeout: 0,
    writeTimeout: 0,
    tooLong: 0,
    malformed: 0,
    handshake: 0,
    proxyHeader: 0,
    closed: 0,
    replyLost: 0,
    ...counts.dropped,
  };
  return {
    accepted: 0,
    refused: 0,
    completed: 0,
    errors: 0,
    bytesRead: 0,
    bytesWritten: 0,
    active: 0,
    ...counts,
    dropped,
  };
}

/** Sends `text` (then the end of input, unless `end` is false) and reads
 * the reply until the server closes. */
async function exchange(conn: Deno.Conn, text: string, end = true): Promise<string> {
  try {
    if (text !== "") await conn.write(encoder.encode(text));
    // a refused TLS client's handshake fails here: the server closed first
    if (end) await conn.closeWrite().catch(() => {});
    return decoder.decode((await readToEnd(conn, 10_000)).bytes);
  } finally {
    conn.close();
  }
}

/** Sends a line, reads the reply, then resets the connection (SO_LINGER 0). */
function lineThenReset(port: number, line: string): Promise<string> {
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  let reply = "";
  const socket = net.connect(port, "127.0.0.1", () => socket.write(line));
  socket.on("data", (data) => {
    reply += data.toString();
    if (reply.endsWith("\n")) socket.resetAndDestroy();
  });
  socket.on("error", reject);
  socket.on("close", () => resolve(reply));
  return within(promise, 10_000, "the reply before the reset");
}

interface StreamCase {
  name: string;
  make: (path: string) => CountingServer;
  connect: (server: AnyServer) => Promise<Deno.Conn>;
  /** The server handles requests concurrently: one can be held open to the close. */
  concurrent: boolean;
  /** The extra drop this transport can show, and how to cause it. */
  extra?: {
    reason: DropReason;
    read: number;
    written: number;
    cause: (port: number) => Promise<void>;
  };
}

const tcp = (server: AnyServer) =>
  Deno.connect({ hostname: "127.0.0.1", port: (server.serverAddress as Deno.NetAddr).port });
const reset = {
  reason: "reset" as const,
  read: 3,
  written: 3,
  cause: async (port: number) => assert.equal(await lineThenReset(port, "hi\n"), "HI\n"),
};

const STREAM_CASES: StreamCase[] = [
  {
    name: "TCPServer",
    make: () => new (Counting(TCPServer))(["127.0.0.1", 0], Counted) as CountingServer,
    connect: tcp,
    concurrent: false,
    extra: reset,
  },
  {
    name: "ThreadingTCPServer",
    make: () => new (Counting(ThreadingTCPServer))(["127.0.0.1", 0], Counted) as CountingServer,
    connect: tcp,
    concurrent: true,
    extra: reset,
  },
  {
    name: "ThreadingTLSServer",
    make: () =>
      new (Counting(ThreadingTLSServer))(
        ["127.0.0.1", 0],
        Counted,
        localhostCert,
      ) as CountingServer,
    connect: (server) =>
      Deno.connectTls({
        hostname: "localhost",
        port: (server.serverAddress as Deno.NetAddr).port,
        caCerts: [localhostCert.cert],
      }),
    concurrent: true,
    extra: {
      reason: "handshake",
      read: 0,
      written: 0,
      // a plain-text client: its bytes never reach rfile
      cause: async (port) => {
        await exchange(await Deno.connect({ hostname: "127.0.0.1", port }), "hello\n");
      },
    },
  },
  {
    name: "ThreadingUnixStreamServer",
    make: (path) => new (Counting(ThreadingUnixStreamServer))({ path }, Counted) as CountingServer,
    connect: (server) =>
      Deno.connect({ transport: "unix", path: (server.serverAddress as Deno.UnixAddr).path }),
    concurrent: true,
  },
];

for (const kind of STREAM_CASES) {
  Deno.test(`stats() of a ${kind.name} counts each request once, under its outcome, and the bytes through rfile and wfile`, async () => {
    const dir = await Deno.makeTempDir();
    const server = kind.make(`${dir}/stats.sock`);
    const serving = server.serveForever();
    try {
      const connect = () => kind.connect(server);
      assert.equal(await exchange(await connect(), "hello\n"), "HELLO\n");
      server.refuseNext = true;
      assert.equal(await exchange(await connect(), ""), "");
      assert.equal(await exchange(await connect(), "fail\n"), "");
      assert.equal(await exchange(await connect(), "idle\n", false), "");
      assert.equal(await exchange(await connect(), "x".repeat(64)), "");
      let read = 6 + 5 + 5 + 64;
      let written = 6;
      const dropped: Partial<Record<DropReason, number>> = { idleTimeout: 1, tooLong: 1 };
      if (kind.extra) {
        const port = (server.serverAddress as Deno.NetAddr).port;
        await kind.extra.cause(port);
        read += kind.extra.read;
        written += kind.extra.written;
        dropped[kind.extra.reason] = 1;
      }
      const accepted = kind.extra ? 6 : 5;
      const before = expected({
        accepted,
        refused: 1,
        completed: 1,
        errors: 1,
        dropped,
        bytesRead: read,
        bytesWritten: written,
      });
      // a request is counted as it is closed, just after the client's EOF
      await until(() => server.stats().accepted - server.stats().active === accepted, "the ends");
      assert.deepEqual(server.stats(), before);
      assert.equal(server.errorsSeen.length, 1);

      if (kind.concurrent) {
        // one held open: in flight now, closed by serverClose() at its deadline
        const held = await connect();
        await held.write(encoder.encode("hold\n"));
        const reply = new Uint8Array(5);
        let got = 0;
        while (got < 5) got += (await within(held.read(reply.subarray(got)), 10_000, "HOLD"))!;
        assert.equal(decoder.decode(reply), "HOLD\n");
        assert.deepEqual(
          server.stats(),
          {
            ...before,
            accepted: accepted + 1,
            active: 1,
            bytesRead: read + 5,
            bytesWritten: written + 5,
          },
        );
        await server.shutdown();
        await server.serverClose({ graceMs: 0, lingerMs: 0 });
        held.close();
        assert.deepEqual(
          server.stats(),
          {
            ...before,
            accepted: accepted + 1,
            dropped: { ...before.dropped, closed: 1 },
            bytesRead: read + 5,
            bytesWritten: written + 5,
          },
        );
      }
    } finally {
      await server.shutdown();
      await server.serverClose();
      await serving;
      await Deno.remove(dir, { recursive: true });
    }
  });
}

interface DatagramCase {
  name: string;
  make: (path: string) => CountingServer;
  client: (dir: string) => Deno.DatagramConn;
}

const DATAGRAM_CASES: DatagramCase[] = [
  {
    name: "UDPServer",
    make: () => new (Counting(UDPServer))(["127.0.0.1", 0], CountedDatagram) as CountingServer,
    client: () => Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
  },
  {
    name: "ThreadingUnixDatagramServer",
    make: (path) =>
      new (Counting(ThreadingUnixDatagramServer))({ path }, CountedDatagram) as CountingServer,
    client: (dir) => Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` }),
  },
];

for (const kind of DATAGRAM_CASES) {
  Deno.test(`stats() of a ${kind.name} counts each datagram once, under its outcome, and the bytes received and sent`, async () => {
    const dir = await Deno.makeTempDir();
    const server = kind.make(`${dir}/stats.sock`);
    const client = kind.client(dir);
    const serving = server.serveForever();
    try {
      const send = (text: string) => client.send(encoder.encode(text), server.serverAddress);
      const reply = async () =>
        decoder.decode((await within(client.receive(), 10_000, "a reply"))[0]);
      await send("hello");
      assert.equal(await reply(), "HELLO");
      server.refuseNext = true;
      await send("no");
      await send("fail");
      await send("x".repeat(65));
      // the last datagram is answered after the others were handled, or at once (threading)
      await send("last");
      assert.equal(await reply(), "LAST");
      await until(() => server.stats().accepted === 5 && server.stats().active === 0, "the ends");
      assert.deepEqual(
        server.stats(),
        expected({
          accepted: 5,
          refused: 1,
          completed: 2,
          errors: 1,
          dropped: { tooLong: 1 },
          bytesRead: 5 + 2 + 4 + 65 + 4,
          bytesWritten: 5 + 4,
        }),
      );
      assert.equal(server.errorsSeen.length, 1);
    } finally {
      client.close();
      await server.shutdown();
      await server.serverClose();
      await serving;
      await Deno.remove(dir, { recursive: true });
    }
  });
}

const FORKING = new URL("./fixtures/forking_stats.ts", import.meta.url).pathname;

Deno.test("stats() of a ForkingTCPServer's parent sums its children's reports, keeps a dead child's, and counts children started and died", async () => {
  await using app = new Fixture([
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=deno",
    FORKING,
  ]);
  const { port } = await app.next((event) => "port" in event);
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port });
  for (let i = 0; i < 3; i++) assert.equal(await exchange(await connect(), "hello\n"), "HELLO\n");
  assert.equal(await exchange(await connect(), "fail\n"), "");
  assert.equal(await exchange(await connect(), "idle\n", false), "");

  /** The parent's stats() once `done` holds, asking again as children report. */
  const statsWhen = async (done: (stats: ServerStats) => boolean) => {
    const deadline = performance.now() + 15_000;
    for (;;) {
      const from = app.events.length;
      await app.send("stats");
      const event = await app.next((e) => "stats" in e, 10_000, from);
      if (done(event.stats)) return event as { stats: ServerStats; pids: number[] };
      if (performance.now() > deadline) {
        assert.fail(`stats() never got there: ${JSON.stringify(event.stats)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const served = {
    accepted: 5,
    completed: 3,
    errors: 1,
    dropped: { idleTimeout: 1 },
    bytesRead: 3 * 6 + 5 + 5,
    bytesWritten: 3 * 6,
  };
  const { stats, pids } = await statsWhen((s) => s.accepted === 5 && s.active === 0);
  const { children, ...sums } = stats;
  assert.deepEqual(sums, expected(served));
  assert.equal(children?.running, 2);
  assert.equal(children?.started, 2);
  assert.equal(children?.died, 0);
  assert.equal(typeof children?.reportAgeMs, "number");

  // a child killed: its last report stays in the sums, its replacement counts as started
  const killed = await new Deno.Command("kill", { args: ["-KILL", String(pids[0])] }).output();
  assert.equal(killed.code, 0);
  const after = await statsWhen((s) => s.children?.died === 1 && s.children?.started === 3);
  assert.deepEqual({ ...after.stats, children: undefined }, {
    ...expected(served),
    children: undefined,
  });
  assert.equal(after.stats.children?.running, 2);

  assert.equal(await exchange(await connect(), "again\n"), "AGAIN\n");
  await app[Symbol.asyncDispose]();
  const { final } = await app.next((event) => "final" in event);
  assert.deepEqual(final, {
    ...expected({
      ...served,
      accepted: 6,
      completed: 4,
      bytesRead: served.bytesRead + 6,
      bytesWritten: served.bytesWritten + 6,
    }),
    children: { running: 0, started: 3, died: 1, reportAgeMs: null },
  });
  assert.equal((await app.status).code, 0, app.output.join(""));
});

/** Answers each frame with a frame; frames of at most 16 bytes, whose field counts itself. */
class Framed extends StreamRequestHandler<AnyServer> {
  override async handle() {
    const options = { maxFrameLength: 16, lengthAdjustment: -4 };
    for await (const payload of this.rfile.frames(options)) {
      await this.wfile.writeFrame(upper(payload), options);
    }
  }
}

/** A 4-byte big-endian length field that counts itself, then `payload`. */
function frame(payload: string, field = payload.length + 4): Uint8Array {
  const bytes = new Uint8Array(4 + payload.length);
  new DataView(bytes.buffer).setUint32(0, field);
  bytes.set(encoder.encode(payload), 4);
  return bytes;
}

Deno.test("stats() counts readFrame()'s bytes, a frame over maxFrameLength as tooLong and one with a negative length as malformed, on the in-memory kit", async () => {
  await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Framed, {
    bindAndActivate: false,
  });
  const network = bindInMemory(server);
  server.serverActivate();
  server.serveForever();
  const exchangeFrames = async (bytes: Uint8Array) => {
    const conn = await network.connect(server.serverAddress);
    await sendall(conn, bytes);
    await conn.closeWrite();
    return new Uint8Array(await new Response(conn.readable).arrayBuffer());
  };
  assert.deepEqual(await exchangeFrames(frame("hello")), frame("HELLO"));
  assert.equal((await exchangeFrames(frame("x".repeat(17)))).length, 0);
  assert.equal((await exchangeFrames(frame("", 2))).length, 0);
  await until(() => server.stats().accepted === 3 && server.stats().active === 0, "the ends");
  assert.deepEqual(
    server.stats(),
    expected({
      accepted: 3,
      completed: 1,
      dropped: { tooLong: 1, malformed: 1 },
      // every byte sent: an in-memory connection hands each write over whole, so
      // the read that brings a refused field brings its payload too
      bytesRead: 9 + 21 + 4,
      bytesWritten: 9,
    }),
  );
});

Deno.test("stats() returns a fresh object at each call, and counts no byte a handler moves on the raw request (this.request.read(), sendall(this.request, …))", async () => {
  class Raw extends StreamRequestHandler {
    override async handle() {
      const buffer = new Uint8Array(64);
      const n = await this.request.read(buffer);
      await sendall(this.request, buffer.subarray(0, n ?? 0));
    }
  }
  const server = new TCPServer(["127.0.0.1", 0], Raw);
  const serving = server.serveForever();
  try {
    const first = server.stats();
    first.accepted = 99;
    first.dropped.reset = 99;
    const second = server.stats();
    assert.notEqual(second, first);
    assert.notEqual(second.dropped, first.dropped);
    assert.equal(second.accepted, 0);
    assert.equal(second.dropped.reset, 0);
    const conn = await Deno.connect(server.serverAddress);
    assert.equal(await exchange(conn, "raw\n"), "raw\n");
    await until(() => server.stats().completed === 1, "the request to end");
    assert.deepEqual(server.stats(), expected({ accepted: 1, completed: 1 }));
  } finally {
    await server.shutdown();
    await server.serverClose();
    await serving;
  }
});

Deno.test("stats() of a UDPServer counts the bytes a truncated datagram kept (maxPacketSize), not the bytes sent", async () => {
  class Size extends DatagramRequestHandler {
    override async handle() {
      await this.wfile.write(`${this.packet.length}`);
    }
  }
  const server = new UDPServer(["127.0.0.1", 0], Size, { maxPacketSize: 16 });
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const serving = server.serveForever();
  try {
    await client.send(new Uint8Array(100), server.serverAddress);
    const [reply] = await within(client.receive(), 10_000, "a reply");
    assert.equal(decoder.decode(reply), "16");
    await until(() => server.stats().completed === 1, "the datagram to end");
    assert.deepEqual(
      server.stats(),
      expected({ accepted: 1, completed: 1, bytesRead: 16, bytesWritten: 2 }),
    );
  } finally {
    client.close();
    await server.shutdown();
    await server.serverClose();
    await serving;
  }
});
