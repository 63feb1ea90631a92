/**
 * Server addresses as Python spells them, beside the object form: the tuple
 * `(host, port)` as `[host, port]`, `""` for every interface, and a Unix
 * socket's path as a plain string.
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  DatagramRequestHandler,
  type DatagramServer,
  StreamRequestHandler,
  type StreamServer,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUDPServer,
  TLSServer,
  UDPServer,
  UnixDatagramServer,
  UnixStreamServer,
} from "../mod.ts";
import { decoder, encoder, readAllText } from "./_net.ts";
import { cert, key } from "./_tls.ts";

class Hello extends StreamRequestHandler<StreamServer> {
  override async handle() {
    await this.wfile.write("hello\n");
  }
}

async function hello(address: Deno.ConnectOptions | Deno.UnixConnectOptions): Promise<string> {
  const conn = await Deno.connect(address as Deno.ConnectOptions);
  try {
    return await readAllText(conn);
  } finally {
    conn.close();
  }
}

Deno.test('TCPServer(["127.0.0.1", 0]) takes the (host, port) tuple of Python\'s TCPServer((HOST, PORT))', async () => {
  await using server = new TCPServer(["127.0.0.1", 0], Hello);
  assert.equal(server.serverAddress.hostname, "127.0.0.1");
  assert.notEqual(server.serverAddress.port, 0);
  server.serveForever();
  assert.equal(await hello(server.serverAddress), "hello\n");
});

Deno.test('TCPServer(["", 0]) listens on every interface, as Python\'s HOST = "" does', async () => {
  await using server = new ThreadingTCPServer(["", 0], Hello);
  assert.equal(server.serverAddress.hostname, "0.0.0.0");
  server.serveForever();
  assert.equal(await hello({ hostname: "127.0.0.1", port: server.serverAddress.port }), "hello\n");
});

Deno.test('TCPServer({ hostname: "", port: 0 }) listens on every interface too', async () => {
  await using server = new TCPServer({ hostname: "", port: 0 }, BaseRequestHandler);
  assert.equal(server.serverAddress.hostname, "0.0.0.0");
});

Deno.test('TCPServer(["localhost", 0]) resolves the name, as Python does', async () => {
  await using server = new TCPServer(["localhost", 0], Hello);
  server.serveForever();
  assert.equal(
    await hello({ hostname: server.serverAddress.hostname, port: server.serverAddress.port }),
    "hello\n",
  );
});

Deno.test("TCPServer([host, port]) refuses a malformed tuple address before any socket opens, naming the shape", () => {
  for (const bad of [["localhost"], ["localhost", "80"], [80, "localhost"], ["a", 1, 2]]) {
    assert.throws(
      () => new TCPServer(bad as unknown as [string, number], BaseRequestHandler),
      (error: Error) => error instanceof TypeError && /\["localhost", 9999\]/.test(error.message),
      JSON.stringify(bad),
    );
  }
  assert.throws(() => new TCPServer(["localhost", 70000], BaseRequestHandler), RangeError);
});

class Echo extends DatagramRequestHandler<DatagramServer> {
  override async handle() {
    await this.wfile.write(this.packet);
  }
}

async function ping(port: number): Promise<string> {
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client.send(encoder.encode("ping"), { transport: "udp", hostname: "127.0.0.1", port });
    const [reply] = await client.receive();
    return decoder.decode(reply);
  } finally {
    client.close();
  }
}

Deno.test('UDPServer(["127.0.0.1", 0]) and UDPServer(["", 0]) take Python\'s addresses', async () => {
  {
    await using server = new UDPServer(["127.0.0.1", 0], Echo);
    server.serveForever();
    assert.equal(await ping(server.serverAddress.port), "ping");
  }
  await using server = new ThreadingUDPServer(["", 0], Echo);
  assert.equal(server.serverAddress.hostname, "0.0.0.0");
  server.serveForever();
  assert.equal(await ping(server.serverAddress.port), "ping");
});

Deno.test('TLSServer(["127.0.0.1", 0], ...) takes the tuple address too', async () => {
  await using server = new TLSServer(["127.0.0.1", 0], Hello, { cert, key });
  server.serveForever();
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: server.serverAddress.port,
    caCerts: [cert],
  });
  assert.equal(await readAllText(conn), "hello\n");
  conn.close();
});

Deno.test("UnixStreamServer(path) and UnixDatagramServer(path) take the path as a string, as Python's do", async () => {
  const dir = await Deno.makeTempDir();
  try {
    {
      await using server = new UnixStreamServer(`${dir}/stream.sock`, Hello);
      assert.equal(server.serverAddress.path, `${dir}/stream.sock`);
      server.serveForever();
      assert.equal(await hello({ transport: "unix", path: `${dir}/stream.sock` }), "hello\n");
    }
    await using server = new UnixDatagramServer(`${dir}/dgram.sock`, Echo);
    server.serveForever();
    const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
    try {
      await client.send(encoder.encode("ping"), server.serverAddress);
      const [reply] = await client.receive();
      assert.equal(decoder.decode(reply), "ping");
    } finally {
      client.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
