/**
 * `withServer()` serves on a real free loopback port or a temporary Unix
 * path for the length of its callback, and leaves nothing behind: the
 * server closed, the port free, the directory gone (Deno's sanitizers are
 * on for every test here).
 */
import assert from "node:assert/strict";
import {
  DatagramRequestHandler,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUnixStreamServer,
  UDPServer,
} from "../mod.ts";
import { withServer } from "../testing.ts";
import { pathExists } from "./_files.ts";
import { decoder, encoder } from "./_net.ts";
import { within } from "./_wait.ts";

class Echo extends StreamRequestHandler {
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

async function exchange(conn: Deno.Conn, text: string): Promise<string> {
  try {
    await conn.write(encoder.encode(text));
    await conn.closeWrite();
    return await new Response(conn.readable).text();
  } finally {
    try {
      conn.close();
    } catch {
      // the readable closed it
    }
  }
}

Deno.test("withServer() serves a ThreadingTCPServer on 127.0.0.1 and a free port for the callback, returns its value, and frees the port after", async () => {
  let port = 0;
  let server: ThreadingTCPServer | undefined;
  const reply = await withServer(ThreadingTCPServer, Echo, async (s, address) => {
    server = s;
    port = address.port;
    assert.equal(address.hostname, "127.0.0.1");
    assert.notEqual(address.port, 0);
    assert.equal(s.serving, true);
    return await exchange(await Deno.connect(address), "hi\n");
  });
  assert.equal(reply, "hi\n");
  assert.equal(server!.closed, true);
  assert.equal(server!.serving, false);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("withServer() on a Unix server binds in a new temporary directory and removes it after", async () => {
  let path = "";
  await withServer(ThreadingUnixStreamServer, Echo, async (_server, address) => {
    path = address.path;
    assert.ok(await pathExists(path), "the socket file is there while serving");
    assert.equal(await exchange(await Deno.connect(address), "unix\n"), "unix\n");
  });
  assert.equal(await pathExists(path), false);
  assert.equal(
    await pathExists(path.slice(0, path.lastIndexOf("/"))),
    false,
    "the directory is gone",
  );
});

Deno.test("withServer() closes the server and removes the directory when the callback throws, and rethrows", async () => {
  let path = "";
  let server: ThreadingUnixStreamServer | undefined;
  await assert.rejects(
    withServer(ThreadingUnixStreamServer, Echo, (s, address) => {
      server = s;
      path = address.path;
      throw new RangeError("the test failed");
    }),
    RangeError,
  );
  assert.equal(server!.closed, true);
  assert.equal(await pathExists(path), false);
});

Deno.test("withServer() waits for a request still running after the callback, as serverClose() does", async () => {
  const finished: string[] = [];
  class Slow extends StreamRequestHandler {
    override async handle() {
      await this.rfile.readline();
      await this.wfile.write("late\n");
      finished.push("handler");
    }
  }
  const connected = Promise.withResolvers<Deno.TcpConn>();
  const closing = withServer(ThreadingTCPServer, Slow, async (_server, address) => {
    const conn = await Deno.connect(address);
    await conn.write(encoder.encode("go")); // no newline yet: the handler waits
    connected.resolve(conn);
  });
  const conn = await connected.promise;
  // the callback has returned and the server is closing: let the request end
  await conn.write(encoder.encode("\n"));
  const reply = new Uint8Array(16);
  const n = await conn.read(reply);
  await within(closing, 10_000, "withServer() to close");
  conn.close();
  assert.equal(decoder.decode(reply.subarray(0, n!)), "late\n");
  assert.deepEqual(finished, ["handler"]);
});

Deno.test("withServer() takes the server's options and a UDP server alike", async () => {
  class Upper extends DatagramRequestHandler {
    override async handle() {
      await this.wfile.write(decoder.decode(this.packet).toUpperCase());
    }
  }
  await withServer(
    UDPServer,
    Upper,
    { serverOptions: { maxPacketSize: 3 } },
    async (server, address) => {
      assert.equal(server.maxPacketSize, 3);
      const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      try {
        await client.send(encoder.encode("hello"), address);
        assert.equal(decoder.decode((await client.receive())[0]), "HEL");
      } finally {
        client.close();
      }
    },
  );
  await withServer(
    TCPServer,
    Echo,
    { address: { hostname: "::1", port: 0 } },
    (_server, address) => {
      assert.equal(address.hostname, "::1");
    },
  );
});

Deno.test("withServer() with graceMs closes a request still running after the callback once the grace is over", async () => {
  const ended = Promise.withResolvers<void>();
  class Hang extends StreamRequestHandler {
    override async handle() {
      try {
        await this.rfile.readline(); // the client never sends
      } finally {
        ended.resolve();
      }
    }
  }
  let conn: Deno.TcpConn | undefined;
  await within(
    withServer(ThreadingTCPServer, Hang, { graceMs: 20 }, async (_server, address) => {
      conn = await Deno.connect(address);
    }),
    10_000,
    "withServer() to close the hanging request after its grace",
  );
  await ended.promise; // the server closed the connection under the handler
  assert.equal(await conn!.read(new Uint8Array(1)), null);
  conn!.close();
});
