/**
 * Durations at the edges, as a stranger writes them: `Infinity` (what
 * `graceMs` defaults to, so what a JavaScript user writes for "never") and
 * values past 2^31 - 1 ms (24.8 days). The checks accept both, but Deno's
 * timers, like Node's, fire after 1 ms for any delay that does not fit in a
 * 32-bit signed integer: "wait for ever" became "wait 1 ms".
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  StreamRequestHandler,
  type StreamServer,
  TCPServer,
  TLSServer,
} from "../mod.ts";
import { readLineWithin } from "./_net.ts";
import { errorName, RecordingServer } from "./_servers.ts";
import { until, within } from "./_wait.ts";

const encoder = new TextEncoder();
const LOCAL = { hostname: "127.0.0.1", port: 0 };
/** The first delay a timer cannot take: it fires after 1 ms instead. */
const PAST_TIMERS = 2 ** 31;
const cert = await Deno.readTextFile(new URL("./tls/localhost.crt", import.meta.url));
const key = await Deno.readTextFile(new URL("./tls/localhost.key", import.meta.url));
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const [label, value] of [["Infinity", Infinity], ["2 ** 31", PAST_TIMERS]] as const) {
  Deno.test(`StreamRequestHandler.timeout = ${label} lets a read wait for a client silent for 100 ms, as null does (it timed out after 1 ms)`, async () => {
    class Patient extends StreamRequestHandler<StreamServer> {
      override timeout = value;
      override async handle() {
        await this.wfile.write(await this.rfile.readline());
      }
    }
    await using server = new RecordingServer(LOCAL, Patient);
    server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    try {
      await pause(100); // the client thinks before it speaks
      await conn.write(encoder.encode("late\n"));
      assert.equal(await readLineWithin(conn, 5_000), "late", `drops: ${server.drops.map(String)}`);
      assert.deepEqual(server.drops.map(errorName), []);
    } finally {
      conn.close();
    }
  });
}

Deno.test("StreamRequestHandler.idleTimeout of 30 days (2.592e9 ms) does not drop a client that waits 100 ms between requests", async () => {
  class Monthly extends StreamRequestHandler<StreamServer> {
    override idleTimeout = 30 * 24 * 3600 * 1000;
    override async handle() {
      for await (const line of this.rfile) await this.wfile.write(line);
    }
  }
  await using server = new RecordingServer(LOCAL, Monthly);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await conn.write(encoder.encode("one\n"));
    assert.equal(await readLineWithin(conn, 5_000), "one");
    await pause(100);
    await conn.write(encoder.encode("two\n"));
    assert.equal(await readLineWithin(conn, 5_000), "two", `drops: ${server.drops.map(String)}`);
  } finally {
    conn.close();
  }
});

Deno.test("serveForever(Infinity) never runs serviceActions() while idle (it ran every millisecond)", async () => {
  let ticks = 0;
  class Ticking extends TCPServer {
    override serviceActions() {
      ticks++;
    }
  }
  await using server = new Ticking(LOCAL, BaseRequestHandler);
  const serving = server.serveForever(Infinity);
  await pause(200);
  await server.shutdown();
  await within(serving, 5_000, "serveForever() to return");
  // a pollInterval of Infinity means "never while idle": with a 1 ms timer
  // this was about 100 to 200
  assert.ok(ticks <= 2, `serviceActions() ran ${ticks} times in 200 ms of idling`);
});

Deno.test("handleRequest() with a server timeout of 2 ** 31 ms waits for a client that connects 50 ms later, instead of calling handleTimeout() at once", async () => {
  let timedOut = false;
  let handled = false;
  class Patient extends TCPServer {
    override handleTimeout() {
      timedOut = true;
    }
  }
  class Mark extends BaseRequestHandler {
    override handle() {
      handled = true;
    }
  }
  await using server = new Patient(LOCAL, Mark, { timeout: PAST_TIMERS });
  const handling = server.handleRequest();
  await pause(50);
  const conn = await Deno.connect(server.serverAddress);
  try {
    await within(handling, 5_000, "handleRequest() to return");
    assert.equal(timedOut, false, "handleTimeout() was called though the timeout is 24.8 days");
    assert.equal(handled, true);
  } finally {
    conn.close();
  }
});

Deno.test("serverClose({ graceMs: 2 ** 31 }) lets a request that takes 200 ms finish and answer (it cut it off after 1 ms)", async () => {
  const release = Promise.withResolvers<void>();
  class Slow extends StreamRequestHandler<StreamServer> {
    override async handle() {
      await this.rfile.readline();
      await release.promise;
      await this.wfile.write("done\n");
    }
  }
  const server = new RecordingServer(LOCAL, Slow);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await conn.write(encoder.encode("go\n"));
    const reply = readLineWithin(conn, 5_000);
    await until(() => server.activeRequests > 0, "the request");
    await server.shutdown();
    const closing = server.serverClose({ graceMs: PAST_TIMERS, lingerMs: 1000 });
    setTimeout(() => release.resolve(), 200);
    assert.equal(await reply, "done", `drops: ${server.drops.map(String)}`);
    await within(closing, 5_000, "serverClose() to return");
  } finally {
    release.resolve();
    conn.close();
    await server.serverClose({ graceMs: 0 });
  }
});

Deno.test("TLSServer handshakeTimeout: Infinity lets a client start its handshake 100 ms after connecting (every handshake failed after 1 ms)", async () => {
  class Hello extends StreamRequestHandler<StreamServer> {
    override async handle() {
      await this.wfile.write("hello\n");
    }
  }
  const drops: unknown[] = [];
  class Recording extends TLSServer {
    override handleDrop(_request: Deno.TlsConn, _address: Deno.NetAddr, error: unknown) {
      drops.push(error);
    }
  }
  await using server = new Recording(LOCAL, Hello, { cert, key, handshakeTimeout: Infinity });
  const handling = server.handleRequest();
  const tcp = await Deno.connect(server.serverAddress);
  await pause(100); // a slow client: its ClientHello comes 100 ms after the connect
  const conn = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [cert] });
  try {
    const line = await readLineWithin(conn, 5_000).catch((error) => `failed: ${error}`);
    await within(handling, 5_000, "handleRequest() to return");
    assert.equal(line, "hello", `drops: ${drops.map(String)}`);
  } finally {
    conn.close();
  }
});

Deno.test("serverClose({ lingerMs: Infinity }) lingers until the client has read everything (it closed after 1 ms and reset a slow reader)", async () => {
  const SIZE = 4 << 20;
  let written = 0;
  class Big extends StreamRequestHandler<StreamServer> {
    override async handle() {
      await this.rfile.readline();
      while (written < SIZE) {
        await this.wfile.write(new Uint8Array(64 * 1024).fill(0x61));
        written += 64 * 1024;
      }
      // back to reading, past the deadline: its reply is complete, so the
      // lingering close takes over (a handler that never waits for its next
      // request would keep its reply "under way", which Infinity waits for)
      await this.rfile.readline();
    }
  }
  const server = new RecordingServer(LOCAL, Big);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  let received = 0;
  let error: unknown = null;
  const reading = (async () => {
    const buffer = new Uint8Array(16 * 1024);
    await conn.write(encoder.encode("go\n"));
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        received += n;
        await pause(1); // a slow reader
      }
      await conn.closeWrite(); // EOF read: the client is done, and says so
    } catch (e) {
      error = e;
    }
  })();
  try {
    await until(() => written >= 256 * 1024, "the first 256 KiB to be written");
    await server.shutdown();
    await within(
      server.serverClose({ graceMs: 0, lingerMs: Infinity }),
      30_000,
      "serverClose() to return",
    );
    await within(reading, 30_000, "the client to read to EOF");
    assert.equal(error, null, `the client's read failed: ${error}`);
    assert.equal(received, written, "every byte of a resolved write arrives");
  } finally {
    conn.close();
  }
});

Deno.test("TCPServer timeout option below 0.001 (0.0005, 1e-9) is refused with advice the check accepts, not with another value it refuses", () => {
  for (const value of [0.0005, 1e-9]) {
    let message = "";
    try {
      new TCPServer(LOCAL, BaseRequestHandler, { timeout: value, bindAndActivate: false });
    } catch (error) {
      message = (error as Error).message;
    }
    const advised = message.match(/write ([\d.e+-]+) for/)?.[1];
    assert.ok(advised !== undefined, `no advice in ${JSON.stringify(message)}`);
    assert.doesNotThrow(
      () =>
        new TCPServer(LOCAL, BaseRequestHandler, {
          timeout: Number(advised),
          bindAndActivate: false,
        }),
      `for ${value} the message advises ${advised}, which is refused in turn`,
    );
  }
});
