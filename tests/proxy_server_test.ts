/**
 * The PROXY protocol in the servers (`proxyProtocol`, `trustedProxies`,
 * `proxyHeaderTimeout`): the header is taken off before `verifyRequest()`,
 * `clientAddress` is the client it names, the handler reads the payload only
 * and finds the header in `this.proxy`; an untrusted peer is closed before
 * any read; a bad, slow or missing header is a drop before any handler
 * runs, and on a ThreadingMixIn server it holds up nobody else. Real
 * sockets; the proxies are these tests' own clients (the balancers' part is
 * tests/proxy_interop_test.ts).
 */
import assert from "node:assert/strict";
import {
  AccessList,
  BaseRequestHandler,
  isRoutineDrop,
  ProxyHeaderError,
  type ProxyInfo,
  proxyInfo,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUnixStreamServer,
  TLSServer,
} from "../mod.ts";
import { localhostCert } from "../testing.ts";
import { decoder, encoder, readToEnd, writeAll } from "./_net.ts";
import { errorName, RecordingServer } from "./_servers.ts";
import { until, within } from "./_wait.ts";

const V1 = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n";
const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A version 2 header: PROXY over TCP/IPv4 from 192.0.2.9:4242 to
 * 198.51.100.1:443 with an authority TLV, or LOCAL with no address. */
function v2(command: "PROXY" | "LOCAL", authority = "example.com"): Uint8Array {
  if (command === "LOCAL") return Uint8Array.from([...SIGNATURE, 0x20, 0x00, 0, 0]);
  const tlv = [0x02, 0, authority.length, ...encoder.encode(authority)];
  const body = [192, 0, 2, 9, 198, 51, 100, 1, 0x10, 0x92, 0x01, 0xbb, ...tlv];
  return Uint8Array.from([...SIGNATURE, 0x21, 0x11, 0, body.length, ...body]);
}

function join(...parts: (string | Uint8Array)[]): Uint8Array {
  const arrays = parts.map((p) => typeof p === "string" ? encoder.encode(p) : p);
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) out.set(a, (at += a.length) - a.length);
  return out;
}

/** What a handler saw: its client, its proxy info, its first line. */
interface Seen {
  client: Deno.Addr;
  proxy: ProxyInfo | null;
  line: string;
}

/** Answers the first line with `client-host:port line`, recording what it saw. */
class Report extends StreamRequestHandler<ProxiedServer> {
  override async handle() {
    const line = decoder.decode(await this.rfile.readline());
    this.server.seen.push({ client: this.clientAddress, proxy: this.proxy, line });
    const { hostname, port } = this.clientAddress;
    await this.wfile.write(`${hostname}:${port} ${line}`);
  }
}

class ProxiedServer extends RecordingServer {
  seen: Seen[] = [];
  verified: Deno.NetAddr[] = [];
  override verifyRequest(_conn: Deno.TcpConn, client: Deno.NetAddr) {
    this.verified.push(client);
    return true;
  }
}

/** Connects, writes `bytes` in one write, half-closes, reads to EOF. */
async function send(port: number, bytes: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, bytes);
    await conn.closeWrite();
    const { bytes: reply } = await readToEnd(conn);
    return decoder.decode(reply);
  } finally {
    conn.close();
  }
}

const trusted = { trustedProxies: ["127.0.0.0/8"] };

Deno.test('ThreadingTCPServer({ proxyProtocol: "v1" }): clientAddress and verifyRequest() see the header\'s client, and the handler reads only the payload that came with the header', async () => {
  await using server = new ProxiedServer(["127.0.0.1", 0], Report, {
    proxyProtocol: "v1",
    ...trusted,
  });
  server.serveForever();
  // header and payload in one segment: the header's read takes the payload too
  assert.equal(
    await send(server.serverAddress.port, join(V1, "hello\n")),
    "192.0.2.7:56324 hello\n",
  );
  assert.deepEqual(server.verified, [{ transport: "tcp", hostname: "192.0.2.7", port: 56324 }]);
  const { proxy } = server.seen[0];
  assert.equal(proxy?.header.version, 1);
  assert.deepEqual(proxy?.header.destination, {
    transport: "tcp",
    hostname: "198.51.100.1",
    port: 443,
  });
  assert.equal((proxy?.proxyAddress as Deno.NetAddr).hostname, "127.0.0.1");
  assert.equal(server.errors.length + server.drops.length, 0);
});

Deno.test('ThreadingTCPServer({ proxyProtocol: "v2" }): the TLVs are on this.proxy; a LOCAL header (a health check) keeps the proxy\'s own address', async () => {
  await using server = new ProxiedServer(["127.0.0.1", 0], Report, {
    proxyProtocol: "v2",
    ...trusted,
  });
  server.serveForever();
  const { port } = server.serverAddress;
  assert.equal(await send(port, join(v2("PROXY"), "hi\n")), "192.0.2.9:4242 hi\n");
  assert.equal(server.seen[0].proxy?.header.tlvs.authority, "example.com");
  const check = await send(port, join(v2("LOCAL"), "PING\n"));
  const local = server.seen[1];
  assert.equal(local.proxy?.header.command, "LOCAL");
  assert.deepEqual(local.client, local.proxy?.proxyAddress);
  assert.match(check, /^127\.0\.0\.1:\d+ PING\n$/);
});

Deno.test("BaseRequestHandler: this.request.read() and this.request.readable return the payload read with the header first, then the rest", async () => {
  class Raw extends BaseRequestHandler<ThreadingTCPServer> {
    override async handle() {
      const first = new Uint8Array(3);
      const n = await this.request.read(first); // part of what came with the header
      // not to EOF: a Deno.Conn's readable closes the connection there
      const reader = this.request.readable.getReader();
      let rest = "";
      while (rest.length < 6) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += decoder.decode(value);
      }
      reader.releaseLock();
      await writeAll(
        this.request,
        encoder.encode(`${decoder.decode(first.subarray(0, n!))}|${rest}`),
      );
    }
  }
  await using server = new ThreadingTCPServer(["127.0.0.1", 0], Raw, {
    proxyProtocol: "any",
    ...trusted,
  });
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  await writeAll(conn, join(V1, "abcdef"));
  await writeAll(conn, encoder.encode("ghi"));
  await conn.closeWrite();
  assert.equal(decoder.decode((await readToEnd(conn)).bytes), "abc|defghi");
  conn.close();
});

Deno.test('StreamServer({ proxyProtocol }): a connection from outside trustedProxies is dropped before any read, as a ProxyHeaderError "untrusted" that isRoutineDrop() accepts', async () => {
  let handled = 0;
  class Count extends StreamRequestHandler<RecordingServer> {
    override handle() {
      handled++;
    }
  }
  await using server = new RecordingServer(["127.0.0.1", 0], Count, {
    proxyProtocol: "v1",
    trustedProxies: new AccessList({ allow: ["10.0.0.0/8"] }),
    proxyHeaderTimeout: 60_000, // a read would wait this long for a silent client
  });
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress); // says nothing
  await server.dropped(1, 10_000);
  const { bytes } = await readToEnd(conn);
  conn.close();
  const [drop] = server.drops;
  assert.ok(drop instanceof ProxyHeaderError, errorName(drop));
  assert.equal(drop.reason, "untrusted");
  assert.match(drop.message, /^Connection from "127\.0\.0\.1:\d+" refused before any read/);
  assert.equal(isRoutineDrop(drop), true);
  assert.equal(bytes.length, 0);
  assert.equal(handled, 0);
  assert.equal(server.errors.length, 0);
});

Deno.test("StreamServer({ proxyProtocol }): a missing, malformed, truncated or too long header is a drop with its reason, before any handler runs", async () => {
  let handled = 0;
  class Count extends StreamRequestHandler<RecordingServer> {
    override handle() {
      handled++;
    }
  }
  await using server = new RecordingServer(["127.0.0.1", 0], Count, {
    proxyProtocol: "any",
    ...trusted,
  });
  server.serveForever();
  const { port } = server.serverAddress;
  const cases: [string | Uint8Array, string][] = [
    ["GET / HTTP/1.1\r\n\r\n", "signature"],
    ["PROXY TCP4 192.0.2.7 198.51.100.1 56324 99999\r\n", "malformed"],
    ["PROXY TCP4 192.0.2.7", "truncated"],
    [`PROXY TCP4 ${"1".repeat(120)}`, "too-long"],
    [v2("PROXY").subarray(0, 20), "truncated"],
  ];
  for (const [i, [bytes, reason]] of cases.entries()) {
    assert.equal(await send(port, typeof bytes === "string" ? encoder.encode(bytes) : bytes), "");
    await server.dropped(i + 1);
    const drop = server.drops[i];
    assert.ok(drop instanceof ProxyHeaderError, errorName(drop));
    assert.equal(drop.reason, reason, drop.message);
  }
  assert.equal(handled, 0);
  assert.equal(server.errors.length, 0);
});

Deno.test("ThreadingTCPServer({ proxyProtocol }): a header that comes slowly holds up nobody else, and one that never completes is dropped at proxyHeaderTimeout", async () => {
  await using server = new ProxiedServer(["127.0.0.1", 0], Report, {
    proxyProtocol: "v1",
    ...trusted,
    proxyHeaderTimeout: 300,
  });
  server.serveForever();
  const { port } = server.serverAddress;
  const slow = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(slow, encoder.encode("PROXY TCP4 192.0.2.7 "));
  // served while the first header is still incomplete
  assert.equal(await send(port, join(V1, "quick\n")), "192.0.2.7:56324 quick\n");
  assert.equal(server.drops.length, 0);
  await server.dropped(1);
  const [drop] = server.drops;
  assert.ok(drop instanceof ProxyHeaderError && drop.reason === "timeout", errorName(drop));
  assert.equal((await readToEnd(slow)).bytes.length, 0);
  slow.close();
});

Deno.test("TCPServer({ proxyProtocol }) and handleRequest(): the header is read before the request is handled, one connection at a time", async () => {
  await using server = new TCPServer(["127.0.0.1", 0], Report as never, {
    proxyProtocol: "any",
    ...trusted,
  }) as TCPServer & { seen: Seen[] };
  server.seen = [];
  const reply = send(server.serverAddress.port, join(v2("PROXY"), "one\n"));
  await server.handleRequest();
  assert.equal(await reply, "192.0.2.9:4242 one\n");
});

Deno.test('ThreadingUnixStreamServer({ proxyProtocol, trustedProxies: ["unix:"] }): clientAddress is the TCP client the proxy relays', async () => {
  const dir = await Deno.makeTempDir();
  try {
    const seen: unknown[] = [];
    class Where extends StreamRequestHandler<ThreadingUnixStreamServer> {
      override async handle() {
        seen.push(this.clientAddress);
        await this.wfile.write(await this.rfile.readline());
      }
    }
    await using server = new ThreadingUnixStreamServer({ path: `${dir}/app.sock` }, Where, {
      proxyProtocol: "v1",
      trustedProxies: ["unix:"],
    });
    server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    await writeAll(conn, join(V1, "over unix\n"));
    await conn.closeWrite();
    assert.equal(decoder.decode((await readToEnd(conn)).bytes), "over unix\n");
    conn.close();
    assert.deepEqual(seen, [{ transport: "tcp", hostname: "192.0.2.7", port: 56324 }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('ThreadingUnixStreamServer({ proxyProtocol }) with an AccessList of networks: a Unix peer is not trusted (a plain list without "unix:" throws: tests/attack16_trusted_test.ts)', async () => {
  const dir = await Deno.makeTempDir();
  try {
    class Quiet extends StreamRequestHandler {}
    const drops: unknown[] = [];
    const dropped = Promise.withResolvers<void>();
    class Server extends ThreadingUnixStreamServer {
      override handleDrop(_r: Deno.UnixConn, _a: unknown, error: unknown) {
        drops.push(error);
        dropped.resolve();
      }
    }
    await using server = new Server({ path: `${dir}/app.sock` }, Quiet as never, {
      proxyProtocol: "v1",
      trustedProxies: new AccessList({ allow: ["127.0.0.1"] }),
    });
    server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    await within(dropped.promise, 10_000, "the drop");
    conn.close();
    assert.equal((drops[0] as ProxyHeaderError).reason, "untrusted");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StreamServer({ proxyProtocol }) without trustedProxies throws before binding, saying what to set; an empty list too", () => {
  for (
    const options of [{ proxyProtocol: "v2" as const }, {
      proxyProtocol: "v2" as const,
      trustedProxies: [],
    }]
  ) {
    assert.throws(
      () => new TCPServer(["127.0.0.1", 0], BaseRequestHandler, options),
      (error: Error) => /trustedProxies/.test(error.message),
    );
  }
  class Behind extends TCPServer {
    static override proxyProtocol = "any" as const;
  }
  assert.throws(() => new Behind(["127.0.0.1", 0], BaseRequestHandler), /no "trustedProxies"/);
  assert.throws(
    () => new TCPServer(["127.0.0.1", 0], BaseRequestHandler, { proxyProtocol: "v3" as never }),
    /"proxyProtocol" must be "v1", "v2", "any" or null, got "v3"/,
  );
  assert.throws(
    () => new TCPServer(["127.0.0.1", 0], BaseRequestHandler, { proxyHeaderTimeout: 0.5 }),
    /write 500 for 0.5 s/,
  );
});

Deno.test("TLSServer({ proxyProtocol }) throws NotSupported: the balancer terminates TLS and sends the header to a TCPServer", () => {
  assert.throws(
    () =>
      new TLSServer(["127.0.0.1", 0], BaseRequestHandler, {
        ...localhostCert,
        proxyProtocol: "v2",
        ...trusted,
      }),
    (error: Error) =>
      error instanceof Deno.errors.NotSupported && /terminate TLS/.test(error.message),
  );
});

Deno.test("StreamServer.proxyProtocol set after construction applies to the next connection; an invalid change throws and keeps the old value", async () => {
  await using server = new ProxiedServer(["127.0.0.1", 0], Report);
  server.serveForever();
  const { port } = server.serverAddress;
  // off: the header is the payload, and nothing is on this.proxy
  const off = await send(port, encoder.encode(V1));
  assert.equal(off, `127.0.0.1:${(server.seen[0].client as Deno.NetAddr).port} ${V1}`);
  assert.equal(server.seen[0].proxy, null);
  assert.throws(() => server.proxyProtocol = "v1", /no "trustedProxies"/);
  assert.equal(server.proxyProtocol, null);
  server.trustedProxies = ["127.0.0.1"];
  server.proxyProtocol = "v1";
  assert.equal(await send(port, join(V1, "now\n")), "192.0.2.7:56324 now\n");
});

Deno.test("proxyInfo() and this.proxy are null on a server without proxyProtocol", async () => {
  const infos: unknown[] = [];
  class Look extends BaseRequestHandler<ThreadingTCPServer> {
    override handle() {
      infos.push(this.proxy, proxyInfo(this.request));
    }
  }
  await using server = new ThreadingTCPServer(["127.0.0.1", 0], Look);
  server.serveForever();
  await send(server.serverAddress.port, encoder.encode("x"));
  assert.deepEqual(infos, [null, null]);
  assert.equal(proxyInfo(null), null);
});

Deno.test("serverClose() waits for a header still being read, which proxyHeaderTimeout still ends", async () => {
  const server = new ProxiedServer(["127.0.0.1", 0], Report, {
    proxyProtocol: "v1",
    ...trusted,
    proxyHeaderTimeout: 200,
  });
  const serving = server.serveForever();
  const slow = await Deno.connect(server.serverAddress);
  await writeAll(slow, encoder.encode("PROXY TCP4 "));
  await until(() => server.activeRequests === 1, "the connection to be taken");
  await server.shutdown();
  await within(server.serverClose(), 10_000, "serverClose() to return");
  await serving;
  const [drop] = server.drops;
  assert.ok(drop instanceof ProxyHeaderError && drop.reason === "timeout", errorName(drop));
  assert.match(drop.message, /^No complete PROXY header within 200 ms/);
  slow.close();
});

Deno.test("ThreadingTCPServer({ proxyProtocol: \"v2\" }): a header whose client is a Unix socket keeps the proxy's address as clientAddress, and this.proxy has the path; handleError() sees the header's client", async () => {
  const path = (text: string) => {
    const field = new Uint8Array(108);
    field.set(encoder.encode(text));
    return [...field];
  };
  // AF_UNIX stream (0x31): 108 bytes of source path, 108 of destination path
  const unixHeader = Uint8Array.from([
    ...SIGNATURE,
    0x21,
    0x31,
    0,
    216,
    ...path("/run/client.sock"),
    ...path("/run/haproxy.sock"),
  ]);
  class Fails extends Report {
    override async handle() {
      await super.handle();
      throw new Error("after the reply");
    }
  }
  const addresses: Deno.NetAddr[] = [];
  class Server extends ProxiedServer {
    override handleError(request: Deno.TcpConn, address: Deno.NetAddr, error: unknown) {
      addresses.push(address);
      super.handleError(request, address, error);
    }
  }
  await using server = new Server(["127.0.0.1", 0], Fails, { proxyProtocol: "v2", ...trusted });
  server.serveForever();
  const port = server.serverAddress.port;
  const reply = await send(port, join(unixHeader, "hello\n"));
  assert.match(reply, /^127\.0\.0\.1:\d+ hello\n$/, "the proxy's own address");
  assert.equal((server.seen[0].client as Deno.NetAddr).hostname, "127.0.0.1");
  assert.deepEqual(server.seen[0].proxy?.header.source, {
    transport: "unix",
    path: "/run/client.sock",
  });
  // a TCP client's header: handleError() gets the header's client
  assert.equal(await send(port, join(v2("PROXY"), "again\n")), "192.0.2.9:4242 again\n");
  await until(() => addresses.length === 2, "handleError() twice");
  assert.equal(addresses[0].hostname, "127.0.0.1");
  assert.deepEqual(addresses[1], { transport: "tcp", hostname: "192.0.2.9", port: 4242 });
});
