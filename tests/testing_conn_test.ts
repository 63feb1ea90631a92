/**
 * The in-memory connection of `@x/socketserver/testing` behaves as Deno's
 * sockets do: every scenario here runs the same steps on a real loopback
 * pair (TCP, and Unix where the rules differ) and on a `connPair()`, and
 * the two traces of results must match each other and the expected one.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { connPair, MemoryNetwork } from "../testing.ts";
import { untilResetArrived } from "./_kernel.ts";
import { decoder, encoder } from "./_net.ts";

type Pair = [Deno.Conn, Deno.Conn];

/** A connected loopback TCP pair, `[client, server]`. */
async function tcpPair(): Promise<Pair> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  return [client, await listener.accept()];
}

/** A connected Unix stream pair in a temporary directory. */
async function unixPair(dir: string): Promise<Pair> {
  const path = `${dir}/pair-${crypto.randomUUID()}.sock`;
  using listener = Deno.listen({ transport: "unix", path });
  const client = await Deno.connect({ transport: "unix", path });
  return [client, await listener.accept()];
}

function closeAll(...conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // closed by the scenario
    }
  }
}

/** What an operation did: a count, `EOF`, `ok`, or the error's name. */
async function outcome(operation: () => unknown): Promise<string> {
  try {
    const value = await operation();
    return value === null ? "EOF" : typeof value === "number" ? String(value) : "ok";
  } catch (error) {
    return error instanceof Error ? error.name : String(error);
  }
}

/** What an operation that returns nothing did: `ok` or the error's name
 * (Deno's `closeWrite()` resolves to `null`, not `undefined`). */
function ok(operation: () => unknown): Promise<string> {
  return outcome(async () => {
    await operation();
    return "done";
  });
}

/** Runs `scenario` on a fresh real pair and on a fresh in-memory pair, and
 * checks both traces against `expected`. */
async function sameAsSocket(
  real: () => Promise<Pair>,
  memory: () => Pair,
  scenario: (client: Deno.Conn, server: Deno.Conn) => Promise<string[]>,
  expected: string[],
): Promise<void> {
  const [rc, rs] = await real();
  const realTrace = await scenario(rc, rs).finally(() => closeAll(rc, rs));
  const [mc, ms] = memory();
  const memoryTrace = await scenario(mc, ms).finally(() => closeAll(mc, ms));
  assert.deepEqual(realTrace, expected, "the real socket");
  assert.deepEqual(memoryTrace, expected, "the in-memory pair");
}

const memoryTcp = (): Pair => connPair();

Deno.test("MemoryConn.read() returns what is buffered up to its buffer's length and coalesces writes, as a TCP socket's read does", async () => {
  await sameAsSocket(tcpPair, memoryTcp, async (client, server) => {
    const trace: string[] = [];
    await client.write(encoder.encode("hello world"));
    const four = new Uint8Array(4);
    for (let i = 0; i < 3; i++) trace.push(await outcome(() => server.read(four)));
    await client.write(encoder.encode("ab"));
    await client.write(encoder.encode("cd"));
    const big = new Uint8Array(100);
    const n = await server.read(big);
    trace.push(decoder.decode(big.subarray(0, n!)));
    trace.push(await outcome(() => server.read(new Uint8Array(0))));
    trace.push(await outcome(() => client.write(new Uint8Array(0))));
    return trace;
  }, ["4", "4", "3", "abcd", "0", "0"]);
});

Deno.test("MemoryConn.closeWrite() is a half-close: the peer reads the rest then EOF and can still answer; a write after it fails with BrokenPipe", async () => {
  await sameAsSocket(tcpPair, memoryTcp, async (client, server) => {
    const trace: string[] = [];
    await client.write(encoder.encode("ping"));
    trace.push(await ok(() => client.closeWrite()));
    const buffer = new Uint8Array(16);
    trace.push(await outcome(() => server.read(buffer)));
    trace.push(await outcome(() => server.read(buffer)));
    trace.push(await outcome(() => server.read(buffer)));
    trace.push(await outcome(() => client.write(encoder.encode("x"))));
    trace.push(await ok(() => client.closeWrite())); // a second one is harmless
    trace.push(await outcome(() => server.write(encoder.encode("pong"))));
    trace.push(await outcome(() => client.read(buffer)));
    trace.push(await ok(() => server.closeWrite()));
    trace.push(await outcome(() => client.read(buffer)));
    return trace;
  }, ["ok", "4", "EOF", "EOF", "BrokenPipe", "ok", "4", "4", "ok", "EOF"]);
});

Deno.test("MemoryConn.close(): the peer reads EOF, its first write is accepted and the next fails with BrokenPipe (TCP); every call on the closed end throws BadResource", async () => {
  await sameAsSocket(tcpPair, memoryTcp, async (client, server) => {
    const trace: string[] = [];
    const buffer = new Uint8Array(16);
    client.close();
    trace.push(await outcome(() => server.read(buffer)));
    trace.push(await outcome(() => server.write(encoder.encode("a"))));
    trace.push(await outcome(() => server.write(encoder.encode("b"))));
    trace.push(await outcome(() => server.read(buffer)));
    trace.push(await ok(() => server.closeWrite()));
    trace.push(await outcome(() => client.read(buffer)));
    trace.push(await outcome(() => client.write(buffer)));
    trace.push(await ok(() => client.closeWrite()));
    trace.push(await ok(() => client.close()));
    trace.push(await ok(() => (client as Deno.TcpConn).setNoDelay(true)));
    trace.push(await ok(() => client.ref()));
    trace.push(String(client.localAddr.transport));
    return trace;
  }, [
    "EOF",
    "1",
    "BrokenPipe",
    "EOF",
    "ok",
    "BadResource",
    "BadResource",
    "BadResource",
    "BadResource",
    "BadResource",
    "ok",
    "tcp",
  ]);
});

Deno.test("MemoryConn.close() with bytes unread makes the peer's very next write fail with BrokenPipe (TCP), after the peer reads what was sent", async () => {
  await sameAsSocket(tcpPair, memoryTcp, async (client, server) => {
    const trace: string[] = [];
    await server.write(encoder.encode("reply")); // never read by the client
    await client.write(encoder.encode("request"));
    client.close();
    const buffer = new Uint8Array(16);
    trace.push(await outcome(() => server.read(buffer)));
    trace.push(await outcome(() => server.read(buffer)));
    trace.push(await outcome(() => server.write(encoder.encode("x"))));
    return trace;
  }, ["7", "EOF", "BrokenPipe"]);
});

Deno.test("MemoryConn.close() cancels the end's own pending read with Interrupted, and a write waiting for room the same way", async () => {
  await sameAsSocket(tcpPair, memoryTcp, async (client, server) => {
    const trace: string[] = [];
    const reading = outcome(() => client.read(new Uint8Array(8)));
    // fill the way to the server, which does not read, until a write waits
    const first = await client.write(new Uint8Array(64 << 20));
    trace.push(first < 64 << 20 ? "partial" : "whole");
    const waiting = outcome(() => client.write(new Uint8Array(1024)));
    client.close();
    trace.push(await reading, await waiting);
    // the server receives exactly what the completed write handed over
    let total = 0;
    const buffer = new Uint8Array(1 << 20);
    for (let n = await server.read(buffer); n !== null; n = await server.read(buffer)) total += n;
    trace.push(total === first ? "all of the first write" : `${total} of ${first}`);
    return trace;
  }, ["partial", "Interrupted", "Interrupted", "all of the first write"]);
});

Deno.test("MemoryConn: a write waiting for room fails with BrokenPipe when the peer closes without reading, and so does the next one", async () => {
  await sameAsSocket(tcpPair, memoryTcp, async (client, server) => {
    const trace: string[] = [];
    await client.write(new Uint8Array(64 << 20)); // fills the way
    const waiting = outcome(() => client.write(new Uint8Array(1024)));
    server.close();
    trace.push(await waiting);
    trace.push(await outcome(() => client.write(new Uint8Array(1))));
    trace.push(await outcome(() => client.read(new Uint8Array(1))));
    return trace;
  }, ["BrokenPipe", "BrokenPipe", "EOF"]);
});

/** A Node client that sends `data` and then resets the connection
 * (`SO_LINGER` 0); resolves once the reset is sent. */
async function nodeResetPair(data: string): Promise<Pair> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closed = Promise.withResolvers<void>();
  const connected = Promise.withResolvers<void>();
  const socket = net.connect(listener.addr.port, "127.0.0.1", () => connected.resolve());
  socket.on("error", () => {});
  socket.on("close", () => closed.resolve());
  // accepted before the reset: else Deno's accept() itself fails with NotConnected
  const server = await listener.accept();
  await connected.promise;
  socket.write(data, () => socket.resetAndDestroy());
  await closed.promise;
  await untilResetArrived(server);
  // the client side is Node's: a closed stand-in keeps the pair's shape
  const [standIn] = connPair();
  standIn.close();
  return [standIn, server];
}

Deno.test("MemoryConn.reset() is a TCP reset: the peer reads what came, then ConnectionReset once, then EOF, and its writes fail with BrokenPipe", async () => {
  await sameAsSocket(
    () => nodeResetPair("queued-data"),
    () => {
      const [client, server] = connPair();
      client.write(encoder.encode("queued-data"));
      client.reset();
      return [client, server];
    },
    async (_client, server) => {
      const buffer = new Uint8Array(64);
      return [
        await outcome(() => server.read(buffer)),
        await outcome(() => server.read(buffer)),
        await outcome(() => server.read(buffer)),
        await outcome(() => server.write(encoder.encode("x"))),
        await ok(() => server.closeWrite()),
      ];
    },
    ["11", "ConnectionReset", "EOF", "BrokenPipe", "ok"],
  );
});

Deno.test("MemoryConn.reset(): the peer's next write, if it comes before any read, is the one that fails with ConnectionReset", async () => {
  await sameAsSocket(
    () => nodeResetPair(""),
    () => {
      const [client, server] = connPair();
      client.reset();
      return [client, server];
    },
    async (_client, server) => [
      await outcome(() => server.write(encoder.encode("x"))),
      await outcome(() => server.write(encoder.encode("x"))),
      await outcome(() => server.read(new Uint8Array(8))),
    ],
    ["ConnectionReset", "BrokenPipe", "EOF"],
  );
});

Deno.test("MemoryConn.reset() fails a read already waiting with ConnectionReset", async () => {
  const [client, server] = connPair();
  const reading = outcome(() => server.read(new Uint8Array(8)));
  client.reset();
  assert.equal(await reading, "ConnectionReset");
  assert.equal(await outcome(() => server.read(new Uint8Array(8))), "EOF");
  server.close();
  // and a real pending read, for the record
  const [rc, rs] = await tcpPair();
  const socketReading = outcome(() => rs.read(new Uint8Array(8)));
  rc.close(); // a clean close: EOF, not a reset
  assert.equal(await socketReading, "EOF");
  rs.close();
});

Deno.test("MemoryConn over Unix: a write to a closed peer fails at once, and a peer that closed with bytes unread makes the next read fail with ConnectionReset", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const memoryUnix = (): Pair => connPair({ serverAddr: { transport: "unix", path: "/x.sock" } });
    await sameAsSocket(() => unixPair(dir), memoryUnix, async (client, server) => {
      client.close();
      return [
        await outcome(() => server.read(new Uint8Array(8))),
        await outcome(() => server.write(encoder.encode("x"))),
      ];
    }, ["EOF", "BrokenPipe"]);
    await sameAsSocket(() => unixPair(dir), memoryUnix, async (client, server) => {
      await server.write(encoder.encode("unread"));
      client.close();
      return [
        await outcome(() => server.write(encoder.encode("x"))),
        await outcome(() => server.read(new Uint8Array(8))),
      ];
    }, ["BrokenPipe", "ConnectionReset"]);
    // what Deno reports as an unnamed Unix client's address
    const [rc, rs] = await unixPair(dir);
    const [mc, ms] = memoryUnix();
    assert.deepEqual(ms.remoteAddr, rs.remoteAddr);
    assert.equal((mc.remoteAddr as Deno.UnixAddr).path, "/x.sock");
    closeAll(rc, rs, mc, ms);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MemoryConn.readable ends at EOF and then closes the connection, as Deno's does (the trap of piping request.readable)", async () => {
  await sameAsSocket(tcpPair, memoryTcp, async (client, server) => {
    await server.write(encoder.encode("abc"));
    await server.closeWrite();
    const text = await new Response(client.readable).text();
    return [
      text,
      await outcome(() => client.write(encoder.encode("x"))),
      await ok(() => client.closeWrite()),
      await ok(() => client.close()),
    ];
  }, ["abc", "BadResource", "BadResource", "BadResource"]);
});

Deno.test("MemoryConn.readable and writable report a closed connection as BadResource; cancelling or closing them closes it", async () => {
  await sameAsSocket(tcpPair, memoryTcp, async (client, server) => {
    const trace: string[] = [];
    const reader = client.readable.getReader();
    const pending = outcome(() => reader.read());
    client.close();
    trace.push(await pending);
    const writer = server.writable.getWriter();
    await writer.write(encoder.encode("hi"));
    await writer.close(); // closes the connection
    trace.push(await outcome(() => server.read(new Uint8Array(1))));
    return trace;
  }, ["BadResource", "BadResource"]);
  await sameAsSocket(tcpPair, memoryTcp, async (client, server) => {
    await client.readable.cancel();
    const aborted = server.writable.getWriter().abort();
    await aborted;
    return [
      await outcome(() => client.write(encoder.encode("x"))),
      await outcome(() => server.read(new Uint8Array(1))),
    ];
  }, ["BadResource", "BadResource"]);
});

/** Whether `promise` has settled, without waiting for a timer: an
 * in-memory operation that can complete has completed by the next
 * microtask. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol("pending");
  return await Promise.race([promise.then(() => true, () => true), Promise.resolve(pending)]) !==
    pending;
}

Deno.test("MemoryConn bounds memory per direction: a writer that is never read holds at most bufferSize bytes, and waits", async () => {
  const [client, server] = connPair({ bufferSize: 64 * 1024 });
  const chunk = new Uint8Array(1 << 20);
  assert.equal(await client.write(chunk), 64 * 1024, "a partial write: what fits");
  const waiting = client.write(chunk);
  assert.equal(await settled(waiting), false, "the next write waits for room");
  assert.equal(server.buffered, 64 * 1024);
  assert.equal(await server.read(new Uint8Array(1000)), 1000);
  assert.equal(await waiting, 1000, "it takes the room the read made");
  assert.equal(server.buffered, 64 * 1024);
  client.close();
  server.close();
});

Deno.test("MemoryConn: a 64 MiB reply through wfile-sized writes never holds more than bufferSize bytes in the pair", async () => {
  const size = 64 << 20;
  const [client, server] = connPair({ bufferSize: 64 * 1024 });
  let peak = 0;
  const writing = (async () => {
    const payload = new Uint8Array(size);
    let n = 0;
    while (n < size) {
      n += await server.write(payload.subarray(n));
      peak = Math.max(peak, client.buffered);
    }
    server.close();
  })();
  let received = 0;
  const buffer = new Uint8Array(16 * 1024);
  for (let n = await client.read(buffer); n !== null; n = await client.read(buffer)) {
    received += n;
    peak = Math.max(peak, client.buffered);
  }
  await writing;
  client.close();
  assert.equal(received, size);
  assert.ok(peak <= 64 * 1024, `peak ${peak} bytes buffered`);
});

Deno.test("MemoryConn.closeWrite() waits for the writes queued before it, as Deno's does", async () => {
  const [client, server] = connPair({ bufferSize: 4 });
  const write = client.write(encoder.encode("abcdef").subarray(4)); // fits: 2 bytes
  await client.write(encoder.encode("wxyz").subarray(0, 2)); // fills the buffer
  const waiting = client.write(encoder.encode("q"));
  const shut = client.closeWrite();
  assert.equal(await settled(shut), false, "closeWrite() waits for the queued write");
  const buffer = new Uint8Array(8);
  assert.equal(await server.read(buffer), 4);
  assert.equal(await waiting, 1);
  await shut;
  assert.equal(await server.read(buffer), 1);
  assert.equal(await server.read(buffer), null);
  assert.equal(await write, 2);
  client.close();
  server.close();
});

Deno.test("MemoryNetwork.listen()/connect() follow Deno's: port 0 picks a free port, a taken one throws AddrInUse, nothing listening is ConnectionRefused, a closed listener rejects accept() and resets the connections it never accepted", async () => {
  const network = new MemoryNetwork();
  const listener = network.listen({ hostname: "127.0.0.1", port: 0 });
  assert.ok(listener.addr.port >= 32768);
  assert.throws(() => network.listen({ port: listener.addr.port }), Deno.errors.AddrInUse);
  await assert.rejects(network.connect({ port: 1 }), Deno.errors.ConnectionRefused);
  const queued = await network.connect(listener.addr);
  const accepting = listener.accept();
  const accepted = await accepting; // the queued one
  const second = await network.connect({ hostname: "localhost", port: listener.addr.port });
  listener.close();
  await assert.rejects(listener.accept(), Deno.errors.BadResource);
  assert.throws(() => listener.close(), Deno.errors.BadResource);
  await assert.rejects(second.read(new Uint8Array(1)), Deno.errors.ConnectionReset);
  await assert.rejects(network.connect(listener.addr), Deno.errors.ConnectionRefused);
  for (const conn of [queued, accepted, second]) conn.close();

  // the same on real sockets
  const real = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const realSecond = await Deno.connect({ hostname: "127.0.0.1", port: real.addr.port });
  real.close();
  await assert.rejects(real.accept(), Deno.errors.BadResource);
  await assert.rejects(realSecond.read(new Uint8Array(1)), Deno.errors.ConnectionReset);
  realSecond.close();
});

Deno.test("MemoryNetwork: a wildcard listener takes connections to any host; two networks never see each other", async () => {
  const network = new MemoryNetwork();
  using listener = network.listen({ port: 8080 }); // 0.0.0.0
  const client = await network.connect({ hostname: "10.1.2.3", port: 8080 });
  const conn = await listener.accept();
  assert.equal(conn.localAddr.hostname, "10.1.2.3");
  await assert.rejects(new MemoryNetwork().connect({ port: 8080 }), Deno.errors.ConnectionRefused);
  client.close();
  conn.close();
});
