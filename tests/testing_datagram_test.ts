/**
 * The in-memory datagram sockets of `@x/socketserver/testing` behave as
 * Deno's: each scenario runs on real sockets (UDP on loopback, Unix
 * datagram sockets in a temporary directory) and on a `MemoryNetwork`, and
 * the two traces must match each other and the expected one.
 */
import assert from "node:assert/strict";
import { MemoryNetwork } from "../testing.ts";
import { decoder, encoder } from "./_net.ts";

type Listen = (
  options: { transport: "udp"; hostname: string; port: number } | {
    transport: "unixpacket";
    path: string;
  },
) => Deno.DatagramConn;

const realListen: Listen = (options) =>
  options.transport === "udp" ? Deno.listenDatagram(options) : Deno.listenDatagram(options);

/** What an operation did: a count, `ok`, or the error's name (and code). */
async function outcome(operation: () => unknown): Promise<string> {
  try {
    const value = await operation();
    return typeof value === "number" ? String(value) : "ok";
  } catch (error) {
    const code = (error as { code?: string }).code;
    return error instanceof Error ? `${error.name}${code ? ` ${code}` : ""}` : String(error);
  }
}

function closeAll(...sockets: Deno.DatagramConn[]): void {
  for (const socket of sockets) {
    try {
      socket.close();
    } catch {
      // closed by the scenario
    }
  }
}

async function sameAsSocket(
  scenario: (listen: Listen) => Promise<string[]>,
  expected: string[],
): Promise<void> {
  const realTrace = await scenario(realListen);
  const network = new MemoryNetwork();
  const memoryTrace = await scenario((options) => network.listenDatagram(options));
  assert.deepEqual(realTrace, expected, "the real sockets");
  assert.deepEqual(memoryTrace, expected, "the in-memory sockets");
}

const udp = { transport: "udp", hostname: "127.0.0.1", port: 0 } as const;

Deno.test("MemoryDatagramConn keeps datagram boundaries, empty datagrams included, and reports the sender's address", async () => {
  await sameAsSocket(async (listen) => {
    const a = listen(udp);
    const b = listen(udp);
    try {
      for (const text of ["one", "", "three"]) await b.send(encoder.encode(text), a.addr);
      const trace: string[] = [];
      for (let i = 0; i < 3; i++) {
        const [data, from] = await a.receive();
        trace.push(JSON.stringify(decoder.decode(data)));
        assert.deepEqual({ ...from }, { ...b.addr });
      }
      return trace;
    } finally {
      closeAll(a, b);
    }
  }, ['"one"', '""', '"three"']);
});

Deno.test("MemoryDatagramConn.receive(p) cuts a longer datagram to p's length and returns a view of p, as recvfrom() does", async () => {
  await sameAsSocket(async (listen) => {
    const a = listen(udp);
    const b = listen(udp);
    try {
      await b.send(new Uint8Array(10), a.addr);
      const p = new Uint8Array(4);
      const [data] = await a.receive(p);
      return [String(data.length), String(data.buffer === p.buffer)];
    } finally {
      closeAll(a, b);
    }
  }, ["4", "true"]);
});

Deno.test("MemoryDatagramConn.send() fails with EMSGSIZE past 65507 bytes over UDP/IPv4 and loses a datagram sent where nothing is bound", async () => {
  await sameAsSocket(async (listen) => {
    const a = listen(udp);
    const b = listen(udp);
    try {
      return [
        await outcome(() => b.send(new Uint8Array(65_508), a.addr)),
        await outcome(() => b.send(new Uint8Array(65_507), a.addr)),
        String((await a.receive())[0].length),
        await outcome(() =>
          b.send(new Uint8Array(3), { transport: "udp", hostname: "127.0.0.1", port: 9 })
        ),
      ];
    } finally {
      closeAll(a, b);
    }
  }, ["Error EMSGSIZE", "65507", "65507", "3"]);
});

Deno.test("MemoryDatagramConn.close() rejects a pending receive with Interrupted, and every later call with BadResource; the iterator ends", async () => {
  await sameAsSocket(async (listen) => {
    const a = listen(udp);
    const b = listen(udp);
    const pending = outcome(() => a.receive());
    a.close();
    const trace = [
      await pending,
      await outcome(() => a.receive()),
      await outcome(() => a.send(new Uint8Array(1), b.addr)),
      await outcome(() => a.close()),
      (a.addr as Deno.NetAddr).transport,
    ];
    for await (const _ of a) trace.push("yielded");
    trace.push("ended");
    b.close();
    return trace;
  }, ["Interrupted EINTR", "BadResource", "BadResource", "BadResource", "udp", "ended"]);
});

Deno.test("MemoryDatagramConn over Unix: a send to a path never bound fails with NotFound, to a closed socket's path with ConnectionRefused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await sameAsSocket(async (listen) => {
      const id = crypto.randomUUID();
      const a = listen({ transport: "unixpacket", path: `${dir}/a-${id}.sock` });
      const b = listen({ transport: "unixpacket", path: `${dir}/b-${id}.sock` });
      b.close();
      try {
        const trace = [
          await outcome(() =>
            a.send(new Uint8Array(1), { transport: "unixpacket", path: `${dir}/none.sock` })
          ),
          await outcome(() => a.send(new Uint8Array(1), b.addr)),
          await outcome(() => a.send(encoder.encode("self"), a.addr)),
        ];
        const [data, from] = await a.receive();
        trace.push(
          decoder.decode(data),
          String((from as Deno.UnixAddr).path === (a.addr as Deno.UnixAddr).path),
        );
        return trace;
      } finally {
        closeAll(a);
      }
    }, ["NotFound ENOENT", "ConnectionRefused ECONNREFUSED", "4", "self", "true"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Whether `promise` has settled by the next turn of the microtask queue
 * (in memory, everything that can complete has). */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol("pending");
  return await Promise.race([promise.then(() => true, () => true), Promise.resolve(pending)]) !==
    pending;
}

Deno.test("MemoryNetwork bounds datagram memory: a UDP socket's full buffer drops what does not fit; a Unix one makes the sender wait", async () => {
  const network = new MemoryNetwork({ udpReceiveBufferSize: 1000, unixMaxQueuedDatagrams: 2 });
  using a = network.listenDatagram(udp);
  using b = network.listenDatagram(udp);
  for (let i = 0; i < 5; i++) assert.equal(await b.send(new Uint8Array(400), a.addr), 400);
  assert.equal(a.pending, 2, "two fit in 1000 bytes, three were dropped");

  using u = network.listenDatagram({ transport: "unixpacket", path: "/u.sock" });
  using v = network.listenDatagram({ transport: "unixpacket", path: "/v.sock" });
  await v.send(encoder.encode("1"), u.addr);
  await v.send(encoder.encode("2"), u.addr);
  const third = v.send(encoder.encode("3"), u.addr);
  assert.equal(await settled(third), false, "the queue is full: the send waits");
  assert.equal(decoder.decode((await u.receive())[0]), "1");
  assert.equal(await third, 1);
  assert.deepEqual(
    [(await u.receive())[0], (await u.receive())[0]].map((d) => decoder.decode(d)),
    ["2", "3"],
  );
  // Linux's default queue, net.unix.max_dgram_qlen: 10 datagrams
  const linux = new MemoryNetwork();
  using w = linux.listenDatagram({ transport: "unixpacket", path: "/w.sock" });
  using x = linux.listenDatagram({ transport: "unixpacket", path: "/x.sock" });
  for (let i = 0; i < 10; i++) await x.send(new Uint8Array(1), w.addr);
  const eleventh = x.send(new Uint8Array(1), w.addr);
  assert.equal(await settled(eleventh), false);
  await w.receive();
  await eleventh;

  const fourth = v.send(encoder.encode("4"), u.addr);
  const fifth = v.send(encoder.encode("5"), u.addr);
  const sixth = v.send(encoder.encode("6"), u.addr);
  assert.equal(await settled(sixth), false);
  u.close();
  await fourth;
  await fifth;
  await assert.rejects(sixth, Deno.errors.ConnectionRefused);
});
