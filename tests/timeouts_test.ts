/**
 * Timeouts: a client that connects and says nothing is dropped by
 * `idleTimeout`, one that trickles a request byte by byte (slowloris) by
 * `requestTimeout` — which a per-read `timeout` alone never does — and the
 * drops reach `handleDrop()`, never `handleError()`. Well-behaved slow
 * clients are not dropped.
 */
import assert from "node:assert/strict";
import { BaseRequestHandler, StreamRequestHandler, TimeoutError } from "../mod.ts";
import { decoder, encoder, readToEnd } from "./_net.ts";
import { errorName, RecordingServer } from "./_servers.ts";
import { until, within } from "./_wait.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A line echo handler with the timeouts under test. */
function echoWith(timeouts: {
  timeout?: number | null;
  idleTimeout?: number | null;
  requestTimeout?: number | null;
}) {
  return class Echo extends StreamRequestHandler<RecordingServer> {
    override timeout = timeouts.timeout ?? null;
    override idleTimeout = timeouts.idleTimeout ?? null;
    override requestTimeout = timeouts.requestTimeout ?? null;
    override async handle() {
      for await (const line of this.rfile) await this.wfile.write(line);
    }
  };
}

Deno.test("idleTimeout drops a client that connects and says nothing, through handleDrop()", async () => {
  await using server = new RecordingServer(
    { hostname: "127.0.0.1", port: 0 },
    echoWith({ idleTimeout: 100 }),
  );
  server.serveForever();

  const silent = await Deno.connect(server.serverAddress);
  const { bytes, error } = await readToEnd(silent); // until the server hangs up
  silent.close();
  await server.dropped();

  assert.equal(bytes.length, 0);
  assert.equal(error, null, "the client sees a clean EOF");
  const drop = server.drops[0];
  assert.ok(drop instanceof TimeoutError);
  assert.equal(drop.attribute, "idleTimeout");
  assert.match(drop.message, /"idleTimeout"/);
  assert.equal(server.errors.length, 0);
});

Deno.test("requestTimeout drops a slowloris client (one byte at a time, never a newline), which a per-read timeout cannot do", async () => {
  // each byte comes well within the per-read timeout (40 ms apart, 200 ms
  // allowed), so only the request deadline can end this
  await using server = new RecordingServer(
    { hostname: "127.0.0.1", port: 0 },
    echoWith({ timeout: 200, requestTimeout: 300 }),
  );
  server.serveForever();

  const slow = await Deno.connect(server.serverAddress);
  const reading = readToEnd(slow);
  let sent = 0;
  const started = performance.now();
  while (server.drops.length === 0 && sent < 200) { // at most 8 s
    try {
      await slow.write(encoder.encode("x"));
      sent++;
    } catch {
      break; // the server hung up
    }
    await delay(40);
  }
  const elapsed = performance.now() - started;
  assert.equal(server.drops.length, 1, `still connected after ${sent} bytes (${elapsed} ms)`);
  const { bytes } = await reading;
  slow.close();

  const drop = server.drops[0];
  assert.ok(drop instanceof TimeoutError, `dropped by ${errorName(drop)}`);
  assert.equal(drop.attribute, "requestTimeout");
  assert.equal(drop.timeout, 300);
  assert.equal(bytes.length, 0);
  assert.equal(server.errors.length, 0);
});

Deno.test("timeout drops a client that goes silent in the middle of a request", async () => {
  await using server = new RecordingServer(
    { hostname: "127.0.0.1", port: 0 },
    echoWith({ timeout: 100, idleTimeout: 60_000 }),
  );
  server.serveForever();

  const conn = await Deno.connect(server.serverAddress);
  await conn.write(encoder.encode("half a line"));
  await readToEnd(conn);
  conn.close();
  await server.dropped();

  const drop = server.drops[0];
  assert.ok(drop instanceof TimeoutError);
  assert.equal(drop.attribute, "timeout");
  assert.equal(server.errors.length, 0);
});

Deno.test("idleTimeout and requestTimeout drop no slow but well-behaved client: each pause is within idleTimeout, each line within requestTimeout", async () => {
  await using server = new RecordingServer(
    { hostname: "127.0.0.1", port: 0 },
    echoWith({ timeout: 150, idleTimeout: 150, requestTimeout: 150 }),
  );
  server.serveForever();

  const conn = await Deno.connect(server.serverAddress);
  const replies: string[] = [];
  const buffer = new Uint8Array(64);
  for (let i = 0; i < 5; i++) { // 5 × 60 ms: twice every timeout in total
    await delay(60);
    await conn.write(encoder.encode(`req ${i}\n`));
    const n = await conn.read(buffer);
    replies.push(decoder.decode(buffer.subarray(0, n ?? 0)));
  }
  await conn.closeWrite();
  await readToEnd(conn);
  conn.close();

  assert.deepEqual(replies, ["req 0\n", "req 1\n", "req 2\n", "req 3\n", "req 4\n"]);
  assert.equal(server.drops.length + server.errors.length, 0);
});

Deno.test("requestTimeout restarts with every line a for-await loop yields: after a line that came in two reads, a pause longer than requestTimeout (within idleTimeout) is no drop", async () => {
  await using server = new RecordingServer(
    { hostname: "127.0.0.1", port: 0 },
    echoWith({ idleTimeout: 5_000, requestTimeout: 150 }),
  );
  server.serveForever();

  const conn = await Deno.connect(server.serverAddress);
  const buffer = new Uint8Array(64);
  const ask = async (...parts: string[]) => {
    for (const [i, part] of parts.entries()) {
      if (i > 0) await delay(30); // the line arrives in two reads
      await conn.write(encoder.encode(part));
    }
    const n = await conn.read(buffer);
    return decoder.decode(buffer.subarray(0, n ?? 0));
  };
  assert.equal(await ask("ha", "lf\n"), "half\n");
  await delay(300); // idle between requests: twice requestTimeout, far within idleTimeout
  assert.equal(await ask("next\n"), "next\n");
  await conn.closeWrite();
  await readToEnd(conn);
  conn.close();

  assert.deepEqual(server.drops.map(errorName), []);
  assert.equal(server.errors.length, 0);
});

/** Answers each line `<MiB> <writes>` with that many MiB in that many
 * `wfile.write()` calls, under `writeTimeout`. */
function replyWith(writeTimeout: number | null) {
  return class Big extends StreamRequestHandler<RecordingServer> {
    override writeTimeout = writeTimeout;
    override async handle() {
      for await (const line of this.rfile) {
        const [mib, writes] = decoder.decode(line).trim().split(" ").map(Number);
        const part = new Uint8Array((mib << 20) / writes).fill(0x7a);
        for (let i = 0; i < writes; i++) await this.wfile.write(part);
      }
    }
  };
}

for (const writes of [1, 16]) {
  Deno.test(`writeTimeout drops a client that never reads a 16 MiB reply (${writes} write${writes > 1 ? "s" : ""}), through handleDrop(), and closes its connection`, async () => {
    await using server = new RecordingServer(
      { hostname: "127.0.0.1", port: 0 },
      replyWith(200),
    );
    server.serveForever();

    const conn = await Deno.connect(server.serverAddress);
    const asked = performance.now();
    await conn.write(encoder.encode(`16 ${writes}\n`)); // and never read
    await within(server.dropped(), 5_000, "the client that does not read to be dropped");
    const elapsed = performance.now() - asked;
    await until(() => server.activeRequests === 0, "the handler to end");
    const { bytes } = await readToEnd(conn); // the connection is closed: EOF or a reset
    conn.close();

    const drop = server.drops[0];
    assert.ok(drop instanceof TimeoutError, `dropped by ${errorName(drop)}`);
    assert.equal(drop.attribute, "writeTimeout");
    assert.equal(drop.timeout, 200);
    assert.match(drop.message, /"writeTimeout"/);
    assert.ok(elapsed >= 200, `dropped after ${elapsed} ms, before the timeout`);
    assert.ok(bytes.length < 16 << 20, "the reply was not all sent");
    assert.equal(server.drops.length, 1);
    assert.equal(server.errors.length, 0);
  });
}

Deno.test("writeTimeout does not drop a client that reads a 16 MiB reply as it comes", async () => {
  await using server = new RecordingServer(
    { hostname: "127.0.0.1", port: 0 },
    replyWith(5_000),
  );
  server.serveForever();

  const conn = await Deno.connect(server.serverAddress);
  await conn.write(encoder.encode("16 4\n"));
  await conn.closeWrite();
  const { bytes, error } = await readToEnd(conn, 10_000);
  conn.close();

  assert.equal(error, null);
  assert.equal(bytes.length, 16 << 20);
  assert.equal(server.drops.length + server.errors.length, 0);
});

Deno.test("a raw this.request.read() bounded by a timer that closes the connection, as docs/request-flow.md shows, is a drop (Interrupted), not a handleError() report", async () => {
  class RawRead extends BaseRequestHandler<RecordingServer> {
    override async handle() {
      const timer = setTimeout(() => this.request.close(), 50); // the bound the docs recommend
      try {
        await this.request.read(new Uint8Array(1024));
      } finally {
        clearTimeout(timer);
      }
    }
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, RawRead);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress); // and says nothing
  try {
    await server.dropped(1);
    assert.deepEqual(server.drops.map(errorName), ["Interrupted"]);
    assert.deepEqual(server.errors.map(errorName), []);
  } finally {
    conn.close();
  }
});

Deno.test("timeout does not bound a raw this.request.read(): it waits past the timeout that drops an rfile.read1() begun after it, and returns what the client sends later", async () => {
  const rawStarted = Promise.withResolvers<void>();
  class Mixed extends StreamRequestHandler<RecordingServer> {
    override timeout = 50;
    override async handle() {
      const kind = decoder.decode(await this.rfile.readline()).trim();
      if (kind === "rfile") {
        await this.rfile.read1(1024); // bounded: a TimeoutError, a drop
        return;
      }
      const buffer = new Uint8Array(1024);
      rawStarted.resolve();
      const n = await this.request.read(buffer); // unbounded, as Deno.Conn is
      await this.wfile.write(`raw read ${decoder.decode(buffer.subarray(0, n ?? 0))}`);
    }
  }
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Mixed);
  server.serveForever();
  const raw = await Deno.connect(server.serverAddress);
  const bounded = await Deno.connect(server.serverAddress);
  try {
    await raw.write(encoder.encode("raw\n"));
    await within(rawStarted.promise, 5_000, "the raw read to start");
    await bounded.write(encoder.encode("rfile\n"));
    // the rfile read began after the raw one, under the same timeout
    await server.dropped(1);
    assert.ok(server.drops[0] instanceof TimeoutError, String(server.drops[0]));
    await raw.write(encoder.encode("late\n"));
    await raw.closeWrite();
    assert.equal(decoder.decode((await readToEnd(raw)).bytes), "raw read late\n");
    assert.equal(server.drops.length, 1);
    assert.deepEqual(server.errors, []);
  } finally {
    raw.close();
    bounded.close();
  }
});
