/**
 * CPython's test_socketserver scenario for every server class: a server whose
 * handler echoes one line, a client that sends "hello world\n" three times in
 * a row and checks each echo, then the server shut down and closed — once
 * with CPython's own clients (tests/python_client.py), once with Deno's.
 */

import assert from "node:assert/strict";
import {
  type AnyServer,
  TCPServer,
  ThreadingTCPServer,
  ThreadingTLSServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
  TLSServer,
  UDPServer,
  UnixDatagramServer,
  UnixStreamServer,
} from "../mod.ts";
import { withTempDir } from "./_files.ts";
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
import { cert, CERT_PATH, key } from "./_tls.ts";

/** How to make each server, and how each kind of client reaches it. */
interface Case {
  name: string;
  make(dir: string): AnyServer;
  /** tests/python_client.py's arguments. */
  python(server: AnyServer, dir: string): string[];
  /** The Deno client's three rounds. */
  deno(server: AnyServer, dir: string): Promise<string[]>;
}

const loopback = { hostname: "127.0.0.1", port: 0 };

function tcpCase(name: string, Server: typeof TCPServer): Case {
  return {
    name,
    make: () => new Server(loopback, EchoLine),
    python: (s) => ["tcp", "127.0.0.1", String((s as TCPServer).serverAddress.port)],
    deno: (s) => streamRounds(() => Deno.connect((s as TCPServer).serverAddress)),
  };
}

function tlsCase(name: string, Server: typeof TLSServer): Case {
  return {
    name,
    make: () => new Server(loopback, EchoLine, { cert, key }),
    python: (s) => ["tls", "127.0.0.1", String((s as TLSServer).serverAddress.port), CERT_PATH],
    deno: (s) =>
      streamRounds(() =>
        Deno.connectTls({
          hostname: "localhost",
          port: (s as TLSServer).serverAddress.port,
          caCerts: [cert],
        })
      ),
  };
}

function udpCase(name: string, Server: typeof UDPServer): Case {
  return {
    name,
    make: () => new Server(loopback, EchoDatagram),
    python: (s) => ["udp", "127.0.0.1", String((s as UDPServer).serverAddress.port)],
    deno: async (s) => {
      const client = Deno.listenDatagram({ transport: "udp", ...loopback });
      try {
        return await datagramRounds(client, (s as UDPServer).serverAddress);
      } finally {
        client.close();
      }
    },
  };
}

function unixCase(name: string, Server: typeof UnixStreamServer): Case {
  return {
    name,
    make: (dir) => new Server({ path: `${dir}/server.sock` }, EchoLine),
    python: (s) => ["unix", (s as UnixStreamServer).serverAddress.path],
    deno: (s) => streamRounds(() => Deno.connect((s as UnixStreamServer).serverAddress)),
  };
}

function unixDatagramCase(name: string, Server: typeof UnixDatagramServer): Case {
  return {
    name,
    make: (dir) => new Server({ path: `${dir}/server.sock` }, EchoDatagram),
    python: (
      s,
      dir,
    ) => ["unixdgram", (s as UnixDatagramServer).serverAddress.path, `${dir}/py.sock`],
    deno: async (s, dir) => {
      const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/deno.sock` });
      try {
        return await datagramRounds(client, (s as UnixDatagramServer).serverAddress);
      } finally {
        client.close();
      }
    },
  };
}

const cases: Case[] = [
  tcpCase("TCPServer", TCPServer),
  tcpCase("ThreadingTCPServer", ThreadingTCPServer),
  tlsCase("TLSServer", TLSServer),
  tlsCase("ThreadingTLSServer", ThreadingTLSServer),
  udpCase("UDPServer", UDPServer),
  udpCase("ThreadingUDPServer", ThreadingUDPServer),
  unixCase("UnixStreamServer", UnixStreamServer),
  unixCase("ThreadingUnixStreamServer", ThreadingUnixStreamServer),
  unixDatagramCase("UnixDatagramServer", UnixDatagramServer),
  unixDatagramCase("ThreadingUnixDatagramServer", ThreadingUnixDatagramServer),
];

/** test_socketserver's run_server: serve, run the client, shut down, close. */
async function runServer(c: Case, client: (server: AnyServer, dir: string) => Promise<void>) {
  await withTempDir(async (dir) => {
    const server = c.make(dir);
    const serving = server.serveForever();
    try {
      await client(server, dir);
    } finally {
      await server.shutdown();
      await serving;
      await server.serverClose();
    }
    assert.equal(server.serving, false);
    assert.equal(server.closed, true);
    assert.equal(server.activeRequests, 0);
  });
}

for (const c of cases) {
  Deno.test({
    name:
      `${c.name} echoes "hello world\\n" to CPython's client three times, then shuts down and closes${
        HAS_PYTHON ? "" : ` ${NO_PYTHON}`
      }`,
    ignore: !HAS_PYTHON,
    fn: () =>
      runServer(c, async (server, dir) => {
        const ran = await pythonClient(...c.python(server, dir));
        assert.equal(ran.code, 0, `python3 failed:\n${ran.stdout}\n${ran.stderr}`);
        assert.equal(ran.stdout, "ok\nok\nok\n");
      }),
  });

  Deno.test(`${c.name} echoes "hello world\\n" to a Deno client three times, then shuts down and closes`, () =>
    runServer(c, async (server, dir) => {
      assert.deepEqual(await c.deno(server, dir), [TEST_STR, TEST_STR, TEST_STR]);
    }));
}
