/**
 * Attacks on issue 17's testing kit, `@x/socketserver/testing`: a
 * `withServer()` callback that throws with a client still connected, and the
 * in-memory sockets side by side with Deno's own where they part (a second
 * `accept()` or Unix `receive()` at once, the largest Unix datagram). Each
 * test failed when written (branch attack-17): they describe what a fix
 * must make true.
 */
import assert from "node:assert/strict";
import { sendall, StreamRequestHandler, TCPServer } from "../mod.ts";
import { MemoryNetwork, withServer } from "../testing.ts";
import { within } from "./_wait.ts";

class LineEcho extends StreamRequestHandler {
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

Deno.test("withServer() rethrows the callback's error when the callback throws with a client still connected, instead of waiting for ever for its request", async () => {
  let conn: Deno.TcpConn | undefined;
  const run = withServer(TCPServer, LineEcho, async (_server, address) => {
    conn = await Deno.connect(address);
    await sendall(conn, "hi\n");
    const reply = new Uint8Array(3);
    let got = 0;
    while (got < 3) got += (await conn.read(reply.subarray(got))) ?? 3; // the handler runs
    // a failed assertion: the test's own close of conn never comes
    throw new Error("an assertion failed");
  });
  try {
    await assert.rejects(
      within(run, 10_000, "withServer() to rethrow the callback's error"),
      /an assertion failed/,
    );
  } finally {
    conn?.close(); // lets the request end, so that the test itself ends
    await run.catch(() => {});
  }
});

Deno.test("MemoryListener.accept() called while another accept() waits fails with Busy, as Deno's listener does", async () => {
  const outcomes: string[] = [];
  const listeners: [string, () => Deno.Listener][] = [
    ["Deno.listen()", () => Deno.listen({ hostname: "127.0.0.1", port: 0 })],
    ["MemoryNetwork.listen()", () => new MemoryNetwork().listen({ hostname: "127.0.0.1" })],
  ];
  for (const [name, listen] of listeners) {
    const listener = listen();
    const first = listener.accept();
    first.catch(() => {}); // rejected by the close below
    const second = listener.accept();
    second.catch(() => {});
    const outcome = await within(
      second.then(() => "accepted", (error) => (error as Error).name),
      2_000,
      `the second accept() of ${name} to settle`,
    ).catch((error) => (error as Error).message);
    outcomes.push(`${name}: ${outcome}`);
    listener.close();
  }
  assert.deepEqual(outcomes, ["Deno.listen(): Busy", "MemoryNetwork.listen(): Busy"]);
});

Deno.test("MemoryDatagramConn.receive() over Unix called while another receive() waits fails with Busy, as Deno's Unix datagram socket does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "attack17-" });
  try {
    const outcomes: string[] = [];
    const sockets: [string, () => Deno.DatagramConn][] = [
      [
        "Deno.listenDatagram()",
        () => Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/real.sock` }),
      ],
      [
        "MemoryNetwork.listenDatagram()",
        () =>
          new MemoryNetwork().listenDatagram({ transport: "unixpacket", path: `${dir}/mem.sock` }),
      ],
    ];
    for (const [name, listen] of sockets) {
      const socket = listen();
      const first = socket.receive();
      first.catch(() => {}); // rejected by the close below
      const second = socket.receive();
      second.catch(() => {});
      const outcome = await within(
        second.then(() => "received", (error) => (error as Error).name),
        2_000,
        `the second receive() of ${name} to settle`,
      ).catch((error) => (error as Error).message);
      outcomes.push(`${name}: ${outcome}`);
      socket.close();
    }
    assert.deepEqual(outcomes, [
      "Deno.listenDatagram(): Busy",
      "MemoryNetwork.listenDatagram(): Busy",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MemoryNetwork: a Unix datagram of 212961 bytes fails with EMSGSIZE as on a real Unix socket, where Linux takes at most net.core.wmem_default - 32 (212960) bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "attack17-" });
  const network = new MemoryNetwork();
  let k = 0;
  /** What sending `size` bytes between two new sockets gives. */
  const send = async (listen: (path: string) => Deno.DatagramConn, size: number) => {
    const to = listen(`${dir}/to-${k}.sock`);
    const from = listen(`${dir}/from-${k++}.sock`);
    try {
      return await from.send(new Uint8Array(size), to.addr).then(
        (n) => `sent ${n}`,
        (error) => `${(error as Error).message} (${(error as { code?: string }).code})`,
      );
    } finally {
      to.close();
      from.close();
    }
  };
  const real = (path: string) => Deno.listenDatagram({ transport: "unixpacket", path });
  const memory = (path: string) => network.listenDatagram({ transport: "unixpacket", path });
  try {
    for (const size of [212_960, 212_961, 212_992]) {
      assert.equal(await send(memory, size), await send(real, size), `${size} bytes`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
