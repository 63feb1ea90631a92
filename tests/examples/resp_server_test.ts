/**
 * examples/resp_server.ts: the Redis protocol's logic is tested in memory
 * (`bindInMemory()`: no socket, no port), each exchange compared with what a
 * real redis-server answers over a socket when it is installed; redis-cli,
 * redis-benchmark and the program run on real sockets.
 */
import assert from "node:assert/strict";
import { BufferedReader } from "../../mod.ts";
import { bindInMemory } from "../../testing.ts";
import { RespHandler, RespServer } from "../../examples/resp_server.ts";
import { startExample, startRedisServer, STOP_SIGNALS, stopExampleWith } from "../_examples.ts";
import { readAllBytes, writeAll } from "../_net.ts";
import { hasCommand, runCommand } from "../_process.ts";
import { serveLoopback } from "../_servers.ts";
import { within } from "../_wait.ts";

const HAS_CLI = hasCommand("redis-cli");
const HAS_SERVER = hasCommand("redis-server");
const HAS_BENCHMARK = hasCommand("redis-benchmark");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A serving `RespServer` bound in memory, with `connect()` for its clients. */
function serve(Handler = RespHandler, pollInterval = 500) {
  const server = new RespServer({ hostname: "127.0.0.1", port: 0 }, Handler, {
    bindAndActivate: false,
  });
  const network = bindInMemory(server);
  server.serverActivate();
  server.serveForever(pollInterval);
  return Object.assign(server, { connect: () => network.connect(server.serverAddress) });
}

/** A real server on a loopback port (redis-server), to exchange with. */
const tcp = (port: number) => ({ connect: () => Deno.connect({ hostname: "127.0.0.1", port }) });

/** Sends `request` in one write (then, with `halfClose`, EOF) and returns
 * everything the server sends until it closes. */
async function exchange(
  server: { connect(): Promise<Deno.Conn> },
  request: string | Uint8Array,
  halfClose = false,
): Promise<string> {
  const conn = await server.connect();
  try {
    await conn.write(typeof request === "string" ? encoder.encode(request) : request);
    if (halfClose) await conn.closeWrite();
    return decoder.decode(await readAllBytes(conn));
  } finally {
    conn.close();
  }
}

const resp = (...args: string[]) =>
  `*${args.length}\r\n` + args.map((a) => `$${encoder.encode(a).length}\r\n${a}\r\n`).join("");

// Every command, with the errors Redis gives; fed to redis-cli one per line, as a user types.
const SCRIPT = `FLUSHALL
PING
PING "hello world"
PING a b
ECHO "binary \\x00\\xff ok"
ECHO
SET greeting hello
GET greeting
GET missing
get greeting
SET greeting
SET k v EX 100
SET k v PX 100000 NX
SET k v2 XX
SET fresh v XX
GET k
SET k v EX 0
SET k v PX -5
SET k v EX ten
SET k v EX
SET k v EX 1 PX 1
SET k v NX XX
SET k v SOMETHING
SET n 41
INCR n
INCR n
INCR fresh
SET big 9223372036854775807
INCR big
SET word abc
INCR word
SET z 007
INCR z
INCR
EXISTS greeting k missing greeting
EXISTS
DEL greeting missing k
DEL
DBSIZE
DBSIZE extra
NOSUCH a "b c"
nosuch
CONFIG GET save
FLUSHALL BOGUS
FLUSHALL SYNC
DBSIZE
`;

// What redis-server 7 answers to SCRIPT, as redis-cli --no-raw prints it.
const TRANSCRIPT = `OK
PONG
"hello world"
(error) ERR wrong number of arguments for 'ping' command
"binary \\x00\\xff ok"
(error) ERR wrong number of arguments for 'echo' command
OK
"hello"
(nil)
"hello"
(error) ERR wrong number of arguments for 'set' command
OK
(nil)
OK
(nil)
"v2"
(error) ERR invalid expire time in 'set' command
(error) ERR invalid expire time in 'set' command
(error) ERR value is not an integer or out of range
(error) ERR syntax error
(error) ERR syntax error
(error) ERR syntax error
(error) ERR syntax error
OK
(integer) 42
(integer) 43
(integer) 1
OK
(error) ERR increment or decrement would overflow
OK
(error) ERR value is not an integer or out of range
OK
(error) ERR value is not an integer or out of range
(error) ERR wrong number of arguments for 'incr' command
(integer) 3
(error) ERR wrong number of arguments for 'exists' command
(integer) 2
(error) ERR wrong number of arguments for 'del' command
(integer) 5
(error) ERR wrong number of arguments for 'dbsize' command
(error) ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b c' 
(error) ERR unknown command 'nosuch', with args beginning with: 
1) "save"
2) ""
(error) ERR syntax error
OK
(integer) 0
`;

Deno.test({
  name:
    "examples/resp_server.ts: redis-cli drives every command and prints what it prints for redis-server",
  ignore: !HAS_CLI,
  async fn() {
    await using server = serveLoopback(RespServer, RespHandler);
    const cli = (port: number, ...args: string[]) =>
      runCommand("redis-cli", ["--no-raw", "-h", "127.0.0.1", "-p", String(port), ...args], {
        input: SCRIPT,
      });
    const ours = await cli(server.serverAddress.port);
    assert.equal(ours.stderr, "");
    assert.equal(ours.stdout, TRANSCRIPT);
    const quit = await runCommand("redis-cli", ["-p", String(server.serverAddress.port), "QUIT"]);
    assert.equal(quit.stdout, "OK\n");
    if (HAS_SERVER) {
      await using redis = await startRedisServer();
      assert.equal((await cli(redis.port)).stdout, TRANSCRIPT, "the transcript is real Redis's");
    } else console.error("redis-server is not installed: the transcript is not re-checked");
  },
});

// Multibulk and inline commands, an unknown one, an empty line and `*0`, all in one write;
// nothing after QUIT is answered.
const PIPELINE = resp("FLUSHALL") + resp("PING") + "PING\r\n" + resp("SET", "k", "va lue") +
  "GET k\r\n" + 'ECHO "quoted \\"value\\"\\x21"\r\n' + "ECHO 'it\\'s' extra\r\n" +
  'ECHO "tab\\tnew\\nline"\n' +
  resp("INCR", "n").repeat(3) + resp("UNKNOWN", "x") + "\r\n" + "*0\r\n" + "*-1\r\n" +
  resp("DEL", "k", "n", "k") + resp("EXISTS", "k") + "  dbsize  \r\n" + 'ECHO "open\r\n';
const PIPELINE_REPLIES = "+OK\r\n+PONG\r\n+PONG\r\n+OK\r\n$6\r\nva lue\r\n" +
  '$15\r\nquoted "value"!\r\n' + "-ERR wrong number of arguments for 'echo' command\r\n" +
  "$12\r\ntab\tnew\nline\r\n" +
  ":1\r\n:2\r\n:3\r\n-ERR unknown command 'UNKNOWN', with args beginning with: 'x' \r\n" +
  ":2\r\n:0\r\n:0\r\n-ERR Protocol error: unbalanced quotes in request\r\n";

Deno.test("examples/resp_server.ts: a pipeline in one write gets every reply, in order, and closes after a protocol error", async () => {
  await using server = serve();
  assert.equal(await exchange(server, PIPELINE), PIPELINE_REPLIES);
  const quit = resp("SET", "a", "1") + "QUIT\r\n" + resp("GET", "a");
  assert.equal(await exchange(server, quit), "+OK\r\n+OK\r\n");
});

Deno.test({
  name: "examples/resp_server.ts: redis-server answers the same pipeline with the same bytes",
  ignore: !HAS_SERVER,
  async fn() {
    await using redis = await startRedisServer();
    assert.equal(await exchange(tcp(redis.port), PIPELINE), PIPELINE_REPLIES);
  },
});

// Inline commands as redis-server 7 splits them (sdssplitargs), and the protocol's corners; each
// request is sent on a connection of its own, then EOF.
const CORNERS: [string, string][] = [
  ['ECHO a"b c"\r\n', "$4\r\nab c\r\n"], // a quote opens inside a word
  ["ECHO ab'c d'\r\n", "$5\r\nabc d\r\n"],
  ["ECHO 'it\\'s'\r\n", "$4\r\nit's\r\n"],
  ['ECHO "\\x41\\x4g\\q\\\\"\r\n', "$6\r\nAx4gq\\\r\n"], // \xHH, else the char itself
  ['ECHO ""\r\n', "$0\r\n\r\n"],
  ["ECHO a\vb\r\n", "$3\r\na\vb\r\n"], // \v and \f do not end a word...
  ["\v\fECHO ab \f\r\n", "$2\r\nab\r\n"], // ...but are blanks between words
  ["NOSUCH a\fb c\r\n", "-ERR unknown command 'NOSUCH', with args beginning with: 'a\fb' 'c' \r\n"],
  ['ECHO "a"b\r\n', "-ERR Protocol error: unbalanced quotes in request\r\n"], // a closing quote ends it
  ["ECHO 'a\\'\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"],
  ['ECHO "a\\\r\n', "-ERR Protocol error: unbalanced quotes in request\r\n"],
  ["*1\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n"],
  ["SET nonl v", ""], // no newline before EOF: never run
  ["*3\r\n$3\r\nSET\r\n$4\r\nnonl\r\n$1\r\nv", ""],
  ["GET nonl\r\n", "$-1\r\n"],
];

Deno.test("examples/resp_server.ts: inline quoting and protocol corners are answered as redis-server answers them", async () => {
  await using server = serve();
  for (const [request, reply] of CORNERS) {
    assert.equal(await exchange(server, request, true), reply, request);
  }
  if (HAS_SERVER) {
    await using redis = await startRedisServer();
    for (const [request, reply] of CORNERS) {
      assert.equal(
        await exchange(tcp(redis.port), request, true),
        reply,
        `redis-server: ${request}`,
      );
    }
  } else console.error("redis-server is not installed: the corners are not re-checked");
});

Deno.test("examples/resp_server.ts: replies go out before the handler waits for more input", async () => {
  await using server = serve();
  // each leaves bytes buffered after PING that are not a whole command
  const tails = ["\r\n", "*0\r\n", "*-1\r\n", "PI", "*2\r\n$4\r\nECHO\r\n$2\r\nh"];
  for (const tail of tails) {
    const conn = await server.connect();
    try {
      await conn.write(encoder.encode("PING\r\n" + tail)); // and the connection stays open
      const reader = new BufferedReader(conn, { timeout: 2_000 });
      assert.equal(decoder.decode(await reader.readline()), "+PONG\r\n", JSON.stringify(tail));
    } finally {
      conn.close();
    }
  }
});

Deno.test("examples/resp_server.ts: SET stores a copy of the value, not a view pinning the connection's buffer", async () => {
  await using server = serve();
  const request = resp("SET", "bulk", "v") + "SET inline v\r\n" + "QUIT\r\n";
  assert.equal(await exchange(server, request), "+OK\r\n+OK\r\n+OK\r\n");
  for (const key of ["bulk", "inline"]) {
    const { value } = server.data.get(key)!;
    assert.equal(value.buffer.byteLength, 1, `the value of "${key}" holds only its own byte`);
  }
});

Deno.test("examples/resp_server.ts: a client that sends but never reads is dropped after writeTimeout", async () => {
  class Impatient extends RespHandler {
    override writeTimeout = 100;
  }
  await using server = serve(Impatient);
  const conn = await server.connect();
  try {
    const echo = encoder.encode(resp("ECHO", "x".repeat(256 * 1024)));
    const error = await within(
      (async () => {
        try {
          for (;;) await writeAll(conn, echo); // the server's replies fill the buffers, then stall
        } catch (error) {
          return error;
        }
      })(),
      10_000,
      "the server to drop a client that does not read",
    );
    assert.ok(
      error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe,
      String(error),
    );
  } finally {
    conn.close();
  }
});

Deno.test("examples/resp_server.ts: 2000 pipelined INCRs across many reads come back in order", async () => {
  await using server = serve();
  const request = resp("INCR", "counter").repeat(2000) + "QUIT\r\n";
  const expected = Array.from({ length: 2000 }, (_, i) => `:${i + 1}\r\n`).join("") + "+OK\r\n";
  assert.equal(await exchange(server, request), expected);
});

Deno.test("examples/resp_server.ts: oversized bulk strings, arrays and inline lines get Redis's protocol errors", async () => {
  class Small extends RespHandler {
    override maxBulkLength = 8;
    override maxArrayLength = 3;
  }
  await using server = serve(Small);
  // within the limits
  assert.equal(
    await exchange(server, resp("ECHO", "12345678") + "QUIT\r\n"),
    "$8\r\n12345678\r\n+OK\r\n",
  );
  // one byte over: the error, then the connection closes without reading the body
  assert.equal(
    await exchange(server, resp("PING") + resp("ECHO", "123456789") + resp("PING")),
    "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n",
  );
  assert.equal(
    await exchange(server, resp("DEL", "a", "b", "c")),
    "-ERR Protocol error: invalid multibulk length\r\n",
  );
  assert.equal(
    await exchange(server, "*1\r\n$-1\r\n"),
    "-ERR Protocol error: invalid bulk length\r\n",
  );
  assert.equal(
    await exchange(server, "*x\r\n"),
    "-ERR Protocol error: invalid multibulk length\r\n",
  );
  assert.equal(
    await exchange(server, "*1\r\n+PING\r\n"),
    "-ERR Protocol error: expected '$', got '+'\r\n",
  );
  const inline = "ECHO " + "x".repeat(70_000);
  assert.equal(await exchange(server, inline), "-ERR Protocol error: too big inline request\r\n");
  // the defaults: a 1 GB bulk string is refused on its header alone
  await using defaults = serve();
  assert.equal(
    await exchange(defaults, "*1\r\n$1000000000\r\n"),
    "-ERR Protocol error: invalid bulk length\r\n",
  );
});

Deno.test("examples/resp_server.ts: SET EX/PX keys expire, on access and in serviceActions()", async () => {
  await using server = serve(RespHandler, 10);
  const setup = resp("SET", "short", "v", "PX", "200") + resp("SET", "long", "v", "EX", "100") +
    resp("GET", "short") + resp("SET", "idle", "v", "PX", "1") + "QUIT\r\n";
  assert.equal(await exchange(server, setup), "+OK\r\n+OK\r\n$1\r\nv\r\n+OK\r\n+OK\r\n");
  const deadline = Date.now() + 5_000;
  let reply = "";
  while (Date.now() < deadline) {
    reply = await exchange(server, resp("GET", "short") + resp("GET", "long") + "QUIT\r\n");
    if (reply.startsWith("$-1")) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(reply, "$-1\r\n$1\r\nv\r\n+OK\r\n");
  // "idle" was never read again: the periodic sweep removed it
  assert.deepEqual([...server.data.keys()], ["long"]);
});

Deno.test("examples/resp_server.ts: one serviceActions() looks at sweepBatch keys at most, going round the keyspace", async () => {
  await using server = serve();
  server.sweepBatch = 4;
  const value = encoder.encode("v");
  for (let i = 0; i < 10; i++) server.data.set(`expired${i}`, { value, expiresAt: 0 });
  server.data.set("live", { value, expiresAt: Infinity });
  server.serviceActions();
  assert.equal(server.data.size, 7, "4 keys looked at, all expired");
  server.serviceActions();
  server.serviceActions();
  assert.deepEqual([...server.data.keys()], ["live"]);
});

Deno.test({
  name:
    "examples/resp_server.ts: redis-benchmark -n 20000 -P 16 -t ping,set,get gets no error replies",
  ignore: !HAS_BENCHMARK,
  async fn() {
    await using server = serveLoopback(RespServer, RespHandler);
    const args = ["-h", "127.0.0.1", "-p", String(server.serverAddress.port)];
    // An error reply makes redis-benchmark 7 print "Error from server: ..." and exit 1; older
    // ones count it as an answer and print it only with -e, which 7 warns is a no-op.
    const { code, stdout, stderr } = await runCommand(
      "redis-benchmark",
      [...args, "-q", "-e", "-t", "ping,set,get", "-n", "20000", "-P", "16"],
      { timeoutMs: 60_000 },
    );
    assert.doesNotMatch(stdout + stderr, /Error from server/, stdout + stderr);
    assert.equal(stderr.replace(/^WARNING: -e option has no effect\..*\n/m, ""), "");
    assert.equal(code, 0);
    const tests = [...stdout.matchAll(/(\w+): [\d.]+ requests per second/g)].map((m) => m[1]);
    assert.deepEqual(tests, ["PING_INLINE", "PING_MBULK", "SET", "GET"]);
    // its SETs all went to one key, with a 3-byte value (-d 3)
    assert.deepEqual([...server.data.keys()], ["key:__rand_int__"]);
    assert.equal(server.data.get("key:__rand_int__")!.value.length, 3);
  },
});

Deno.test({
  name:
    "examples/resp_server.ts as a program: prints its port, answers redis-cli, stops on SIGINT and on SIGTERM",
  ignore: !HAS_CLI,
  async fn() {
    for (const signal of STOP_SIGNALS) {
      await using example = await startExample("resp_server");
      const [, host, port] = example.match;
      assert.equal(
        (await runCommand("redis-cli", ["-h", host, "-p", port, "PING"])).stdout,
        "PONG\n",
      );
      await stopExampleWith(example, "RESP server", signal);
    }
  },
});

Deno.test("examples/resp_server.ts: a client that sends half a command and vanishes leaves nothing behind", async () => {
  await using server = serve();
  const conn = await server.connect();
  await conn.write(encoder.encode("*2\r\n$3\r\nGET\r\n$5\r\nab"));
  conn.close();
  // the handler sees EOF mid-command and ends; the server then closes with no request open
  const probe = await server.connect();
  const reader = new BufferedReader(probe);
  await probe.write(encoder.encode("PING\r\n"));
  assert.equal(decoder.decode(await reader.readline()), "+PONG\r\n");
  probe.close();
});
