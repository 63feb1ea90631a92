/**
 * examples/resp_server.ts keeps its memory bounded, as issue 14 asked: a
 * `maxmemory` cap answered with Redis's own OOM error, a cap on one
 * command's size, and a deadline for an unfinished command. Tested in
 * memory (`bindInMemory()`), but for redis-cli, redis-server and the program.
 *
 * @module
 */
import assert from "node:assert/strict";
import { BufferedReader } from "../../mod.ts";
import { bindInMemory } from "../../testing.ts";
import {
  CommandTimeoutError,
  ENTRY_OVERHEAD,
  parseMemory,
  RespHandler,
  RespServer,
} from "../../examples/resp_server.ts";
import { startExample, startRedisServer } from "../_examples.ts";
import { readAllBytes, readToEnd, writeAll } from "../_net.ts";
import { hasCommand, runCommand } from "../_process.ts";
import { serveLoopback } from "../_servers.ts";
import { within } from "../_wait.ts";

const HAS_CLI = hasCommand("redis-cli");
const HAS_SERVER = hasCommand("redis-server");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A serving `RespServer` bound in memory (no socket, no port), with
 * `connect()` for its clients. */
function serve(Handler = RespHandler) {
  const server = new RespServer({ hostname: "127.0.0.1", port: 0 }, Handler, {
    bindAndActivate: false,
  });
  const network = bindInMemory(server);
  server.serverActivate();
  server.serveForever();
  return Object.assign(server, { connect: () => network.connect(server.serverAddress) });
}

const resp = (...args: string[]) =>
  `*${args.length}\r\n` + args.map((a) => `$${encoder.encode(a).length}\r\n${a}\r\n`).join("");

/** `redis-cli args` fed `input` while its output is read (it prints every error
 * reply of --pipe, which would fill a pipe nobody reads); killed after 60 s. */
async function pipe(args: string[], input: string): Promise<{ stdout: string; stderr: string }> {
  const child = new Deno.Command("redis-cli", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const writing = (async () => {
      const writer = child.stdin.getWriter();
      await writer.write(encoder.encode(input));
      await writer.close();
    })();
    const [out] = await Promise.all([child.output(), writing]);
    return { stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** redis-cli against `port`, a command per line of `input`, as a user types them. */
const cli = (port: number, input: string) =>
  runCommand("redis-cli", ["--no-raw", "-h", "127.0.0.1", "-p", String(port)], { input });

// With a key stored, maxmemory 1 is exceeded on both servers: writes are refused, reads
// and deletes are not; CONFIG SET maxmemory with Redis's units and errors.
const SCRIPT = `FLUSHALL
SET a b
CONFIG SET maxmemory 1
SET c d
INCR n
SET a
GET a
EXISTS a
CONFIG GET maxmemory
CONFIG SET maxmemory 0
SET c d
CONFIG SET maxmemory 10mb
CONFIG GET maxmemory
CONFIG SET maxmemory 1K
CONFIG GET maxmemory
CONFIG SET maxmemory 2GB
CONFIG GET maxmemory
CONFIG SET maxmemory abc
CONFIG SET maxmemory 1.5mb
CONFIG SET maxmemory -1
CONFIG SET maxmemory
CONFIG SET maxmemory 1 foo
CONFIG SET maxmemory 1 maxmemory 2
CONFIG SET foo 1
CONFIG GET maxmemory-policy
CONFIG SET maxmemory 0
DEL a c
`;

// What redis-server 7 answers to SCRIPT, as redis-cli --no-raw prints it.
const TRANSCRIPT = `OK
OK
OK
(error) OOM command not allowed when used memory > 'maxmemory'.
(error) OOM command not allowed when used memory > 'maxmemory'.
(error) ERR wrong number of arguments for 'set' command
"b"
(integer) 1
1) "maxmemory"
2) "1"
OK
OK
OK
1) "maxmemory"
2) "10485760"
OK
1) "maxmemory"
2) "1000"
OK
1) "maxmemory"
2) "2147483648"
(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value
(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value
(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value
(error) ERR wrong number of arguments for 'config|set' command
(error) ERR syntax error
(error) ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter
(error) ERR Unknown option or number of arguments for CONFIG SET - 'foo'
1) "maxmemory-policy"
2) "noeviction"
OK
(integer) 2
`;

Deno.test({
  name:
    "examples/resp_server.ts maxmemory: past the cap SET and INCR get Redis's OOM error, reads still run, as redis-cli shows for redis-server",
  ignore: !HAS_CLI,
  async fn() {
    await using server = serveLoopback(RespServer, RespHandler);
    const ours = await cli(server.serverAddress.port, SCRIPT);
    assert.equal(ours.stderr, "");
    assert.equal(ours.stdout, TRANSCRIPT);
    if (HAS_SERVER) {
      await using redis = await startRedisServer();
      const theirs = await cli(redis.port, SCRIPT);
      assert.equal(theirs.stdout, TRANSCRIPT, "the transcript is real Redis's");
    } else console.error("redis-server is not installed: the transcript is not re-checked");
  },
});

Deno.test("examples/resp_server.ts maxmemory: usedMemory counts each key's bytes and ENTRY_OVERHEAD, through SET, overwrite, DEL, expiry and FLUSHALL", async () => {
  await using server = serve();
  const cost = (key: string, value: string) => key.length + value.length + ENTRY_OVERHEAD;
  const send = async (request: string) => {
    const conn = await server.connect();
    try {
      await writeAll(conn, encoder.encode(request + "QUIT\r\n"));
      return decoder.decode(await readAllBytes(conn));
    } finally {
      conn.close();
    }
  };
  await send(resp("SET", "k1", "12345") + resp("SET", "k2", "x"));
  assert.equal(server.usedMemory, cost("k1", "12345") + cost("k2", "x"));
  await send(resp("SET", "k1", "1") + resp("INCR", "k1"));
  assert.equal(server.usedMemory, cost("k1", "2") + cost("k2", "x"));
  await send(resp("DEL", "k2", "missing"));
  assert.equal(server.usedMemory, cost("k1", "2"));
  server.data.set("old", { value: encoder.encode("v"), expiresAt: 0 });
  await send(resp("GET", "old")); // expired: dropped when touched
  assert.equal(server.usedMemory, cost("k1", "2"));
  await send(resp("FLUSHALL"));
  assert.equal(server.usedMemory, 0);
  assert.equal(server.queryBytes, 0, "no command is being read");
});

Deno.test("examples/resp_server.ts maxmemory: a command being read counts in usedMemory until it ends, as Redis's query buffers do", async () => {
  await using server = serve();
  server.maxMemory = 250_000;
  const conn = await server.connect();
  try {
    const reader = new BufferedReader(conn, { timeout: 5_000 });
    // 100 kB stored, then a 200 kB argument with its last two bytes withheld: the
    // command cannot run yet, and the two together pass maxMemory
    const big = "x".repeat(200_000);
    const request = resp("SET", "stored", "s".repeat(100_000)) +
      `*2\r\n$4\r\nECHO\r\n$${big.length}\r\n`;
    await writeAll(conn, encoder.encode(request));
    assert.equal(decoder.decode(await reader.readline()), "+OK\r\n"); // sent once ECHO's header is in
    await writeAll(conn, encoder.encode(big));
    const other = await server.connect();
    try {
      await writeAll(other, encoder.encode(resp("SET", "k", "v") + "QUIT\r\n"));
      assert.equal(
        decoder.decode(await readAllBytes(other)),
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n+OK\r\n",
      );
    } finally {
      other.close();
    }
    assert.ok(server.queryBytes >= 200_000, `queryBytes ${server.queryBytes}`);
    await writeAll(conn, encoder.encode("\r\n" + resp("SET", "k", "v")));
    const echoed = `$${big.length}\r\n${big}\r\n`;
    assert.equal(decoder.decode(await reader.read(echoed.length)), echoed);
    assert.equal(decoder.decode(await reader.readline()), "+OK\r\n"); // the ECHO's bytes freed
    assert.equal(server.queryBytes, 0);
  } finally {
    conn.close();
  }
});

Deno.test("examples/resp_server.ts: an argument that would take all the commands being read past maxClientsMemory closes its client, not the others", async () => {
  await using server = serve();
  server.maxClientsMemory = 300_000;
  const first = await server.connect();
  const second = await server.connect();
  try {
    const reader = new BufferedReader(first, { timeout: 5_000 });
    const big = "x".repeat(200_000);
    const head = resp("PING") + `*2\r\n$4\r\nECHO\r\n$${big.length}\r\n`;
    await writeAll(first, encoder.encode(head + big.slice(0, 1000)));
    assert.equal(decoder.decode(await reader.readline()), "+PONG\r\n"); // its 200 kB are counted
    await writeAll(second, encoder.encode(head));
    const { bytes } = await readToEnd(second, 5_000); // closed without a reply to ECHO
    assert.equal(decoder.decode(bytes), "+PONG\r\n");
    await writeAll(first, encoder.encode(big.slice(1000) + "\r\n"));
    const echoed = `$${big.length}\r\n${big}\r\n`;
    assert.equal(decoder.decode(await reader.read(echoed.length)), echoed);
    assert.equal(server.queryBytes, 0);
  } finally {
    first.close();
    second.close();
  }
});

Deno.test("examples/resp_server.ts parseMemory() reads Redis's memory units", () => {
  assert.equal(parseMemory("0"), 0);
  assert.equal(parseMemory("5b"), 5);
  assert.equal(parseMemory("1k"), 1000);
  assert.equal(parseMemory("1KB"), 1024);
  assert.equal(parseMemory("64mb"), 64 * 1024 * 1024);
  assert.equal(parseMemory("2g"), 2e9);
  for (const bad of ["", "1.5mb", "-1", "1tb", "mb", " 1", "1 mb"]) {
    assert.equal(parseMemory(bad), null, bad);
  }
});

Deno.test({
  name:
    "examples/resp_server.ts as a program: with MAXMEMORY=8mb, 200,000 SETs through redis-cli --pipe leave used_memory within one key of 8 MiB and RSS bounded",
  ignore: !HAS_CLI,
  async fn() {
    await using example = await startExample("resp_server", { MAXMEMORY: "8mb" });
    const [, host, port] = example.match;
    const info = async () => {
      const { stdout } = await runCommand("redis-cli", ["-h", host, "-p", port, "INFO", "memory"]);
      const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, "m").exec(stdout)?.[1]);
      return { used: field("used_memory"), rss: field("used_memory_rss"), max: field("maxmemory") };
    };
    const before = await info();
    assert.equal(before.max, 8 * 1024 * 1024);
    const N = 200_000;
    const commands = [];
    for (let i = 0; i < N; i++) {
      commands.push(resp("SET", `key:${String(i).padStart(12, "0")}`, "xxx"));
    }
    const piped = await pipe(["-h", host, "-p", port, "--pipe"], commands.join(""));
    const [, errors, replies] = /errors: (\d+), replies: (\d+)/.exec(piped.stdout) ?? [];
    assert.equal(Number(replies), N, piped.stdout.slice(-300));
    const stored = N - Number(errors);
    const perKey = 16 + 3 + ENTRY_OVERHEAD;
    assert.equal(stored, Math.ceil((8 * 1024 * 1024 + 1) / perKey), "keys stored before the cap");
    assert.match(piped.stderr, /^OOM command not allowed when used memory > 'maxmemory'\.$/m);
    const after = await info();
    assert.ok(after.used <= 8 * 1024 * 1024 + perKey, `used_memory ${after.used}`);
    // Uncapped, each key costs over 600 bytes of RSS: 200,000 of them, over 115 MiB.
    const grown = (after.rss - before.rss) / 2 ** 20;
    assert.ok(grown < 96, `RSS grew by ${grown.toFixed(1)} MiB`);
  },
});

Deno.test("examples/resp_server.ts as a program: a MAXMEMORY that is not a memory size stops it with a message saying what to write", async () => {
  const { code, stderr } = await runCommand("deno", [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-env=HOST,PORT,MAXMEMORY",
    new URL("../../examples/resp_server.ts", import.meta.url).pathname,
    "0",
  ], { env: { MAXMEMORY: "lots" }, timeoutMs: 15_000 });
  assert.equal(code, 1);
  assert.match(
    stderr,
    /MAXMEMORY must be a memory size such as "64mb", "1gb" or "0" \(no cap\), got "lots"/,
  );
});

Deno.test("examples/resp_server.ts: a command longer than maxQueryLength closes the connection before the argument that crosses it is read", async () => {
  await using server = serve();
  const conn = await server.connect();
  let sent = 0;
  try {
    // 300 arguments of 1 MiB: a 300 MiB command, which the server used to hold whole
    const mib = encoder.encode(`$${1024 * 1024}\r\n${"x".repeat(1024 * 1024)}\r\n`);
    const error = await within(
      (async () => {
        try {
          await writeAll(conn, encoder.encode("*300\r\n"));
          while (sent < 64 * 1024 * 1024) {
            await writeAll(conn, mib);
            sent += mib.length;
          }
          return null;
        } catch (error) {
          return error;
        }
      })(),
      20_000,
      "the server to close a 300 MiB command",
    );
    assert.ok(
      error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe,
      `after ${sent} bytes: ${error}`,
    );
    assert.equal(server.queryBytes, 0);
  } finally {
    conn.close();
  }
  // the longest command allowed still runs: ECHO with an argument of 1 MiB
  const ok = await server.connect();
  try {
    const big = "y".repeat(1024 * 1024);
    await writeAll(ok, encoder.encode(resp("ECHO", big) + "QUIT\r\n"));
    assert.equal(decoder.decode(await readAllBytes(ok)), `$${big.length}\r\n${big}\r\n+OK\r\n`);
  } finally {
    ok.close();
  }
});

class Brief extends RespHandler {
  override commandTimeout = 200;
}

Deno.test("examples/resp_server.ts: half a command, then silence, is dropped after commandTimeout and frees what it held", async () => {
  await using server = serve(Brief);
  const conn = await server.connect();
  try {
    await writeAll(conn, encoder.encode(resp("PING") + "*2\r\n$4\r\nECHO\r\n$100000\r\nabc"));
    const { bytes, error } = await readToEnd(conn, 5_000); // EOF or reset: the server closed
    assert.equal(decoder.decode(bytes), "+PONG\r\n");
    assert.ok(
      error === null || error instanceof Deno.errors.ConnectionReset,
      String(error),
    );
    assert.equal(server.queryBytes, 0);
  } finally {
    conn.close();
  }
});

Deno.test("examples/resp_server.ts: a command trickled a byte at a time is dropped at commandTimeout, however quick each read", async () => {
  await using server = serve(Brief);
  const conn = await server.connect();
  const request = encoder.encode(resp("ECHO", "z".repeat(10_000)));
  try {
    // 10 kB at a byte every 5 ms would take 50 s: only the deadline can end it in 10
    const outcome = await within(
      (async () => {
        try {
          for (let i = 0; i < request.length; i++) {
            await writeAll(conn, request.subarray(i, i + 1));
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
          return "the whole command went out";
        } catch (error) {
          return error;
        }
      })(),
      10_000,
      "the server to drop a trickled command",
    );
    assert.ok(
      outcome instanceof Deno.errors.ConnectionReset || outcome instanceof Deno.errors.BrokenPipe,
      String(outcome),
    );
  } finally {
    conn.close(); // ends the trickle if the server never did
  }
});

Deno.test("examples/resp_server.ts: commandTimeout does not limit an idle connection between commands, as Redis's timeout 0", async () => {
  await using server = serve(Brief);
  const conn = await server.connect();
  try {
    const reader = new BufferedReader(conn, { timeout: 5_000 });
    await writeAll(conn, encoder.encode(resp("PING")));
    assert.equal(decoder.decode(await reader.readline()), "+PONG\r\n");
    // idle for three times commandTimeout: that is allowed
    await new Promise((resolve) => setTimeout(resolve, 600));
    await writeAll(conn, encoder.encode(resp("PING")));
    assert.equal(decoder.decode(await reader.readline()), "+PONG\r\n");
  } finally {
    conn.close();
  }
});

Deno.test("examples/resp_server.ts: CommandTimeoutError is a TimedOut, which the server counts a routine drop", () => {
  const error = new CommandTimeoutError(200);
  assert.ok(error instanceof Deno.errors.TimedOut);
  assert.equal(
    error.message,
    'The command was not whole within 200 ms of its first byte: raise the handler\'s "commandTimeout" or set it to null',
  );
});
