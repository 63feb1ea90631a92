/**
 * The benchmark's load generator (bench/loadgen/loadgen.c), built with `cc`
 * and run against small servers in this process: it counts what a correct
 * server answers, and it catches the wrong ones — corrupted bytes, replayed
 * replies, stale datagrams, a reply not upper-cased. Not timed: the
 * assertions hold at any speed.
 */
import assert from "node:assert/strict";
import { build } from "../bench/build.ts";
import { writeAll } from "./_net.ts";
import { hasCommand, Subprocess } from "./_process.ts";

const HAS_CC = hasCommand("cc");
const HAS_PYTHON = hasCommand("python3");
const NEWLINE = 0x0a;

/** Builds the generator once (bench/.build/, rebuilt when the source is newer). */
let binary: Promise<string> | undefined;
const loadgen = () => binary ??= build("loadgen");

/** Runs the generator to its end (bounded) and parses its JSON line. */
async function runLoadgen(args: string[]): Promise<Record<string, number>> {
  const output = await new Deno.Command(await loadgen(), {
    args,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  assert.ok(output.success, `loadgen failed: ${new TextDecoder().decode(output.stderr)}`);
  return JSON.parse(text);
}

/** A TCP server in this process: `handle` per connection; `close()` waits
 * for every handler (they end when the generator's connections close). */
function serve(handle: (conn: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const handlers = new Set<Promise<void>>();
  const accepting = (async () => {
    for await (const conn of listener) {
      const done: Promise<void> = handle(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch {
          // closed by the handler
        }
        handlers.delete(done);
      });
      handlers.add(done);
    }
  })();
  return {
    port: String(listener.addr.port),
    async close() {
      listener.close();
      await accepting;
      await Promise.all([...handlers]);
    },
  };
}

/** Reads chunks until EOF, handing each to `each`; a reset ends it too. */
async function chunks(conn: Deno.Conn, each: (chunk: Uint8Array) => Promise<void>) {
  const buf = new Uint8Array(16 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) return;
    await each(buf.subarray(0, n));
  }
}

const count = (bytes: Uint8Array) => bytes.reduce((n, b) => n + (b === NEWLINE ? 1 : 0), 0);

Deno.test({
  name:
    "loadgen -m persist counts every line a correct echo server answers, one in flight per connection at most",
  ignore: !HAS_CC,
  async fn() {
    let lines = 0;
    const server = serve((conn) =>
      chunks(conn, async (chunk) => {
        lines += count(chunk);
        await writeAll(conn, chunk);
      })
    );
    const r = await runLoadgen([
      "-p",
      server.port,
      "-c",
      "4",
      "-s",
      "64",
      "-d",
      "0.5",
      "-P",
      `${Deno.pid}`,
    ]);
    await server.close();
    assert.equal(r.mismatches, 0);
    assert.equal(r.errors, 0);
    assert.ok(r.requests > 0, "no request answered");
    // the window opens before the first reply; what was still in flight
    // when it closed reached the server but was not counted
    assert.ok(r.requests <= lines && lines - r.requests <= 4, `${r.requests} vs ${lines} lines`);
    assert.equal(typeof r.server_cpu_s, "number");
    assert.equal(typeof r.cpu_us_per_req, "number");
  },
});

Deno.test({
  name: "loadgen -m persist counts 64 KiB lines echoed chunk by chunk as whole requests",
  ignore: !HAS_CC,
  async fn() {
    let lines = 0;
    const server = serve((conn) =>
      chunks(conn, async (chunk) => {
        lines += count(chunk);
        await writeAll(conn, chunk);
      })
    );
    const r = await runLoadgen(["-p", server.port, "-c", "2", "-s", "65536", "-d", "0.5"]);
    await server.close();
    assert.equal(r.mismatches, 0);
    assert.equal(r.errors, 0);
    assert.ok(r.requests > 0 && r.requests <= lines && lines - r.requests <= 2);
  },
});

Deno.test({
  name: "loadgen -m persist counts a reply with one byte changed as a mismatch, never a request",
  ignore: !HAS_CC,
  async fn() {
    const server = serve((conn) =>
      chunks(conn, async (chunk) => {
        const wrong = chunk.slice();
        wrong[wrong.length - 2] ^= 0x20; // the byte before each chunk's end
        await writeAll(conn, wrong);
      })
    );
    const r = await runLoadgen(["-p", server.port, "-c", "2", "-s", "64", "-d", "0.3"]);
    await server.close();
    assert.equal(r.requests, 0);
    assert.ok(r.mismatches > 0);
  },
});

Deno.test({
  name:
    "loadgen -m persist counts a server replaying its first reply as mismatches: every request is numbered",
  ignore: !HAS_CC,
  async fn() {
    const server = serve(async (conn) => {
      let first: Uint8Array | null = null;
      let pending = new Uint8Array(0);
      await chunks(conn, async (chunk) => {
        const all = new Uint8Array(pending.length + chunk.length);
        all.set(pending);
        all.set(chunk, pending.length);
        let start = 0;
        for (let i = 0; i < all.length; i++) {
          if (all[i] !== NEWLINE) continue;
          first ??= all.slice(start, i + 1);
          await writeAll(conn, first);
          start = i + 1;
        }
        pending = all.slice(start);
      });
    });
    const r = await runLoadgen(["-p", server.port, "-c", "2", "-s", "64", "-d", "0.3"]);
    await server.close();
    assert.ok(r.requests <= 2, `${r.requests} requests counted`); // each connection's first
    assert.ok(r.mismatches > 0);
  },
});

Deno.test({
  name:
    "loadgen -m connect -U counts the seed handler's upper-cased replies, and echoes as mismatches",
  ignore: !HAS_CC,
  async fn() {
    const decoder = new TextDecoder();
    const encoder = new TextEncoder();
    for (const shout of [true, false]) {
      let served = 0;
      const server = serve(async (conn) => {
        const buf = new Uint8Array(1024);
        const n = await conn.read(buf);
        if (n === null) return;
        served++;
        const text = decoder.decode(buf.subarray(0, n)).trim();
        await writeAll(conn, encoder.encode((shout ? text.toUpperCase() : text) + "\n"));
      });
      const r = await runLoadgen([
        "-p",
        server.port,
        "-m",
        "connect",
        "-U",
        "-c",
        "3",
        "-d",
        "0.3",
      ]);
      await server.close();
      if (shout) {
        assert.equal(r.mismatches, 0);
        assert.ok(r.requests > 0 && r.requests <= served && served - r.requests <= 3);
      } else {
        assert.equal(r.requests, 0);
        assert.ok(r.mismatches > 0);
      }
    }
  },
});

Deno.test({
  name:
    "loadgen -m udp counts echoed datagrams, and a server answering the previous datagram as late",
  ignore: !HAS_CC,
  async fn() {
    for (const stale of [false, true]) {
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      const previous = new Map<number, Uint8Array>();
      const serving = (async () => {
        try {
          for await (const [data, from] of socket) {
            const addr = from as Deno.NetAddr;
            const reply = stale ? previous.get(addr.port) : data;
            previous.set(addr.port, data.slice());
            if (reply) await socket.send(reply, addr);
          }
        } catch {
          // closed
        }
      })();
      const port = String((socket.addr as Deno.NetAddr).port);
      // 0.7 s: a few 200 ms loss timeouts, each followed by a stale reply
      const r = await runLoadgen(["-p", port, "-m", "udp", "-c", "2", "-d", "0.7"]);
      socket.close();
      await serving;
      assert.equal(r.mismatches, 0);
      if (stale) {
        assert.equal(r.requests, 0);
        assert.ok(r.late > 0 && r.lost > 0, JSON.stringify(r));
      } else {
        assert.ok(r.requests > 0);
      }
    }
  },
});

Deno.test({
  name:
    "loadgen -m persist -n 3 closes each connection after its third reply and connects again, resending nothing",
  ignore: !HAS_CC,
  async fn() {
    const perConnection: number[] = [];
    const server = serve(async (conn) => {
      let lines = 0;
      try {
        await chunks(conn, async (chunk) => {
          lines += count(chunk);
          await writeAll(conn, chunk);
        });
      } finally {
        perConnection.push(lines);
      }
    });
    const r = await runLoadgen(["-p", server.port, "-c", "4", "-n", "3", "-d", "0.5"]);
    await server.close();
    assert.equal(r.errors, 0);
    assert.equal(r.mismatches, 0);
    assert.equal(r.per_conn, 3);
    assert.ok(perConnection.every((n) => n <= 3), `${perConnection}`);
    // only the connections open when the generator stopped end short
    const short = perConnection.filter((n) => n < 3).length;
    assert.ok(short <= 4, `${short} connections ended before 3 requests`);
    const lines = perConnection.reduce((a, b) => a + b, 0);
    assert.ok(r.requests > 0 && r.requests <= lines && lines - r.requests <= 4);
    assert.ok(perConnection.length >= Math.floor(Number(r.requests) / 3));
  },
});

/** Answers every request with a reset (until it is killed). */
const RESETTING_SERVER = `
import socket, struct
server = socket.create_server(("127.0.0.1", 0))
print("port", server.getsockname()[1], flush=True)
while True:
    conn, _ = server.accept()
    conn.recv(64)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
`;

Deno.test({
  name:
    "loadgen counts failed requests by cause: a refused connect, a reset, an EOF before the reply",
  ignore: !HAS_CC,
  async fn() {
    // refused: a port nobody listens on (bound, then closed, so it is free)
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const freePort = String(probe.addr.port);
    probe.close();
    const refused = await runLoadgen(["-p", freePort, "-c", "2", "-n", "2", "-d", "0.2"]);
    assert.ok(Number(refused.refused) > 0, JSON.stringify(refused));
    assert.equal(refused.errors, refused.refused, JSON.stringify(refused));
    // reset: CPython reads the request and closes with SO_LINGER {1, 0}
    // (Deno cannot: its close() sends a FIN first, so a peer sees EOF)
    if (HAS_PYTHON) {
      await using resetting = new Subprocess("python3", ["-c", RESETTING_SERVER]);
      const [, port] = await resetting.waitFor(/^port (\d+)$/);
      const reset = await runLoadgen(["-p", port, "-c", "2", "-n", "2", "-d", "0.2"]);
      assert.ok(Number(reset.reset) > 0, JSON.stringify(reset));
      assert.equal(reset.errors, reset.reset, JSON.stringify(reset));
    }
    // eof: the server reads the whole request and closes without replying
    const closing = serve(async (conn) => {
      const buf = new Uint8Array(64);
      for (let got = 0; got < 64;) {
        const n = await conn.read(buf.subarray(got));
        if (n === null) return;
        got += n;
      }
    });
    const eof = await runLoadgen(["-p", closing.port, "-c", "2", "-n", "2", "-d", "0.2"]);
    await closing.close();
    assert.ok(Number(eof.eof) > 0, JSON.stringify(eof));
    assert.equal(eof.errors, eof.eof, JSON.stringify(eof));
    assert.equal(eof.requests, 0);
  },
});

Deno.test({
  name: "loadgen -n refuses a mode other than persist: connect mode is one request per connection",
  ignore: !HAS_CC,
  async fn() {
    const output = await new Deno.Command(await loadgen(), {
      args: ["-m", "connect", "-n", "3", "-d", "0.1"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(output.code, 2);
    assert.match(new TextDecoder().decode(output.stderr), /-n needs -m persist/);
  },
});
