/**
 * `instrument()` in this process, under a recording SDK registered before
 * it (as an application that sets up an OpenTelemetry SDK would): each
 * outcome's span and metrics, every transport's attributes, the PROXY
 * protocol's original client, and `instrumentAll()`.
 */
import assert from "node:assert/strict";
import {
  type AnyServer,
  BaseRequestHandler,
  DatagramRequestHandler,
  StreamRequestHandler,
  ThreadingTCPServer,
  UDPServer,
  UnixStreamServer,
} from "../mod.ts";
import { instrument, instrumentAll } from "../otel.ts";
import { observeNewServers } from "../src/_observer.ts";
import { kRequests } from "../src/_symbols.ts";
import { Recorder } from "./_otel_recorder.ts";
import { decoder, encoder, readToEnd } from "./_net.ts";
import { until, within } from "./_wait.ts";

const recorder = new Recorder();
recorder.register();

/** Instruments `server`, failing when telemetry was decided off before the
 * recorder was registered (another test of this process called it first). */
function instrumented<S extends AnyServer>(server: S): S {
  instrument(server);
  assert.notEqual(server[kRequests].observer, null, "instrument() found no SDK");
  return server;
}

class Lines extends StreamRequestHandler<AnyServer> {
  override maxLineLength = 16;
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

class Refusing extends ThreadingTCPServer {
  refuseNext = false;
  override verifyRequest() {
    if (!this.refuseNext) return true;
    this.refuseNext = false;
    return false;
  }
}

const outcome = "socketserver.request.outcome";
const spansOf = (server: AnyServer) =>
  recorder.spans.filter((s) => s.attributes["server.port"] === server.serverAddress.port);

Deno.test("instrument() ends each request's span with its outcome: refused, a line too long, closed by serverClose() at its deadline", async () => {
  const server = instrumented(new Refusing(["127.0.0.1", 0], Lines));
  const serving = server.serveForever();
  const port = server.serverAddress.port;
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port });
  try {
    server.refuseNext = true;
    const refused = await connect();
    assert.equal((await readToEnd(refused)).bytes.length, 0);
    refused.close();
    const long = await connect();
    await long.write(encoder.encode("x".repeat(20)));
    assert.equal((await readToEnd(long)).bytes.length, 0);
    long.close();
    const held = await connect();
    await held.write(encoder.encode("hold\n"));
    const reply = new Uint8Array(5);
    await within(held.read(reply), 10_000, "the held line's echo");
    await until(() => spansOf(server).length === 2, "two spans");
    // in flight: observed at each collection
    assert.equal(
      recorder.observe("socketserver.server.active_requests", { "server.port": port }),
      1,
    );
    await server.shutdown();
    await server.serverClose({ graceMs: 0, lingerMs: 0 });
    held.close();
  } finally {
    await server.shutdown();
    await server.serverClose({ graceMs: 0 });
    await serving;
  }
  const spans = spansOf(server);
  assert.deepEqual(spans.map((s) => [s.attributes[outcome], s.attributes["error.type"]]), [
    ["refused", undefined],
    ["drop", "tooLong"],
    ["drop", "closed"],
  ]);
  assert.deepEqual(spans[0].status, { code: 0 });
  assert.equal(spans[1].status.code, 2);
  assert.match(spans[2].status.message!, /serverClose\(\)/);
  assert.ok(spans.every((s) => s.name === "Lines" && s.kind === 1 && s.ended));
  assert.deepEqual(spans.map((s) => s.events), [[], [], []]);

  const attrs = { "server.port": port };
  assert.equal(recorder.sum("socketserver.server.requests", { ...attrs, [outcome]: "refused" }), 1);
  assert.equal(
    recorder.sum("socketserver.server.drops", { ...attrs, "socketserver.drop.reason": "closed" }),
    1,
  );
  assert.equal(
    recorder.sum("socketserver.server.drops", {
      ...attrs,
      "socketserver.drop.reason": "tooLong",
    }),
    1,
  );
  assert.equal(recorder.observe("socketserver.server.active_requests", attrs), 0);
  assert.equal(
    recorder.instruments.get("socketserver.server.active_requests")?.kind,
    "observableUpDownCounter",
  );
  assert.equal(recorder.count("socketserver.server.request.duration", attrs), 3);
  const io = (direction: string) =>
    recorder.sum("socketserver.server.io", { ...attrs, "network.io.direction": direction });
  assert.deepEqual([io("receive"), io("transmit")], [20 + 5, 5]);
  assert.deepEqual(recorder.instruments.get("socketserver.server.request.duration"), {
    kind: "histogram",
    options: {
      unit: "s",
      description: "How long requests took, from being taken to being closed.",
      advice: {
        explicitBucketBoundaries: [
          0.005,
          0.01,
          0.025,
          0.05,
          0.075,
          0.1,
          0.25,
          0.5,
          0.75,
          1,
          2.5,
          5,
          7.5,
          10,
        ],
      },
    },
  });
});

/** A server whose client address is another than the socket's peer, as
 * after a PROXY protocol header. */
class Proxied extends ThreadingTCPServer {
  override async getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]> {
    const [conn] = await super.getRequest();
    return [conn, { transport: "tcp", hostname: "2001:db8::7", port: 4444 }];
  }
}

Deno.test("instrument() names the original client in client.address when the client address is not the socket's peer, as after a PROXY protocol header", async () => {
  await using server = instrumented(new Proxied(["127.0.0.1", 0], Lines));
  server.serveForever();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
  await conn.write(encoder.encode("hi\n"));
  await conn.closeWrite();
  assert.equal(decoder.decode((await readToEnd(conn)).bytes), "hi\n");
  const peer = conn.localAddr.port;
  conn.close();
  await until(() => spansOf(server).length === 1, "the span");
  assert.deepEqual(spansOf(server)[0].attributes, {
    "network.transport": "tcp",
    "network.type": "ipv4",
    "network.peer.address": "127.0.0.1",
    "network.peer.port": peer,
    "server.address": "127.0.0.1",
    "server.port": server.serverAddress.port,
    "client.address": "2001:db8::7",
    "client.port": 4444,
    [outcome]: "ok",
  });
});

class Echo extends DatagramRequestHandler<AnyServer> {
  override async handle() {
    await this.wfile.write(this.packet);
  }
}

Deno.test("instrument() gives a datagram's span the sender as its peer, and a Unix stream server's the socket's path", async () => {
  await using udp = instrumented(new UDPServer(["127.0.0.1", 0], Echo));
  udp.serveForever();
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  await client.send(encoder.encode("ping"), udp.serverAddress);
  await within(client.receive(), 10_000, "the echo");
  const sender = (client.addr as Deno.NetAddr).port;
  client.close();
  await until(() => spansOf(udp).length === 1, "the datagram's span");
  assert.deepEqual(spansOf(udp)[0].attributes, {
    "network.transport": "udp",
    "network.type": "ipv4",
    "network.peer.address": "127.0.0.1",
    "network.peer.port": sender,
    "server.address": "127.0.0.1",
    "server.port": udp.serverAddress.port,
    [outcome]: "ok",
  });

  const path = `${await Deno.makeTempDir()}/otel.sock`;
  const unix = instrumented(new UnixStreamServer({ path }, BaseRequestHandler));
  const serving = unix.serveForever();
  const conn = await Deno.connect({ transport: "unix", path });
  await readToEnd(conn);
  conn.close();
  const unixSpan = () => recorder.spans.find((s) => s.attributes["server.address"] === path);
  await until(() => unixSpan() !== undefined, "the Unix connection's span");
  await unix.shutdown();
  await unix.serverClose();
  await serving;
  await Deno.remove(path.slice(0, -"/otel.sock".length), { recursive: true });
  assert.deepEqual(unixSpan()!.attributes, {
    "network.transport": "unix",
    "server.address": path,
    [outcome]: "ok",
  });
});

Deno.test("instrumentAll() instruments the servers constructed after it, not those before", async () => {
  await using before = new ThreadingTCPServer(["127.0.0.1", 0], Lines);
  try {
    instrumentAll();
    await using after = new ThreadingTCPServer(["127.0.0.1", 0], Lines);
    assert.equal(before[kRequests].observer, null);
    assert.notEqual(after[kRequests].observer, null);
    const observer = after[kRequests].observer;
    instrument(after); // a second time: the same observer stays
    assert.equal(after[kRequests].observer, observer);
  } finally {
    observeNewServers(null); // the other tests' servers stay unobserved
  }
});

Deno.test("instrument(server, { spans: false }) records the metrics and no span", async () => {
  await using server = new ThreadingTCPServer(["127.0.0.1", 0], Lines);
  instrument(server, { spans: false });
  assert.notEqual(server[kRequests].observer, null, "instrument() found no SDK");
  server.serveForever();
  const port = server.serverAddress.port;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("hi\n"));
  await conn.closeWrite();
  assert.equal(decoder.decode((await readToEnd(conn)).bytes), "hi\n");
  conn.close();
  const requests = () =>
    recorder.sum("socketserver.server.requests", { "server.port": port, [outcome]: "ok" });
  await until(() => requests() === 1, "the request's count");
  assert.deepEqual(spansOf(server), []);
});

Deno.test("instrument() on a server with proxyProtocol: the span names the client its PROXY header gave, and a refused header is a drop 'proxyHeader'", async () => {
  await using server = instrumented(
    new ThreadingTCPServer(["127.0.0.1", 0], Lines, {
      proxyProtocol: "v1",
      trustedProxies: ["127.0.0.1/32"],
    }),
  );
  server.serveForever();
  const port = server.serverAddress.port;
  const proxied = await Deno.connect({ hostname: "127.0.0.1", port });
  await proxied.write(encoder.encode("PROXY TCP4 203.0.113.7 127.0.0.1 4444 80\r\nhi\n"));
  await proxied.closeWrite();
  assert.equal(decoder.decode((await readToEnd(proxied)).bytes), "hi\n");
  const peer = proxied.localAddr.port;
  proxied.close();
  const bad = await Deno.connect({ hostname: "127.0.0.1", port });
  await bad.write(encoder.encode("NOT A PROXY HEADER\r\n"));
  await bad.closeWrite();
  assert.equal((await readToEnd(bad)).bytes.length, 0);
  bad.close();
  await until(() => spansOf(server).length === 2, "two spans");
  const [ok, refused] = spansOf(server);
  assert.deepEqual(ok.attributes, {
    "network.transport": "tcp",
    "network.type": "ipv4",
    "network.peer.address": "127.0.0.1",
    "network.peer.port": peer,
    "server.address": "127.0.0.1",
    "server.port": port,
    "client.address": "203.0.113.7",
    "client.port": 4444,
    [outcome]: "ok",
  });
  assert.equal(refused.attributes["error.type"], "proxyHeader");
  assert.equal(refused.attributes[outcome], "drop");
  assert.equal(server.stats().dropped.proxyHeader, 1);
  assert.equal(server.stats().completed, 1);
});

Deno.test("instrument() adds an ended request to socketserver.server.requests within about a second while another request stays in flight, though no other request ends", async () => {
  const server = instrumented(new ThreadingTCPServer(["127.0.0.1", 0], Lines));
  const serving = server.serveForever();
  const port = server.serverAddress.port;
  const attrs = { "server.port": port, [outcome]: "ok" };
  const held = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    // one in flight for the whole test: a long-lived connection
    await held.write(encoder.encode("hold\n"));
    await within(held.read(new Uint8Array(5)), 10_000, "the held line's echo");
    const short = await Deno.connect({ hostname: "127.0.0.1", port });
    await short.write(encoder.encode("once\n"));
    await short.closeWrite();
    assert.equal(decoder.decode((await readToEnd(short)).bytes), "once\n");
    short.close();
    await until(() => spansOf(server).length === 1, "the short request's span");
    // "at most a second later": 3 s leaves room for a loaded machine
    await until(
      () => recorder.sum("socketserver.server.requests", attrs) === 1,
      "the ended request's count while the held one is in flight",
      3_000,
    );
  } finally {
    held.close();
    await server.shutdown();
    await server.serverClose({ graceMs: 0 });
    await serving;
  }
});
