/**
 * examples/ported/: three Python programs ported as a user would, each run
 * against CPython or curl: the socketserver documentation's ThreadedTCPServer
 * example, the logging cookbook's socket receiver, and an http.server-style
 * server.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  client,
  ThreadedTCPRequestHandler,
  ThreadedTCPServer,
} from "../../examples/ported/threaded_tcp_server.ts";
import {
  logging,
  LogRecordSocketReceiver,
  LogRecordStreamHandler,
  MAX_RECORD_LENGTH,
} from "../../examples/ported/log_receiver.ts";
import { FrameTooLongError, IncompleteReadError } from "../../mod.ts";
import { runHandler } from "../../testing.ts";
import { freePort } from "../_net.ts";
import { hasCommand, runCommand, Subprocess } from "../_process.ts";
import { until, within } from "../_wait.ts";

const HAS_PYTHON = hasCommand("python3");
const HAS_CURL = hasCommand("curl");
const PORTED = new URL("../../examples/ported/", import.meta.url).pathname;
const LOG_SENDER = new URL("../fixtures/log_sender.py", import.meta.url).pathname;

// --- (a) socketserver's "Asynchronous Mixins" example --------------------------------------

Deno.test("examples/ported/threaded_tcp_server.ts: prints the three replies, each from its own task, and exits", async () => {
  const { code, stdout, stderr } = await runCommand("deno", [
    "run",
    "--allow-net=localhost,127.0.0.1",
    `${PORTED}threaded_tcp_server.ts`,
  ]);
  assert.equal(stderr, "");
  assert.equal(code, 0);
  assert.equal(
    stdout,
    "Server loop running in task: serveForever()\n" +
      "Received: Task-1: Hello World 1\n" +
      "Received: Task-2: Hello World 2\n" +
      "Received: Task-3: Hello World 3\n",
  );
});

Deno.test({
  name:
    "examples/ported/threaded_tcp_server.ts: the documentation's CPython client(), in three threads at once, gets each reply",
  ignore: !HAS_PYTHON,
  async fn() {
    await using server = new ThreadedTCPServer(["localhost", 0], ThreadedTCPRequestHandler);
    server.serveForever();
    const script = `
import socket, sys, threading

def client(ip, port, message):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.connect((ip, port))
        sock.sendall(bytes(message, 'ascii'))
        response = str(sock.recv(1024), 'ascii')
        print("Received: {}".format(response), flush=True)

ip, port = sys.argv[1], int(sys.argv[2])
threads = [threading.Thread(target=client, args=(ip, port, f"Hello World {i}")) for i in (1, 2, 3)]
for t in threads: t.start()
for t in threads: t.join()
`;
    const { hostname, port } = server.serverAddress;
    const { code, stdout, stderr } = await runCommand("python3", [
      "-c",
      script,
      hostname,
      String(port),
    ]);
    assert.equal(code, 0, stderr);
    const lines = stdout.trim().split("\n").sort((a, b) => a.slice(-1).localeCompare(b.slice(-1)));
    assert.equal(lines.length, 3, stdout);
    const tasks = new Set<string>();
    lines.forEach((line, i) => {
      const match = /^Received: (Task-\d+): Hello World (\d)$/.exec(line);
      assert.ok(match, line);
      assert.equal(match[2], String(i + 1));
      tasks.add(match[1]);
    });
    assert.equal(tasks.size, 3, "a task each");
    // and the ported client() against it, as the script runs it
    const printed: string[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => printed.push(args.join(" "));
    try {
      await client(hostname, port, "Hello World 4");
    } finally {
      console.log = log;
    }
    assert.match(printed[0], /^Received: Task-\d+: Hello World 4$/);
  },
});

// --- (b) the logging cookbook's socket receiver ---------------------------------------------

Deno.test({
  name:
    "examples/ported/log_receiver.ts: logs what Python's own SocketHandler sends (JSON behind the 4-byte length), in the cookbook's format",
  ignore: !HAS_PYTHON,
  async fn() {
    const port = freePort();
    // stderr (where the records are logged, as basicConfig() logs) joins stdout, line by line
    await using receiver = new Subprocess("sh", [
      "-c",
      'exec deno run --allow-net=localhost,127.0.0.1 "$0" "$1" 2>&1',
      `${PORTED}log_receiver.ts`,
      String(port),
    ]);
    await within(receiver.waitFor(/^About to start TCP server\.\.\.$/), 30_000, "the receiver");
    const sender = await runCommand("python3", [LOG_SENDER, String(port)]);
    assert.equal(sender.code, 0, sender.stderr);
    const expected = [
      "root            INFO     Jackdaws love my big sphinx of quartz.",
      "myapp.area1     DEBUG    Quick zephyrs blow, vexing daft Jim.",
      "myapp.area1     INFO     How quickly daft jumping zebras vex.",
      "myapp.area2     WARNING  Jail zesty vixen who grabbed pay from quack.",
      "myapp.area2     ERROR    The five boxing wizards jump quickly.",
      "myapp.area1     INFO     3 arguments",
      `myapp.area2     INFO     ${"x".repeat(100_000)}`,
    ];
    for (const line of expected) {
      const escaped = line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/x{100000}/, "x{100000}");
      // %(relativeCreated)5d: the sender's milliseconds since its logging started
      await within(receiver.waitFor(new RegExp(`^ *\\d+ ${escaped}$`)), 10_000, line.slice(0, 80));
    }
    assert.deepEqual(receiver.lines.slice(1).map((l) => l.slice(6)), expected, "nothing else");
  },
});

Deno.test("examples/ported/log_receiver.ts: serveUntilStopped() returns once abort is set, within its 1000 ms timeout", async () => {
  await using server = new LogRecordSocketReceiver("localhost", 0);
  assert.equal(server.timeout, 1000);
  const serving = server.serveUntilStopped();
  server.abort = 1;
  await within(serving, 5_000, "serveUntilStopped() to see abort");
});

Deno.test({
  name:
    "examples/ported/log_receiver.ts: a logname set on the server names every record's logger, as in the cookbook",
  ignore: !HAS_PYTHON,
  async fn() {
    await using server = new LogRecordSocketReceiver("localhost", 0, LogRecordStreamHandler);
    server.logname = "received";
    const serving = server.serveUntilStopped();
    const names: string[] = [];
    const getLogger = logging.getLogger;
    logging.getLogger = (name) => ({ handle: () => void names.push(name) });
    try {
      const sender = await runCommand("python3", [LOG_SENDER, String(server.serverAddress.port)]);
      assert.equal(sender.code, 0, sender.stderr);
      await until(() => names.length >= 7, "the seven records", 10_000);
      assert.deepEqual(names, Array(7).fill("received"));
    } finally {
      logging.getLogger = getLogger;
      server.abort = 1;
      await within(serving, 5_000, "serveUntilStopped() to see abort");
    }
  },
});

Deno.test("ported log receiver: a sender announcing a 4 GiB record is dropped with FrameTooLongError before any of it is read; one closing mid-record with IncompleteReadError", async () => {
  {
    await using run = runHandler(LogRecordStreamHandler);
    await run.client.write(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    const { drops } = await run.done;
    assert.ok(drops[0] instanceof FrameTooLongError, String(drops[0]));
    assert.equal(drops[0].limit, MAX_RECORD_LENGTH);
  }
  {
    await using run = runHandler(LogRecordStreamHandler);
    await run.client.write(new Uint8Array([0, 0, 0, 10, 123, 34]));
    await run.client.closeWrite();
    const { drops } = await run.done;
    assert.ok(drops[0] instanceof IncompleteReadError, String(drops[0]));
    assert.deepEqual(drops[0].partial, new Uint8Array([123, 34]));
  }
});

// --- (c) an http.server-style server -------------------------------------------------------

Deno.test({
  name:
    "examples/ported/http_server.ts: curl gets the page naming serverName and serverPort, 414 past 65,536 bytes of request line, and handleError() logs a throwing do_GET",
  ignore: !HAS_CURL,
  async fn() {
    await using server = new Subprocess("deno", [
      "run",
      "--allow-net=127.0.0.1",
      `${PORTED}http_server.ts`,
      "-b",
      "127.0.0.1",
      "0",
    ]);
    const [, port] = await within(
      server.waitFor(
        /^Serving HTTP on 127\.0\.0\.1 port (\d+) \(http:\/\/127\.0\.0\.1:\1\/\) \.\.\.$/,
      ),
      30_000,
      "the server to print where it serves, with the port serverBind() stored",
    );
    const url = `http://127.0.0.1:${port}`;
    const curl = (...args: string[]) => runCommand("curl", ["-sS", ...args]);

    const hello = await curl("-i", `${url}/`);
    assert.match(hello.stdout, /^HTTP\/1\.0 200 OK\r\n/);
    assert.match(hello.stdout, /\r\nServer: HelloHTTP\/0\.1 Deno\/[\d.]+\r\n/);
    assert.ok(hello.stdout.endsWith(`\r\n\r\nHello from 127.0.0.1 port ${port}\n`), hello.stdout);

    // "GET /<path> HTTP/1.1\r\n" is 15 bytes more than the path: 65,536 bytes pass (and find
    // nothing there), 65,537 get 414, as http.server's readline(65537) decides
    const status = async (path: string) =>
      (await curl("-o", "/dev/null", "-w", "%{http_code}", `${url}/${path}`)).stdout;
    assert.equal(await status("a".repeat(65_536 - 16)), "404");
    assert.equal(await status("a".repeat(65_537 - 16)), "414");
    const long = await curl("-i", `${url}/${"a".repeat(70_000)}`);
    assert.match(long.stdout, /^HTTP\/1\.0 414 URI Too Long\r\n/);
    assert.match(long.stdout, /<p>Message: URI Too Long\.<\/p>/);

    const failed = await curl(`${url}/fail`);
    assert.equal(failed.code, 52, "curl: (52) Empty reply from server"); // as from http.server
    assert.equal((await curl(`${url}/`)).stdout, `Hello from 127.0.0.1 port ${port}\n`);

    assert.equal(
      (await curl("-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", `${url}/`)).stdout,
      "501",
    );

    server.child.kill("SIGINT");
    const { status: exit, stdout, stderr } = await within(server.finish(), 10_000, "the exit");
    assert.equal(exit.code, 0, stderr);
    assert.match(stdout, /\nKeyboard interrupt received, exiting\./);
    const log = stderr.split("\n");
    const when = String.raw`\[\d\d/\w{3}/\d{4} \d\d:\d\d:\d\d\]`;
    const at = (pattern: string) =>
      assert.ok(
        log.some((line) => new RegExp(`^127\\.0\\.0\\.1 - - ${when} ${pattern}$`).test(line)),
        `${pattern} in ${stderr.slice(0, 2000)}`,
      );
    at(String.raw`"GET / HTTP/1\.1" 200 -`);
    at(String.raw`code 414, message URI Too Long`);
    at(String.raw`"" 414 -`);
    at(String.raw`error: Error: do_GET failed on purpose`); // handleError(), one line
    at(String.raw`code 501, message Unsupported method \('POST'\)`);
    assert.doesNotMatch(stderr, /Exception occurred during processing/, "no traceback");
  },
});
