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
import { localhostCert } from "../testing.ts";
import { decoder, encoder, readToEnd, until, within } from "./_helpers.ts";

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
    lineTooLong: 0,
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
      const dropped: Partial<Record<DropReason, number>> = { idleTimeout: 1, lineTooLong: 1 };
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
          dropped: { lineTooLong: 1 },
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
