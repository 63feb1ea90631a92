/**
 * TLSServer: failed handshakes (plain text, an untrusting client, a silent
 * one) are drops (handleDrop) and the next client is served; ALPN; certificate
 * errors; permissions.
 */

import assert from "node:assert/strict";
import { ThreadingTLSServer, TLSServer } from "../mod.ts";
import { encoder, readThroughNewline } from "./_net.ts";
import { bindInSubprocess } from "./_process.ts";
import { EchoLine, streamRounds, TEST_STR } from "./_python.ts";
import { cert, key } from "./_tls.ts";
import { within } from "./_wait.ts";

const loopback = { hostname: "127.0.0.1", port: 0 };

/** A TLSServer that records the errors handleError() gets and lets a test
 * await the next one. */
function recording<C extends typeof TLSServer>(Base: C) {
  return class Recording extends (Base as typeof TLSServer) {
    errors: unknown[] = [];
    drops: unknown[] = [];
    #next = Promise.withResolvers<unknown>();
    #nextDrop = Promise.withResolvers<unknown>();
    #connection = Promise.withResolvers<void>();
    override handleError(_request: Deno.TlsConn, _address: Deno.NetAddr, error: unknown) {
      this.errors.push(error);
      this.#next.resolve(error);
      this.#next = Promise.withResolvers<unknown>();
    }
    override handleDrop(_request: Deno.TlsConn, _address: Deno.NetAddr, error: unknown) {
      this.drops.push(error);
      this.#nextDrop.resolve(error);
      this.#nextDrop = Promise.withResolvers<unknown>();
    }
    override async finishRequest(request: Deno.TlsConn, address: Deno.NetAddr) {
      this.#connection.resolve();
      await super.finishRequest(request, address);
    }
    /** Resolves once a first request reached finishRequest(). */
    firstConnection(): Promise<void> {
      return this.#connection.promise;
    }
    nextError(): Promise<unknown> {
      return within(this.#next.promise, 10_000, "handleError()");
    }
    nextDrop(): Promise<unknown> {
      return within(this.#nextDrop.promise, 10_000, "handleDrop()");
    }
  };
}

/** Reads `conn` to EOF: the server sends at most a TLS alert record, then
 * closes. */
async function assertClosedByServer(conn: Deno.Conn): Promise<void> {
  const bytes: number[] = [];
  const buf = new Uint8Array(256);
  for (let n; (n = await within(conn.read(buf), 10_000, "EOF")) !== null;) {
    bytes.push(...buf.subarray(0, n));
    assert.ok(bytes.length < 256, "the server sent more than an alert");
  }
  if (bytes.length > 0) assert.equal(bytes[0], 0x15, "a TLS alert record");
}

function goodClient(port: number): Promise<Deno.TlsConn> {
  return Deno.connectTls({ hostname: "localhost", port, caCerts: [cert] });
}

for (
  const [name, Server] of [["TLSServer", TLSServer], [
    "ThreadingTLSServer",
    ThreadingTLSServer,
  ]] as const
) {
  Deno.test(`${name}: a plain-text client fails the handshake, is a drop (handleDrop, not handleError), and the next TLS client is served`, async () => {
    await using server = new (recording(Server))(loopback, EchoLine, { cert, key });
    server.serveForever();
    const failed = server.nextDrop();
    const plain = await Deno.connect(server.serverAddress);
    try {
      await plain.write(encoder.encode(TEST_STR));
      const error = await failed;
      assert.ok(error instanceof Error);
      assert.match(error.message, /^TLS handshake with "127\.0\.0\.1:\d+" failed: /);
      await assertClosedByServer(plain);
    } finally {
      plain.close();
    }
    assert.deepEqual(await streamRounds(() => goodClient(server.serverAddress.port)), [
      TEST_STR,
      TEST_STR,
      TEST_STR,
    ]);
    assert.equal(server.drops.length, 1);
    assert.deepEqual(server.errors, []);
    assert.equal(server.serving, true);
  });

  Deno.test(`${name}: a client that does not trust the certificate fails, is a drop (handleDrop), and the next client is served`, async () => {
    await using server = new (recording(Server))(loopback, EchoLine, { cert, key });
    server.serveForever();
    const failed = server.nextDrop();
    // no caCerts: the client rejects the self-signed certificate
    const untrusting = Deno.connectTls({ hostname: "localhost", port: server.serverAddress.port });
    await assert.rejects(
      untrusting.then((conn) => conn.handshake().finally(() => conn.close())),
      /certificate/i,
    );
    const error = await failed;
    assert.match((error as Error).message, /TLS handshake with .* failed/);
    assert.deepEqual(server.errors, []);
    assert.deepEqual(await streamRounds(() => goodClient(server.serverAddress.port)), [
      TEST_STR,
      TEST_STR,
      TEST_STR,
    ]);
  });
}

for (
  const [name, Server] of [["TLSServer", TLSServer], [
    "ThreadingTLSServer",
    ThreadingTLSServer,
  ]] as const
) {
  Deno.test(`${name}: a client silent past handshakeTimeout is dropped (handleDrop, TimedOut), and the next client is served`, async () => {
    const server = new (recording(Server))(loopback, EchoLine, {
      cert,
      key,
      handshakeTimeout: 100,
    });
    server.serveForever();
    const timedOut = server.nextDrop();
    const silent = await Deno.connect(server.serverAddress);
    try {
      const served = streamRounds(() => goodClient(server.serverAddress.port));
      const error = await timedOut;
      assert.ok(error instanceof Deno.errors.TimedOut);
      assert.match(error.message, /did not complete within 100 ms: raise "handshakeTimeout"/);
      assert.deepEqual(await served, [TEST_STR, TEST_STR, TEST_STR]);
      assert.deepEqual(server.errors, []); // a timeout is a drop, not an error
      // No EOF check on the silent client: Deno 2.9 finishes a TLS handshake
      // before it releases the TCP socket, so that socket stays open until
      // the client sends or disconnects (the request is over; see the README).
      await server.shutdown();
      await within(server.serverClose(), 10_000, "serverClose() after a timed-out handshake");
    } finally {
      silent.close();
      await server.shutdown();
      await server.serverClose({ graceMs: 0 }); // when the test failed: force what hangs
    }
  });
}

/** A serving ThreadingTLSServer without handshake timeout, and a client
 * connected to it that never starts its handshake. */
async function withSilentClient() {
  const server = new (recording(ThreadingTLSServer))(loopback, EchoLine, {
    cert,
    key,
    handshakeTimeout: null,
  });
  server.serveForever();
  return { server, silent: await Deno.connect(server.serverAddress) };
}

Deno.test("ThreadingTLSServer serves other clients while a silent client's handshake is pending", async () => {
  const { server, silent } = await withSilentClient();
  try {
    assert.deepEqual(await streamRounds(() => goodClient(server.serverAddress.port)), [
      TEST_STR,
      TEST_STR,
      TEST_STR,
    ]);
    assert.deepEqual(server.errors, []); // the silent handshake has no timeout: still pending
  } finally {
    silent.close();
    await server.shutdown();
    await server.serverClose({ graceMs: 0 }); // closes the silent client's request
  }
});

Deno.test("serverClose({ graceMs }) ends a connection still in its handshake at the deadline", async () => {
  const { server, silent } = await withSilentClient();
  try {
    await within(server.firstConnection(), 10_000, "the silent connection");
    await server.shutdown();
    // the lingering close must not wait on closeWrite(), which waits for the handshake
    await within(server.serverClose({ graceMs: 0, lingerMs: 200 }), 10_000, "serverClose()");
    assert.equal(server.activeRequests, 0);
  } finally {
    silent.close();
    await server.shutdown();
    await server.serverClose({ graceMs: 0, lingerMs: 0 });
  }
});

Deno.test("handshakeTimeout defaults to 60 s and accepts null; a negative one is refused", async () => {
  assert.equal(TLSServer.handshakeTimeout, 60_000);
  await using server = new TLSServer(loopback, EchoLine, { cert, key, handshakeTimeout: null });
  assert.equal(server.handshakeTimeout, null);
  assert.throws(() => server.handshakeTimeout = -1, RangeError);
  assert.throws(
    () => new TLSServer(loopback, EchoLine, { cert, key, handshakeTimeout: -5 }),
    RangeError,
  );
});

Deno.test("request.handshake() shows the handler the ALPN protocol agreed on", async () => {
  const agreed: (string | null)[] = [];
  class Alpn extends EchoLine {
    override async handle() {
      agreed.push((await (this.request as Deno.TlsConn).handshake()).alpnProtocol);
      await super.handle();
    }
  }
  await using server = new TLSServer(loopback, Alpn, {
    cert,
    key,
    alpnProtocols: ["x-echo", "http/1.1"],
  });
  assert.deepEqual(server.alpnProtocols, ["x-echo", "http/1.1"]);
  server.serveForever();
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: server.serverAddress.port,
    caCerts: [cert],
    alpnProtocols: ["x-echo"],
  });
  try {
    assert.equal((await conn.handshake()).alpnProtocol, "x-echo");
    await conn.write(encoder.encode(TEST_STR));
    assert.equal(await readThroughNewline(conn), TEST_STR);
  } finally {
    conn.close();
  }
  assert.deepEqual(agreed, ["x-echo"]);
});

Deno.test("TLSServer without cert or key throws a TypeError that says what to pass", () => {
  for (const options of [{ key }, { cert }, { cert: "", key }, undefined]) {
    assert.throws(
      () => new TLSServer(loopback, EchoLine, options as { cert: string; key: string }),
      (e: Error) => e instanceof TypeError && e.message.includes("PEM text"),
    );
  }
  assert.throws(
    () =>
      new TLSServer(loopback, EchoLine, { cert, key, alpnProtocols: "h2" as unknown as string[] }),
    TypeError,
  );
});

Deno.test("TLSServer with a certificate or key that cannot be used throws InvalidData saying so", () => {
  const swapped = { cert: key, key: cert };
  for (const options of [{ cert: "garbage", key }, { cert, key: "garbage" }, swapped]) {
    assert.throws(
      () => new TLSServer(loopback, EchoLine, options),
      (e: Error) =>
        e instanceof Deno.errors.InvalidData &&
        e.message.startsWith("The TLS certificate or key cannot be used"),
    );
  }
});

Deno.test("TLSServer reports a bound TCP address and SOCK_STREAM", async () => {
  await using server = new TLSServer(loopback, EchoLine, { cert, key });
  assert.equal(server.serverAddress.transport, "tcp");
  assert.equal(server.serverAddress.hostname, "127.0.0.1");
  assert.ok(server.serverAddress.port > 0);
  assert.equal(server.socketType, "SOCK_STREAM");
  assert.equal(server.addressFamily, "AF_INET");
});

Deno.test("TLSServer without net permission names the --allow-net flag to add", async () => {
  const result = await bindInSubprocess(
    [`--allow-read=${new URL("./tls/", import.meta.url).pathname}`],
    "tls",
    "127.0.0.1",
  );
  assert.equal(result.ok, false);
  assert.equal(result.name, "NotCapable");
  assert.match(result.message!, /run with --allow-net=127\.0\.0\.1:0/);
});
