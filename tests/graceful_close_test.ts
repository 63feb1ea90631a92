/**
 * `serverClose({ graceMs, lingerMs })` loses nothing written: at the end of
 * the grace period it owns each remaining connection until its lingering
 * close ends — the handler returning, or failing on its next write, does not
 * close the socket under it — so a slow client that pipelines requests
 * receives every reply whose write resolved, whole, and then EOF.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
import { hasCommand, runCommand } from "./_process.ts";
import { until, within } from "./_wait.ts";

const REQUEST = new TextEncoder().encode("a pipelined request of some length\n");

/** Echoes every line, counting the bytes of the writes that resolved. */
class Echo extends StreamRequestHandler<CountingServer> {
  override async handle() {
    for await (const line of this.rfile) {
      this.server.written += await this.wfile.write(line);
    }
  }
}

class CountingServer extends ThreadingTCPServer {
  written = 0;
  reading = Promise.withResolvers<void>();
  errors: unknown[] = [];
  override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    this.errors.push(error);
  }
}

/** A client that sends requests as fast as the server takes them and reads
 * slowly (16 KiB every 5 ms) until `hurry` resolves, then reads at full
 * speed to EOF and closes. Resolves to the bytes it received. */
async function slowPipeliningClient(
  address: { hostname: string; port: number },
  started: () => void,
  hurry: Promise<void>,
): Promise<{ bytes: number; text: string; endedBy: string }> {
  const conn = await Deno.connect({ hostname: address.hostname, port: address.port });
  let sending = true;
  // large writes, so that the server's receive buffer is never empty: a
  // close with unread input is what resets a connection
  const batch = new Uint8Array(REQUEST.length * 8192);
  for (let i = 0; i < 8192; i++) batch.set(REQUEST, i * REQUEST.length);
  const sender = (async () => {
    try {
      while (sending) {
        for (let n = 0; n < batch.length;) n += await conn.write(batch.subarray(n));
      }
    } catch {
      // the server shut its side and then closed: expected at the end
    }
  })();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  let slow = true;
  hurry.then(() => slow = false);
  let endedBy = "EOF";
  started();
  try {
    const small = new Uint8Array(16 * 1024);
    const large = new Uint8Array(256 * 1024);
    for (;;) {
      const buffer = slow ? small : large;
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
      bytes += n;
      if (slow) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } catch (error) {
    endedBy = error instanceof Error ? error.name : String(error);
  } finally {
    sending = false;
    conn.close();
    await sender;
  }
  const all = new Uint8Array(bytes);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes, text: new TextDecoder().decode(all), endedBy };
}

/** Waits until the server's writes are held back by the client (the bytes
 * written grew by less than 64 KiB in 100 ms): the kernel's buffers are full. */
async function buffersFull(server: CountingServer): Promise<void> {
  const deadline = performance.now() + 20_000;
  let last = -Infinity;
  while (server.written === 0 || server.written - last >= 64 * 1024) {
    if (performance.now() > deadline) throw new Error("The kernel's buffers did not fill in 20 s");
    last = server.written;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function checkLines(text: string): void {
  const expected = new TextDecoder().decode(REQUEST);
  assert.ok(text.endsWith("\n") || text === "", "the last reply was cut");
  const lines = text.split("\n").slice(0, -1);
  const wrong = lines.filter((line) => line + "\n" !== expected);
  assert.equal(wrong.length, 0, `wrong or cut replies: ${JSON.stringify(wrong.slice(0, 3))}`);
}

Deno.test("serverClose({ graceMs, lingerMs }) delivers every reply a slow pipelining client was written before the deadline, whole, then EOF", async () => {
  const server = new CountingServer({ hostname: "127.0.0.1", port: 0 }, Echo);
  const serving = server.serveForever();
  const graceMs = 300;
  const hurry = Promise.withResolvers<void>();
  const connected = Promise.withResolvers<void>();
  const client = slowPipeliningClient(server.serverAddress, connected.resolve, hurry.promise);
  await connected.promise;
  // Let replies pile up in the kernel's buffers until the slow reader's
  // pace holds the writes back: those are what a reset at the deadline
  // destroyed
  await buffersFull(server);
  await server.shutdown();
  const closing = server.serverClose({ graceMs, lingerMs: 20_000 });
  // well past the deadline the client catches up: until then, replies sit in
  // the server's send buffer, where a reset destroys them
  setTimeout(hurry.resolve, graceMs + 500);
  const { bytes, text, endedBy } = await within(client, 30_000, "the client to read to EOF");
  await within(closing, 30_000, "serverClose() to return");
  await serving;
  assert.equal(endedBy, "EOF", "the connection was reset under the lingering close");
  assert.equal(bytes, server.written, `received ${bytes} of ${server.written} bytes written`);
  checkLines(text);
  assert.deepEqual(server.errors, []);
});

Deno.test("serverClose() called again while the first lingers joins that lingering close: nothing written is lost and both return", async () => {
  const server = new CountingServer({ hostname: "127.0.0.1", port: 0 }, Echo);
  const serving = server.serveForever();
  const hurry = Promise.withResolvers<void>();
  const connected = Promise.withResolvers<void>();
  const client = slowPipeliningClient(server.serverAddress, connected.resolve, hurry.promise);
  await connected.promise;
  await buffersFull(server);
  await server.shutdown();
  const first = server.serverClose({ graceMs: 0, lingerMs: 20_000 });
  // the worst moment: the first call is lingering, the handler is failing
  await new Promise((resolve) => setTimeout(resolve, 50));
  const second = server.serverClose({ graceMs: 0, lingerMs: 0 });
  hurry.resolve();
  const { bytes, text, endedBy } = await within(client, 30_000, "the client to read to EOF");
  await within(Promise.all([first, second]), 30_000, "both serverClose() calls to return");
  await serving;
  assert.equal(endedBy, "EOF", "the second call reset the connection under the first's linger");
  assert.equal(bytes, server.written, `received ${bytes} of ${server.written} bytes written`);
  checkLines(text);
  assert.equal(server.activeRequests, 0);
});

Deno.test("serverClose({ graceMs, lingerMs }) loses no reply to a slow pipelining CPython client", async () => {
  if (!hasCommand("python3")) return;
  const server = new CountingServer({ hostname: "127.0.0.1", port: 0 }, Echo);
  const serving = server.serveForever();
  const script = `
import socket, sys, threading, time
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=20)
request = b"a pipelined request of some length\\n" * 64
def send():
    try:
        while True:
            s.sendall(request)
    except OSError:
        pass
threading.Thread(target=send, daemon=True).start()
print("connected", flush=True)
got = bytearray()
slow_until = None
while True:
    chunk = s.recv(1024 if slow_until is None or time.monotonic() < slow_until else 262144)
    if not chunk:
        break
    got += chunk
    if slow_until is None:
        slow_until = time.monotonic() + 1.0
    if time.monotonic() < slow_until:
        time.sleep(0.005)
s.close()
lines = bytes(got).split(b"\\n")
cut = len(lines[-1])
bad = sum(1 for l in lines[:-1] if l != b"a pipelined request of some length")
print(f"bytes {len(got)} bad {bad} cut {cut}", flush=True)
`;
  const client = runCommand("python3", ["-u", "-c", script, String(server.serverAddress.port)], {
    timeoutMs: 30_000,
  });
  await until(() => server.written > 256 * 1024, "a quarter megabyte of replies written", 10_000);
  await server.shutdown();
  await within(server.serverClose({ graceMs: 300, lingerMs: 20_000 }), 30_000, "serverClose()");
  await serving;
  const { code, stdout, stderr } = await client;
  assert.equal(code, 0, stderr);
  const match = /bytes (\d+) bad (\d+) cut (\d+)/.exec(stdout);
  assert.ok(match, stdout);
  assert.equal(Number(match[1]), server.written, `received ${match[1]} of ${server.written}`);
  assert.equal(match[2], "0");
  assert.equal(match[3], "0");
});

/** Reads a line, works on it for a while, answers in two writes. */
class SlowReplies extends StreamRequestHandler<CountingServer> {
  override async handle() {
    for await (const line of this.rfile) {
      this.server.reading.resolve();
      await new Promise((resolve) => setTimeout(resolve, 150)); // the work, past the deadline
      const text = new TextDecoder().decode(line).trim();
      await this.wfile.write(`${text}: part one, `);
      await this.wfile.write("part two\n");
    }
  }
}

Deno.test("serverClose({ graceMs }) closes a connection still open at the deadline right after the reply under way, never in its middle, answering the requests already received", async () => {
  for (const sent of ["one\n", "one\ntwo\n"]) {
    const server = new CountingServer({ hostname: "127.0.0.1", port: 0 }, SlowReplies);
    const serving = server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    await conn.write(new TextEncoder().encode(sent));
    await within(server.reading.promise, 10_000, "the handler to read the request");
    await server.shutdown();
    const closing = server.serverClose({ graceMs: 20, lingerMs: 5_000 });
    const reply = await within(new Response(conn.readable).text(), 10_000, "the reply and EOF");
    await within(closing, 10_000, "serverClose() to return");
    await serving;
    const expected = sent.trim().split("\n").map((text) => `${text}: part one, part two\n`);
    assert.equal(reply, expected.join(""));
    assert.deepEqual(server.errors, []);
  }
});

Deno.test("serverClose({ graceMs, lingerMs }) returns, and closes both connections, though one handler is stuck writing to a client that reads nothing (no writeTimeout) and another in a raw this.request.read()", async () => {
  const started: Promise<void>[] = [];
  const writing = Promise.withResolvers<void>();
  const reading = Promise.withResolvers<void>();
  started.push(writing.promise, reading.promise);
  class Stuck extends StreamRequestHandler {
    override timeout = null;
    override writeTimeout = null;
    override async handle() {
      const kind = new TextDecoder().decode(await this.rfile.readline()).trim();
      if (kind === "raw") {
        reading.resolve();
        await this.request.read(new Uint8Array(16)); // the client never sends more
        return;
      }
      writing.resolve();
      // bounded: 256 MiB at most, far more than the socket buffers hold
      for (let i = 0; i < 256; i++) await this.wfile.write(new Uint8Array(1 << 20));
    }
  }
  const server = new ThreadingTCPServer(["127.0.0.1", 0], Stuck);
  const serving = server.serveForever();
  const flooded = await Deno.connect(server.serverAddress);
  const raw = await Deno.connect(server.serverAddress);
  try {
    await flooded.write(new TextEncoder().encode("write\n"));
    await raw.write(new TextEncoder().encode("raw\n"));
    await within(Promise.all(started), 5_000, "both handlers to start");
    await server.shutdown();
    // bounded by graceMs + lingerMs; the wait allows a loaded machine far more
    await within(server.serverClose({ graceMs: 100, lingerMs: 400 }), 10_000, "serverClose()");
    await within(serving, 5_000, "serveForever() to return");
    assert.equal(server.activeRequests, 0);
    // the raw client sees its connection end
    assert.equal(await within(raw.read(new Uint8Array(1)), 5_000, "EOF on the raw one"), null);
  } finally {
    flooded.close();
    raw.close();
  }
});
