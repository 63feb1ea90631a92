/**
 * UDPServer, ThreadingUDPServer and DatagramRequestHandler: packet limits,
 * empty datagrams, many clients, errors, closing, flags and permissions.
 */

import assert from "node:assert/strict";
import {
  type DatagramRequest,
  DatagramRequestHandler,
  ThreadingUDPServer,
  UDPServer,
  UnixDatagramServer,
} from "../mod.ts";
import { decoder, encoder } from "./_net.ts";
import { bindInSubprocess } from "./_process.ts";
import { EchoDatagram, TEST_STR } from "./_python.ts";
import { within } from "./_wait.ts";

const loopback = { hostname: "127.0.0.1", port: 0 };

/** A client socket for one test; close it with `using`-like try/finally. */
function udpClient(): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", ...loopback });
}

async function ask(client: Deno.DatagramConn, to: Deno.Addr, data: Uint8Array): Promise<string> {
  await client.send(data, to);
  const [reply] = await within(client.receive(), 10_000, "reply");
  return decoder.decode(reply);
}

/** Replies "<truncated>:<packet length>". */
class Describe extends DatagramRequestHandler {
  override async handle() {
    await this.wfile.write(`${this.truncated}:${this.packet.length}`);
  }
}

Deno.test("maxPacketSize: a longer datagram reaches the handler cut to maxPacketSize, with truncated set", async () => {
  await using server = new UDPServer(loopback, Describe, { maxPacketSize: 16 });
  server.serveForever();
  const client = udpClient();
  try {
    assert.equal(await ask(client, server.serverAddress, new Uint8Array(100)), "true:16");
    assert.equal(await ask(client, server.serverAddress, new Uint8Array(17)), "true:16");
    assert.equal(await ask(client, server.serverAddress, new Uint8Array(16)), "false:16");
    assert.equal(await ask(client, server.serverAddress, new Uint8Array(3)), "false:3");
  } finally {
    client.close();
  }
});

Deno.test("maxPacketSize as a static override in a subclass sizes the receive buffer, on UDP and Unix datagram servers", async () => {
  class SmallUDP extends UDPServer {
    static override maxPacketSize = 16;
  }
  await using server = new SmallUDP(loopback, Describe);
  assert.equal(server.maxPacketSize, 16);
  assert.equal(UDPServer.maxPacketSize, 8192);
  server.serveForever();
  const client = udpClient();
  try {
    assert.equal(await ask(client, server.serverAddress, new Uint8Array(100)), "true:16");
    assert.equal(await ask(client, server.serverAddress, new Uint8Array(16)), "false:16");
  } finally {
    client.close();
  }

  class DescribeUnix extends DatagramRequestHandler<UnixDatagramServer> {
    override async handle() {
      await this.wfile.write(`${this.truncated}:${this.packet.length}`);
    }
  }
  class SmallUnix extends UnixDatagramServer {
    static override maxPacketSize = 16;
  }
  const dir = await Deno.makeTempDir();
  try {
    await using unix = new SmallUnix({ path: `${dir}/server.sock` }, DescribeUnix);
    unix.serveForever();
    const unixClient = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
    try {
      assert.equal(await ask(unixClient, unix.serverAddress, new Uint8Array(100)), "true:16");
    } finally {
      unixClient.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("maxPacketSize defaults to Python's 8192: 8192 bytes arrive whole, 8193 are cut", async () => {
  assert.equal(UDPServer.maxPacketSize, 8192);
  await using server = new UDPServer(loopback, Describe);
  assert.equal(server.maxPacketSize, 8192);
  server.serveForever();
  const client = udpClient();
  try {
    assert.equal(await ask(client, server.serverAddress, new Uint8Array(8192)), "false:8192");
    assert.equal(await ask(client, server.serverAddress, new Uint8Array(8193)), "true:8192");
  } finally {
    client.close();
  }
});

Deno.test("DatagramRequest.truncated: the cut packet holds the datagram's first bytes and the request says truncated too", async () => {
  const seen: { packet: string; truncated: boolean }[] = [];
  class Record extends DatagramRequestHandler {
    override handle() {
      const [packet] = this.request;
      seen.push({ packet: decoder.decode(packet), truncated: this.request.truncated });
    }
  }
  await using server = new UDPServer(loopback, Record, { maxPacketSize: 5 });
  const client = udpClient();
  try {
    await client.send(encoder.encode("hello world"), server.serverAddress);
    await server.handleRequest();
  } finally {
    client.close();
  }
  assert.deepEqual(seen, [{ packet: "hello", truncated: true }]);
});

Deno.test("DatagramRequestHandler.packet is empty for an empty datagram, and echoing nothing sends no reply", async () => {
  const lengths: number[] = [];
  class Echo extends EchoDatagram {
    override async handle() {
      lengths.push(this.packet.length);
      await super.handle();
    }
  }
  await using server = new UDPServer(loopback, Echo); // one datagram at a time, in order
  server.serveForever();
  const client = udpClient();
  try {
    await client.send(new Uint8Array(0), server.serverAddress);
    // Had the empty datagram been answered, that answer would come first.
    assert.equal(await ask(client, server.serverAddress, encoder.encode("x\n")), "x\n");
  } finally {
    client.close();
  }
  assert.deepEqual(lengths, [0, 2]);
});

Deno.test("DatagramRequestHandler.wfile: writing only empty strings sends nothing; an empty reply is sent on this.socket", async () => {
  class Empty extends DatagramRequestHandler {
    override async handle() {
      const text = decoder.decode(this.packet);
      if (text === "nothing") await this.wfile.write("");
      if (text === "probe") await this.wfile.write("probe");
      if (text === "empty please") await this.socket.send(new Uint8Array(0), this.clientAddress);
    }
  }
  await using server = new UDPServer(loopback, Empty);
  server.serveForever();
  const client = udpClient();
  try {
    await client.send(encoder.encode("nothing"), server.serverAddress);
    // in order: had "nothing" been answered, its empty reply would come first
    assert.equal(await ask(client, server.serverAddress, encoder.encode("probe")), "probe");
    assert.equal(await ask(client, server.serverAddress, encoder.encode("empty please")), "");
  } finally {
    client.close();
  }
});

Deno.test("DatagramRequestHandler.wfile: several writes go out as one datagram when the handler finishes", async () => {
  class Pieces extends DatagramRequestHandler {
    override async handle() {
      await this.wfile.write("a");
      await this.wfile.write(encoder.encode("b"));
      await this.wfile.write("c");
    }
  }
  await using server = new UDPServer(loopback, Pieces);
  server.serveForever();
  const client = udpClient();
  try {
    assert.equal(await ask(client, server.serverAddress, encoder.encode("?")), "abc");
  } finally {
    client.close();
  }
});

Deno.test("DatagramRequestHandler.packet: packets a handler keeps without copying are never overwritten by later datagrams, nor replies by later writes", async () => {
  const kept: Uint8Array[] = [];
  class Keep extends DatagramRequestHandler {
    override async handle() {
      kept.push(this.packet); // a view, kept on purpose without slice()
      const reply = encoder.encode(`re:${decoder.decode(this.packet)}`);
      await this.wfile.write(reply);
      reply.fill(0x21); // what was written is sent, not what the buffer holds later
    }
  }
  await using server = new UDPServer(loopback, Keep);
  server.serveForever();
  const client = udpClient();
  try {
    // enough datagrams of differing sizes to span several shared buffers
    const sent: string[] = [];
    for (let i = 0; i < 600; i++) {
      const text = `${i}:` + "x".repeat(i % 200);
      sent.push(text);
      assert.equal(await ask(client, server.serverAddress, encoder.encode(text)), `re:${text}`);
    }
    assert.deepEqual(kept.map((packet) => decoder.decode(packet)), sent);
  } finally {
    client.close();
  }
});

Deno.test("rfile reads a packet's lines and the rest like a stream handler's rfile", async () => {
  class Lines extends DatagramRequestHandler {
    override async handle() {
      const parts: string[] = [];
      for (let i = 0; i < 2; i++) parts.push(decoder.decode(await this.rfile.readline()));
      parts.push(decoder.decode(await this.rfile.read()));
      parts.push(String((await this.rfile.readline()).length));
      await this.wfile.write(JSON.stringify(parts));
    }
  }
  await using server = new UDPServer(loopback, Lines);
  server.serveForever();
  const client = udpClient();
  try {
    const reply = await ask(client, server.serverAddress, encoder.encode("one\ntwo\nrest"));
    assert.deepEqual(JSON.parse(reply), ["one\n", "two\n", "rest", "0"]);
  } finally {
    client.close();
  }
});

for (const Server of [UDPServer, ThreadingUDPServer]) {
  Deno.test(`${Server.name} answers 50 clients that all send at once`, async () => {
    await using server = new Server(loopback, EchoDatagram);
    server.serveForever();
    const clients = Array.from({ length: 50 }, udpClient);
    try {
      const replies = await Promise.all(
        clients.map((c, i) => ask(c, server.serverAddress, encoder.encode(`client ${i}\n`))),
      );
      assert.deepEqual(replies, clients.map((_, i) => `client ${i}\n`));
    } finally {
      for (const c of clients) c.close();
    }
  });
}

Deno.test("ThreadingUDPServer handles datagrams concurrently: a held handler does not delay the next", async () => {
  const release = Promise.withResolvers<void>();
  class Held extends EchoDatagram {
    override async handle() {
      if (decoder.decode(this.packet) === "hold\n") await release.promise;
      await super.handle();
    }
  }
  await using server = new ThreadingUDPServer(loopback, Held);
  server.serveForever();
  const held = udpClient();
  const other = udpClient();
  try {
    await held.send(encoder.encode("hold\n"), server.serverAddress);
    assert.equal(await ask(other, server.serverAddress, encoder.encode(TEST_STR)), TEST_STR);
    assert.equal(server.activeRequests, 1);
    release.resolve();
    const [reply] = await within(held.receive(), 10_000, "held reply");
    assert.equal(decoder.decode(reply), "hold\n");
  } finally {
    held.close();
    other.close();
  }
});

Deno.test("handleError() gets a datagram handler's throw with the datagram request, and serving goes on", async () => {
  const errors: { request: DatagramRequest; error: unknown }[] = [];
  class Picky extends EchoDatagram {
    override async handle() {
      if (decoder.decode(this.packet) === "bad\n") throw new RangeError("bad datagram");
      await super.handle();
    }
  }
  class Recording extends UDPServer {
    override handleError(request: DatagramRequest, _address: Deno.NetAddr, error: unknown) {
      errors.push({ request, error });
    }
  }
  await using server = new Recording(loopback, Picky);
  server.serveForever();
  const client = udpClient();
  try {
    await client.send(encoder.encode("bad\n"), server.serverAddress);
    assert.equal(await ask(client, server.serverAddress, encoder.encode(TEST_STR)), TEST_STR);
  } finally {
    client.close();
  }
  assert.equal(errors.length, 1);
  assert.ok(errors[0].error instanceof RangeError);
  assert.equal(decoder.decode(errors[0].request[0]), "bad\n");
  assert.equal(errors[0].request[1], server.socket);
});

Deno.test("serverClose() keeps the socket open for a reply in flight, sends it, then closes", async () => {
  const started = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  class Slow extends EchoDatagram {
    override async handle() {
      started.resolve();
      await release.promise;
      await super.handle();
    }
  }
  const server = new ThreadingUDPServer(loopback, Slow);
  const serving = server.serveForever();
  const client = udpClient();
  try {
    await client.send(encoder.encode(TEST_STR), server.serverAddress);
    await within(started.promise, 10_000, "handler start");
    await server.shutdown();
    await serving;
    let closed = false;
    const closing = server.serverClose().then(() => closed = true);
    await Promise.resolve();
    assert.equal(closed, false); // waiting for the request in flight
    release.resolve();
    const [reply] = await within(client.receive(), 10_000, "reply during close");
    assert.equal(decoder.decode(reply), TEST_STR);
    await closing;
    assert.equal(server.activeRequests, 0);
    // the port is free again: the socket really closed
    const again = new UDPServer({ hostname: "127.0.0.1", port: server.serverAddress.port }, Slow);
    await again.serverClose();
  } finally {
    client.close();
  }
});

Deno.test("UDPServer on a bound port throws AddrInUse naming it, unless allowReuseAddress is set on both", async () => {
  await using first = new UDPServer(loopback, EchoDatagram);
  const port = first.serverAddress.port;
  assert.throws(
    () => new UDPServer({ hostname: "127.0.0.1", port }, EchoDatagram),
    (e: Error) => e instanceof Deno.errors.AddrInUse && e.message.includes(`127.0.0.1:${port}`),
  );
  await using shared = new UDPServer(loopback, EchoDatagram, { allowReuseAddress: true });
  await using second = new UDPServer(
    { hostname: "127.0.0.1", port: shared.serverAddress.port },
    EchoDatagram,
    { allowReuseAddress: true },
  );
  assert.equal(second.serverAddress.port, shared.serverAddress.port);
});

Deno.test("maxPacketSize must be a positive integer", () => {
  for (const bad of [0, -1, 1.5, NaN, "8192"]) {
    assert.throws(
      () => new UDPServer(loopback, EchoDatagram, { maxPacketSize: bad as number }),
      RangeError,
    );
  }
});

Deno.test("UDPServer reports SOCK_DGRAM and AF_INET, and takes the request as Python's [packet, socket]", async () => {
  await using server = new UDPServer(loopback, EchoDatagram);
  assert.equal(server.socketType, "SOCK_DGRAM");
  assert.equal(server.addressFamily, "AF_INET");
  assert.deepEqual(Object.keys(server.serverAddress).sort(), ["hostname", "port", "transport"]);
  assert.equal(server.serverAddress.transport, "udp");
});

Deno.test("UDPServer without --unstable-net says to run with --unstable-net instead of failing on a missing function", async () => {
  const result = await bindInSubprocess(["--allow-net"], "udp", "127.0.0.1");
  assert.equal(result.ok, false);
  assert.equal(result.name, "NotSupported");
  assert.match(result.message!, /run with --unstable-net/);
});

Deno.test("UDPServer without net permission names the --allow-net flag to add", async () => {
  const result = await bindInSubprocess(
    ["--unstable-net", "--allow-net=127.0.0.2"],
    "udp",
    "127.0.0.1",
  );
  assert.equal(result.ok, false);
  assert.equal(result.name, "NotCapable");
  assert.match(result.message!, /--allow-net=127\.0\.0\.1:0/);
});
