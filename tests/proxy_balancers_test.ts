/**
 * `readProxyHeader()` behind real balancers: HAProxy (`send-proxy`,
 * `send-proxy-v2`, `proxy-v2-options` with TLS, health checks) and nginx
 * `stream` (`proxy_protocol on`), each started on loopback by the test. A
 * raw `Deno.listen` backend reads the header and answers with what it saw;
 * clients bind to 127.0.0.7 (or connect over ::1) so that the address the
 * header carries cannot be the balancer's own.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { readProxyHeader } from "../src/_proxy_reader.ts";
import type { ProxyHeader, ProxyProtocolMode } from "../src/proxy_protocol.ts";
import {
  HAPROXY,
  installed,
  nginxStreamInstalled,
  type RunningBalancer,
  startHaproxy,
  startNginx,
} from "./_balancers.ts";
import { writeAll } from "./_net.ts";
import { cert, CERT_PATH, KEY_PATH } from "./_tls.ts";
import { within } from "./_wait.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const haproxy = installed(HAPROXY, "haproxy");
const nginx = nginxStreamInstalled();

/** What the backend tells a client: the header it read, and the payload
 * line that followed it. */
interface Seen {
  version: 1 | 2;
  command: string;
  source: ProxyHeader["source"];
  destination: ProxyHeader["destination"];
  alpn?: string;
  authority?: string;
  crc32c?: number;
  uniqueId?: string;
  ssl?: ProxyHeader["tlvs"]["ssl"];
  payload: string;
}

/**
 * A backend on 127.0.0.1 that reads each connection's PROXY header; a
 * health check (`PING`) is answered `PONG`, any other connection gets a JSON
 * line of what the header said and the first payload line. Records every
 * header and every refusal.
 */
class HeaderBackend implements AsyncDisposable {
  readonly listener: Deno.TcpListener;
  readonly headers: ProxyHeader[] = [];
  readonly refused: unknown[] = [];
  #tasks = new Set<Promise<void>>();
  #loop: Promise<void>;
  #waiters = new Set<() => void>();

  constructor(readonly mode: ProxyProtocolMode) {
    this.listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#loop = this.#accept();
  }

  get port(): number {
    return this.listener.addr.port;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return; // closed
        continue; // a connection reset before accept (HAProxy's checks close with RST)
      }
      const task = this.#serve(conn).finally(() => this.#tasks.delete(task));
      this.#tasks.add(task);
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    try {
      const { header, rest } = await readProxyHeader(conn, { mode: this.mode, timeoutMs: 10_000 });
      this.headers.push(header);
      for (const wake of this.#waiters) wake();
      const line = await readLineAfter(conn, rest);
      if (line === "PING") {
        await writeAll(conn, encoder.encode("PONG\r\n"));
        return;
      }
      const { tlvs } = header;
      const seen: Seen = {
        version: header.version,
        command: header.command,
        source: header.source,
        destination: header.destination,
        alpn: tlvs.alpn && decoder.decode(tlvs.alpn),
        authority: tlvs.authority,
        crc32c: tlvs.crc32c,
        uniqueId: tlvs.uniqueId && decoder.decode(tlvs.uniqueId),
        ssl: tlvs.ssl,
        payload: line ?? "",
      };
      await writeAll(conn, encoder.encode(JSON.stringify(seen) + "\n"));
    } catch (error) {
      this.refused.push(error);
    } finally {
      conn.close();
    }
  }

  /** Waits (at most 10 s) for a header that `match` accepts. */
  async waitForHeader(match: (header: ProxyHeader) => boolean): Promise<ProxyHeader> {
    const wait = async () => {
      for (;;) {
        const found = this.headers.find(match);
        if (found) return found;
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.#waiters.delete(wake);
            resolve();
          };
          this.#waiters.add(wake);
        });
      }
    };
    return await within(
      wait(),
      10_000,
      () => `a matching header; got ${JSON.stringify(this.headers)}`,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.listener.close();
    await this.#loop;
    await Promise.all(this.#tasks);
    for (const wake of this.#waiters) wake();
  }
}

/** One line (CRLF or LF ended) from `rest`, then `conn`; null at EOF first. */
async function readLineAfter(conn: Deno.Conn, rest: Uint8Array): Promise<string | null> {
  let text = decoder.decode(rest);
  const buffer = new Uint8Array(1024);
  while (!text.includes("\n")) {
    const n = await conn.read(buffer);
    if (n === null) return text === "" ? null : text;
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text.slice(0, text.indexOf("\n")).replace(/\r$/, "");
}

/** Connects with node:net from `localAddress` (which Deno.connect cannot
 * bind), sends `line`, and returns the reply and the client's own port. */
function askFrom(
  localAddress: string,
  host: string,
  port: number,
  line: string,
): Promise<{ seen: Seen; localPort: number }> {
  const asked = new Promise<{ seen: Seen; localPort: number }>((resolve, reject) => {
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
        resolve({ seen: JSON.parse(reply), localPort });
      } catch {
        reject(new Error(`No JSON reply through port ${port}: ${JSON.stringify(reply)}`));
      }
    });
  });
  return within(asked, 10_000, `a reply through port ${port}`);
}

function logOnFailure(started: RunningBalancer, backend: HeaderBackend) {
  return (error: unknown) => {
    throw new Error(
      `${String(error)}\nbackend refused: ${
        backend.refused.map(String).join("; ")
      }\n${started.balancer.name} log:\n${started.balancer.log}`,
    );
  };
}

Deno.test({
  name:
    "readProxyHeader() behind HAProxy send-proxy reads a v1 line with the client's address 127.0.0.7 and port",
  ignore: !haproxy,
  async fn() {
    await using backend = new HeaderBackend("v1");
    const started = await startHaproxy({
      backend: { hostname: "127.0.0.1", port: backend.port },
      send: "send-proxy",
    });
    await using _haproxy = started.balancer;
    const { seen, localPort } = await askFrom("127.0.0.7", "127.0.0.1", started.ports.ipv4, "hello")
      .catch(logOnFailure(started, backend));
    assert.equal(seen.version, 1);
    assert.deepEqual(seen.source, { transport: "tcp", hostname: "127.0.0.7", port: localPort });
    assert.deepEqual(seen.destination, {
      transport: "tcp",
      hostname: "127.0.0.1",
      port: started.ports.ipv4,
    });
    assert.equal(seen.payload, "hello");
    assert.deepEqual(backend.refused, []);
  },
});

Deno.test({
  name:
    "readProxyHeader() behind HAProxy send-proxy-v2 reads a v2 header with 127.0.0.7, and an IPv6 client on ::1 through the IPv4 backend as TCP6",
  ignore: !haproxy,
  async fn() {
    await using backend = new HeaderBackend("v2");
    const started = await startHaproxy({
      backend: { hostname: "127.0.0.1", port: backend.port },
      send: "send-proxy-v2",
      ipv6: true,
    });
    await using _haproxy = started.balancer;
    const v4 = await askFrom("127.0.0.7", "127.0.0.1", started.ports.ipv4, "over IPv4")
      .catch(logOnFailure(started, backend));
    assert.equal(v4.seen.version, 2);
    assert.equal(v4.seen.command, "PROXY");
    assert.deepEqual(v4.seen.source, {
      transport: "tcp",
      hostname: "127.0.0.7",
      port: v4.localPort,
    });
    assert.equal(v4.seen.payload, "over IPv4");
    const v6 = await askFrom("::1", "::1", started.ports.ipv6!, "over IPv6")
      .catch(logOnFailure(started, backend));
    assert.deepEqual(v6.seen.source, { transport: "tcp", hostname: "::1", port: v6.localPort });
    assert.deepEqual(v6.seen.destination, {
      transport: "tcp",
      hostname: "::1",
      port: started.ports.ipv6,
    });
    assert.equal(v6.seen.payload, "over IPv6");
    assert.deepEqual(backend.refused, []);
  },
});

Deno.test({
  name:
    "readProxyHeader() behind HAProxy: its health checks with send-proxy-v2 arrive as LOCAL without an address; with send-proxy as a line of HAProxy's own addresses, as the spec recommends",
  ignore: !haproxy,
  async fn() {
    for (const send of ["send-proxy-v2", "send-proxy"] as const) {
      await using backend = new HeaderBackend("any");
      const started = await startHaproxy({
        backend: { hostname: "127.0.0.1", port: backend.port },
        send,
        check: { send: "PING\\r\\n", expect: "PONG", interMs: 100 },
      });
      await using _haproxy = started.balancer;
      const check = await backend.waitForHeader(() => true).catch(logOnFailure(started, backend));
      if (send === "send-proxy-v2") {
        assert.equal(check.version, 2);
        assert.equal(check.command, "LOCAL");
        assert.equal(check.source, null);
      } else {
        // v1 has no LOCAL: "it SHOULD build a valid PROXY line which it will
        // fill with a getsockname()/getpeername() pair"
        assert.equal(check.version, 1);
        assert.equal(check.command, "PROXY");
        assert.deepEqual(check.destination, {
          transport: "tcp",
          hostname: "127.0.0.1",
          port: backend.port,
        });
        assert.equal((check.source as Deno.NetAddr).hostname, "127.0.0.1");
      }
      // A second check comes after the first one's verdict; with "fall 1" a
      // failed check would have taken the server down and the client's
      // request below would find none.
      await backend.waitForHeader((header) => header !== check).catch(
        logOnFailure(started, backend),
      );
      const { seen, localPort } = await askFrom("127.0.0.7", "127.0.0.1", started.ports.ipv4, "hi")
        .catch(logOnFailure(started, backend));
      assert.deepEqual(seen.source, { transport: "tcp", hostname: "127.0.0.7", port: localPort });
      assert.deepEqual(backend.refused, []);
    }
  },
});

Deno.test({
  name:
    "readProxyHeader() behind HAProxy's TLS frontend reads the v2 TLVs: ALPN, authority, SSL version and cipher, unique ID, a valid CRC32C",
  ignore: !haproxy,
  async fn() {
    await using backend = new HeaderBackend("v2");
    const started = await startHaproxy({
      backend: { hostname: "127.0.0.1", port: backend.port },
      send: "send-proxy-v2-ssl",
      v2Options: ["crc32c", "authority", "unique-id", "ssl-cipher", "cert-sig", "cert-key"],
      tls: { certFile: CERT_PATH, keyFile: KEY_PATH },
    });
    await using _haproxy = started.balancer;
    const ask = async () => {
      const tcp = await Deno.connect({ hostname: "127.0.0.1", port: started.ports.tls! });
      await using conn = await Deno.startTls(tcp, {
        hostname: "localhost",
        caCerts: [cert],
        alpnProtocols: ["h2"],
      });
      await conn.handshake();
      await writeAll(conn, encoder.encode("over TLS\n"));
      const reply = await new Response(conn.readable).text();
      return { seen: JSON.parse(reply) as Seen, localPort: tcp.localAddr.port };
    };
    const { seen, localPort } = await within(ask(), 10_000, "a reply over TLS")
      .catch(logOnFailure(started, backend));
    assert.deepEqual(seen.source, { transport: "tcp", hostname: "127.0.0.1", port: localPort });
    assert.equal(seen.alpn, "h2");
    assert.equal(seen.authority, "localhost");
    assert.equal(typeof seen.crc32c, "number");
    assert.match(seen.uniqueId ?? "", /^7F000001:/);
    assert.equal(seen.ssl?.client, 1); // PP2_CLIENT_SSL, no client certificate
    assert.match(seen.ssl?.version ?? "", /^TLSv1\.[23]$/);
    assert.ok(seen.ssl?.cipher, "a cipher");
    assert.equal(seen.ssl?.keyAlg, "EC256"); // tests/tls's P-256 key
    assert.equal(seen.ssl?.sigAlg, "ecdsa-with-SHA256");
    assert.equal(seen.payload, "over TLS");
    assert.deepEqual(backend.refused, []);
  },
});

Deno.test({
  name:
    "readProxyHeader() behind nginx stream proxy_protocol on reads a v1 line with 127.0.0.7, and TCP6 ::1 for an IPv6 client",
  ignore: !nginx,
  async fn() {
    await using backend = new HeaderBackend("v1");
    const started = await startNginx({
      backend: { hostname: "127.0.0.1", port: backend.port },
      ipv6: true,
    });
    await using _nginx = started.balancer;
    const v4 = await askFrom("127.0.0.7", "127.0.0.1", started.ports.ipv4, "via nginx")
      .catch(logOnFailure(started, backend));
    assert.equal(v4.seen.version, 1);
    assert.deepEqual(v4.seen.source, {
      transport: "tcp",
      hostname: "127.0.0.7",
      port: v4.localPort,
    });
    assert.deepEqual(v4.seen.destination, {
      transport: "tcp",
      hostname: "127.0.0.1",
      port: started.ports.ipv4,
    });
    assert.equal(v4.seen.payload, "via nginx");
    const v6 = await askFrom("::1", "::1", started.ports.ipv6!, "via nginx over IPv6")
      .catch(logOnFailure(started, backend));
    assert.deepEqual(v6.seen.source, { transport: "tcp", hostname: "::1", port: v6.localPort });
    assert.equal(v6.seen.payload, "via nginx over IPv6");
    assert.deepEqual(backend.refused, []);
  },
});

Deno.test({
  name:
    "readProxyHeader() in mode v2 refuses nginx's v1 line as a wrong signature, and the client is cut off",
  ignore: !nginx,
  async fn() {
    await using backend = new HeaderBackend("v2");
    const started = await startNginx({ backend: { hostname: "127.0.0.1", port: backend.port } });
    await using _nginx = started.balancer;
    const reply = await askFrom("127.0.0.7", "127.0.0.1", started.ports.ipv4, "hello").catch((e) =>
      e
    );
    assert.ok(reply instanceof Error, "no reply");
    assert.equal(backend.refused.length, 1);
    assert.equal((backend.refused[0] as { reason?: string }).reason, "signature");
  },
});
