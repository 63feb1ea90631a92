/**
 * IPv6: TCP, UDP and TLS servers on ::1 and ::, with serverAddress and the
 * clients' addresses reported correctly.
 */

import assert from "node:assert/strict";
import { TCPServer, ThreadingUDPServer, TLSServer, UDPServer } from "../mod.ts";
import { bindInSubprocess } from "./_process.ts";
import {
  datagramRounds,
  EchoDatagram,
  EchoLine,
  HAS_PYTHON,
  NO_PYTHON,
  pythonClient,
  streamRounds,
  TEST_STR,
} from "./_python.ts";
import { cert, key } from "./_tls.ts";

const THREE = [TEST_STR, TEST_STR, TEST_STR];

/** Records each client's address as the handler sees it. */
function recordingStream(seen: string[]) {
  return class extends EchoLine {
    override async handle() {
      seen.push((this.clientAddress as Deno.NetAddr).hostname);
      await super.handle();
    }
  };
}

function recordingDatagram(seen: string[]) {
  return class extends EchoDatagram {
    override async handle() {
      seen.push((this.clientAddress as Deno.NetAddr).hostname);
      await super.handle();
    }
  };
}

/** Checks what an IPv6 server reports about itself. */
function assertBoundTo(
  server: { serverAddress: Deno.NetAddr; addressFamily: string },
  hostname: string,
  transport: "tcp" | "udp",
): void {
  assert.equal(server.serverAddress.hostname, hostname);
  assert.equal(server.serverAddress.transport, transport);
  assert.ok(server.serverAddress.port > 0);
  assert.equal(server.addressFamily, "AF_INET6");
}

Deno.test("TCPServer on ::1 reports ::1, AF_INET6 and a real port, and serves an IPv6 client", async () => {
  const seen: string[] = [];
  await using server = new TCPServer({ hostname: "::1", port: 0 }, recordingStream(seen));
  assertBoundTo(server, "::1", "tcp");
  server.serveForever();
  assert.deepEqual(await streamRounds(() => Deno.connect(server.serverAddress)), THREE);
  assert.deepEqual(seen, ["::1", "::1", "::1"]);
});

Deno.test("TCPServer on :: reports ::, and serves IPv6 and IPv4 clients (IPv4 ones as ::ffff:a.b.c.d)", async () => {
  const seen: string[] = [];
  await using server = new TCPServer({ hostname: "::", port: 0 }, recordingStream(seen));
  assertBoundTo(server, "::", "tcp");
  server.serveForever();
  const port = server.serverAddress.port;
  assert.deepEqual(await streamRounds(() => Deno.connect({ hostname: "::1", port })), THREE);
  assert.deepEqual(await streamRounds(() => Deno.connect({ hostname: "127.0.0.1", port })), THREE);
  assert.deepEqual(seen, [
    "::1",
    "::1",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:127.0.0.1",
  ]);
});

Deno.test('TCPServer and UDPServer: the bracketed form "[::1]" names the same address and is reported as ::1', async () => {
  await using tcp = new TCPServer({ hostname: "[::1]", port: 0 }, EchoLine);
  assert.equal(tcp.serverAddress.hostname, "::1");
  await using udp = new UDPServer({ hostname: "[::1]", port: 0 }, EchoDatagram);
  assert.equal(udp.serverAddress.hostname, "::1");
});

for (
  const [name, Server] of [["UDPServer", UDPServer], [
    "ThreadingUDPServer",
    ThreadingUDPServer,
  ]] as const
) {
  Deno.test(`${name} on ::1 reports ::1 and AF_INET6, and echoes to an IPv6 client`, async () => {
    const seen: string[] = [];
    await using server = new Server({ hostname: "::1", port: 0 }, recordingDatagram(seen));
    assertBoundTo(server, "::1", "udp");
    server.serveForever();
    const client = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
    try {
      assert.deepEqual(await datagramRounds(client, server.serverAddress), THREE);
    } finally {
      client.close();
    }
    assert.deepEqual(seen, ["::1", "::1", "::1"]);
  });
}

Deno.test("UDPServer on :: reports ::, and echoes to IPv6 and IPv4 clients", async () => {
  const seen: string[] = [];
  await using server = new UDPServer({ hostname: "::", port: 0 }, recordingDatagram(seen));
  assertBoundTo(server, "::", "udp");
  server.serveForever();
  const port = server.serverAddress.port;
  for (const hostname of ["::1", "127.0.0.1"]) {
    const client = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    try {
      assert.deepEqual(
        await datagramRounds(client, { transport: "udp", hostname, port }),
        THREE,
      );
    } finally {
      client.close();
    }
  }
  assert.deepEqual(seen, [
    "::1",
    "::1",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:127.0.0.1",
  ]);
});

Deno.test("TLSServer on ::1 serves a client that checks the certificate's ::1 address", async () => {
  await using server = new TLSServer({ hostname: "::1", port: 0 }, EchoLine, { cert, key });
  assertBoundTo(server, "::1", "tcp");
  server.serveForever();
  const port = server.serverAddress.port;
  assert.deepEqual(
    await streamRounds(() => Deno.connectTls({ hostname: "::1", port, caCerts: [cert] })),
    THREE,
  );
});

for (const kind of ["tcp", "udp"]) {
  Deno.test({
    name: `TCPServer and UDPServer on ::1: CPython's ${kind} client reaches the server three times${
      HAS_PYTHON ? "" : ` ${NO_PYTHON}`
    }`,
    ignore: !HAS_PYTHON,
    fn: async () => {
      const server = kind === "tcp"
        ? new TCPServer({ hostname: "::1", port: 0 }, EchoLine)
        : new UDPServer({ hostname: "::1", port: 0 }, EchoDatagram);
      await using _closing = server;
      server.serveForever();
      const ran = await pythonClient(kind, "::1", String(server.serverAddress.port));
      assert.equal(ran.code, 0, `python3 failed:\n${ran.stdout}\n${ran.stderr}`);
      assert.equal(ran.stdout, "ok\nok\nok\n");
    },
  });
}

Deno.test("TCPServer on ::1 without net permission for it names --allow-net=[::1]:0", async () => {
  const result = await bindInSubprocess(["--allow-net=127.0.0.1"], "tcp", "::1");
  assert.equal(result.ok, false);
  assert.equal(result.name, "NotCapable");
  assert.match(result.message!, /--allow-net=\[::1\]:0/);
});
