/**
 * The library's servers behind real balancers, each started on loopback by
 * the test (tests/_balancers.ts): HAProxy `send-proxy` and `send-proxy-v2`,
 * nginx `stream` with `proxy_protocol on`, HAProxy terminating TLS in front
 * of a plain `TCPServer`. The handler answers with the `clientAddress` it
 * was given; clients bind to 127.0.0.7 (or connect over ::1 to an IPv4
 * backend), so the balancer's own address cannot pass for theirs. HAProxy's
 * health checks arrive as `LOCAL` headers and are told apart from requests.
 */
import assert from "node:assert/strict";
import net from "node:net";
import {
  type ProxyHeaderError,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
} from "../mod.ts";
import {
  HAPROXY,
  installed,
  nginxStreamInstalled,
  type RunningBalancer,
  startHaproxy,
  startNginx,
} from "./_balancers.ts";
import { encoder, writeAll } from "./_net.ts";
import { cert, CERT_PATH, KEY_PATH } from "./_tls.ts";
import { until, within } from "./_wait.ts";

const haproxy = installed(HAPROXY, "haproxy");
const nginx = nginxStreamInstalled();

/** What the handler tells the client: the address it was given, the
 * proxy's, the header's version and a few TLVs, and the line it read. */
interface Said {
  client: Deno.NetAddr;
  proxy: Deno.NetAddr;
  version: number;
  command: string;
  alpn?: string;
  authority?: string;
  ssl?: { client: number; version?: string };
  line: string;
}

/** Answers the first line with what it knows, as JSON; a health check
 * (`PING`) gets `PONG` and is counted apart. */
class Tell extends StreamRequestHandler<BackendServer> {
  override async handle() {
    const line = new TextDecoder().decode(await this.rfile.readline()).trimEnd();
    const proxy = this.proxy!;
    if (line === "PING") {
      this.server.checks.push({ client: this.clientAddress, command: proxy.header.command });
      await this.wfile.write("PONG\r\n");
      return;
    }
    this.server.requests++;
    const { tlvs } = proxy.header;
    const said: Said = {
      client: this.clientAddress,
      proxy: proxy.proxyAddress as Deno.NetAddr,
      version: proxy.header.version,
      command: proxy.header.command,
      alpn: tlvs.alpn && new TextDecoder().decode(tlvs.alpn),
      authority: tlvs.authority,
      ssl: tlvs.ssl,
      line,
    };
    await this.wfile.write(JSON.stringify(said) + "\n");
  }
}

class BackendServer extends ThreadingTCPServer {
  requests = 0;
  checks: { client: Deno.NetAddr; command: string }[] = [];
  drops: unknown[] = [];
  override handleDrop(_conn: Deno.TcpConn, _client: Deno.NetAddr, error: unknown) {
    this.drops.push(error);
  }
}

function backend(mode: "v1" | "v2" | "any"): BackendServer {
  const server = new BackendServer(["127.0.0.1", 0], Tell, {
    proxyProtocol: mode,
    trustedProxies: ["127.0.0.1", "::1"],
  });
  server.serveForever();
  return server;
}

/** Connects with node:net from `localAddress` (Deno.connect cannot bind
 * one), sends `line`, returns the reply and the client's own port. */
function askFrom(
  localAddress: string,
  host: string,
  port: number,
  line: string,
): Promise<{ said: Said; localPort: number }> {
  const asked = new Promise<{ said: Said; localPort: number }>((resolve, reject) => {
    const socket = net.connect({ host, port, localAddress });
    let reply = "";
    let localPort = 0;
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      localPort = socket.localPort!;
      socket.write(line + "\n");
    });
    socket.on("data", (chunk) => reply += chunk);
    socket.on("error", reject);
    socket.on("close", () => {
      try {
        resolve({ said: JSON.parse(reply), localPort });
      } catch {
        reject(new Error(`No JSON reply through port ${port}: ${JSON.stringify(reply)}`));
      }
    });
  });
  return within(asked, 10_000, `a reply through port ${port}`);
}

function withLog(started: RunningBalancer, server: BackendServer) {
  return (error: unknown) => {
    throw new Error(
      `${String(error)}\ndrops: ${
        server.drops.map((d) => (d as ProxyHeaderError).message).join("; ")
      }\n${started.balancer.name} log:\n${started.balancer.log}`,
    );
  };
}

for (const send of ["send-proxy", "send-proxy-v2"] as const) {
  Deno.test({
    name:
      `ThreadingTCPServer({ proxyProtocol }) behind HAProxy ${send}: clientAddress is the client's 127.0.0.7 and port, and an IPv6 client on ::1 through the IPv4 backend is ::1`,
    ignore: !haproxy,
    async fn() {
      await using server = backend(send === "send-proxy" ? "v1" : "v2");
      const started = await startHaproxy({
        backend: { hostname: "127.0.0.1", port: server.serverAddress.port },
        send,
        ipv6: true,
      });
      await using _haproxy = started.balancer;
      const v4 = await askFrom("127.0.0.7", "127.0.0.1", started.ports.ipv4, "hello")
        .catch(withLog(started, server));
      assert.deepEqual(v4.said.client, {
        transport: "tcp",
        hostname: "127.0.0.7",
        port: v4.localPort,
      });
      assert.equal(v4.said.proxy.hostname, "127.0.0.1");
      assert.equal(v4.said.version, send === "send-proxy" ? 1 : 2);
      assert.equal(v4.said.line, "hello");
      const v6 = await askFrom("::1", "::1", started.ports.ipv6!, "over IPv6")
        .catch(withLog(started, server));
      assert.deepEqual(v6.said.client, { transport: "tcp", hostname: "::1", port: v6.localPort });
      assert.equal(v6.said.proxy.hostname, "127.0.0.1");
      assert.equal(server.requests, 2);
      assert.deepEqual(server.drops, []);
    },
  });
}

Deno.test({
  name:
    'ThreadingTCPServer({ proxyProtocol: "v2" }) behind HAProxy with health checks: each check is a LOCAL header with the proxy\'s own address, answered and not counted as a request',
  ignore: !haproxy,
  async fn() {
    await using server = backend("v2");
    const started = await startHaproxy({
      backend: { hostname: "127.0.0.1", port: server.serverAddress.port },
      send: "send-proxy-v2",
      check: { send: "PING\\r\\n", expect: "PONG", interMs: 100 },
    });
    await using _haproxy = started.balancer;
    const asked: { said: Said; localPort: number }[] = [];
    for (let i = 0; i < 3; i++) {
      asked.push(
        await askFrom("127.0.0.7", "127.0.0.1", started.ports.ipv4, `request ${i}`).catch(
          withLog(started, server),
        ),
      );
    }
    await until(() => server.checks.length >= 2, "two health checks", 10_000);
    assert.equal(server.requests, 3);
    for (const { said, localPort } of asked) {
      assert.equal(said.command, "PROXY");
      assert.deepEqual(said.client, { transport: "tcp", hostname: "127.0.0.7", port: localPort });
    }
    for (const check of server.checks) {
      assert.equal(check.command, "LOCAL");
      assert.equal(check.client.hostname, "127.0.0.1"); // the proxy's own address
    }
    assert.doesNotMatch(started.balancer.log, /is DOWN/);
    assert.deepEqual(server.drops, []);
  },
});

Deno.test({
  name:
    'TCPServer({ proxyProtocol: "v2" }) behind HAProxy terminating TLS (send-proxy-v2-ssl): the client\'s address, ALPN, SNI and TLS version reach a plain TCP server',
  ignore: !haproxy,
  async fn() {
    let said: Said | null = null;
    class Once extends StreamRequestHandler<TCPServer> {
      override async handle() {
        const line = new TextDecoder().decode(await this.rfile.readline()).trimEnd();
        const { header, proxyAddress } = this.proxy!;
        said = {
          client: this.clientAddress,
          proxy: proxyAddress as Deno.NetAddr,
          version: header.version,
          command: header.command,
          alpn: header.tlvs.alpn && new TextDecoder().decode(header.tlvs.alpn),
          authority: header.tlvs.authority,
          ssl: header.tlvs.ssl,
          line,
        };
        await this.wfile.write("ok\n");
      }
    }
    await using server = new TCPServer(["127.0.0.1", 0], Once, {
      proxyProtocol: "v2",
      trustedProxies: ["127.0.0.1"],
    });
    server.serveForever();
    const started = await startHaproxy({
      backend: { hostname: "127.0.0.1", port: server.serverAddress.port },
      send: "send-proxy-v2-ssl",
      v2Options: ["authority", "crc32c"],
      tls: { certFile: CERT_PATH, keyFile: KEY_PATH },
    });
    await using _haproxy = started.balancer;
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: started.ports.tls! });
    const localPort = tcp.localAddr.port;
    const conn = await Deno.startTls(tcp, {
      hostname: "localhost",
      caCerts: [cert],
      alpnProtocols: ["h2"],
    });
    try {
      await writeAll(conn, encoder.encode("over TLS\n"));
      const reply = await within(new Response(conn.readable).text(), 10_000, "the reply");
      assert.equal(reply, "ok\n");
    } catch (error) {
      conn.close();
      throw new Error(`${error}\nHAProxy log:\n${started.balancer.log}`);
    }
    const seen = said as Said | null;
    assert.deepEqual(seen?.client, { transport: "tcp", hostname: "127.0.0.1", port: localPort });
    assert.equal(seen?.alpn, "h2");
    assert.equal(seen?.authority, "localhost");
    assert.equal(seen?.ssl?.client, 1);
    assert.match(seen?.ssl?.version ?? "", /^TLSv1\.[23]$/);
    assert.equal(seen?.line, "over TLS");
  },
});

Deno.test({
  name:
    'ThreadingTCPServer({ proxyProtocol: "v1" }) behind nginx stream proxy_protocol on: clientAddress is 127.0.0.7, and ::1 for an IPv6 client',
  ignore: !nginx,
  async fn() {
    await using server = backend("v1");
    const started = await startNginx({
      backend: { hostname: "127.0.0.1", port: server.serverAddress.port },
      ipv6: true,
    });
    await using _nginx = started.balancer;
    const v4 = await askFrom("127.0.0.7", "127.0.0.1", started.ports.ipv4, "via nginx")
      .catch(withLog(started, server));
    assert.deepEqual(v4.said.client, {
      transport: "tcp",
      hostname: "127.0.0.7",
      port: v4.localPort,
    });
    assert.equal(v4.said.version, 1);
    const v6 = await askFrom("::1", "::1", started.ports.ipv6!, "via nginx over IPv6")
      .catch(withLog(started, server));
    assert.deepEqual(v6.said.client, { transport: "tcp", hostname: "::1", port: v6.localPort });
    assert.deepEqual(server.drops, []);
  },
});

Deno.test({
  name:
    'ThreadingTCPServer({ proxyProtocol: "v2" }) behind nginx (which sends v1) drops every connection as a wrong signature before any handler runs',
  ignore: !nginx,
  async fn() {
    await using server = backend("v2");
    const started = await startNginx({
      backend: { hostname: "127.0.0.1", port: server.serverAddress.port },
    });
    await using _nginx = started.balancer;
    const reply = await askFrom("127.0.0.7", "127.0.0.1", started.ports.ipv4, "hello").catch((
      error,
    ) => error);
    assert.ok(reply instanceof Error, "no reply");
    assert.equal(server.requests, 0);
    assert.equal(server.drops.length, 1);
    assert.equal((server.drops[0] as ProxyHeaderError).reason, "signature");
  },
});
