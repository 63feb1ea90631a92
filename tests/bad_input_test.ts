import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  TLSServer,
  UDPServer,
  UnixStreamServer,
} from "../mod.ts";
import { pathExists, withTempDir } from "./_files.ts";
import { countOpenDescriptors } from "./_kernel.ts";
import { decoder } from "./_net.ts";
import { runCommand } from "./_process.ts";
import { cert, key } from "./_tls.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const TLS = { cert, key };

const LOCAL = { hostname: "127.0.0.1", port: 0 };

Deno.test("TCPServer({ port }) with a bad port throws TypeError or RangeError before any socket is opened", async () => {
  const before = await countOpenDescriptors();
  const cases: [unknown, ErrorConstructor, RegExp][] = [
    [-1, RangeError, /port must be an integer from 0 to 65535, got -1/],
    [70000, RangeError, /got 70000/],
    [1.5, RangeError, /got 1\.5/],
    [NaN, RangeError, /got NaN/],
    ["80", TypeError, /port must be a number from 0 to 65535, got "80"/],
    [undefined, TypeError, /got undefined/],
  ];
  for (const [port, type, message] of cases) {
    assert.throws(
      () => new TCPServer({ hostname: "127.0.0.1", port } as never, BaseRequestHandler),
      (error: unknown) => error instanceof type && message.test((error as Error).message),
      `port ${String(port)}`,
    );
  }
  assert.equal(await countOpenDescriptors(), before);
});

Deno.test("TCPServer({ hostname }) with a bracketed empty or non-string hostname, or a missing address, throws TypeError", () => {
  assert.throws(
    () => new TCPServer({ hostname: "[]", port: 0 }, BaseRequestHandler),
    /hostname must be a non-empty string, got "\[\]": use "0\.0\.0\.0" for every interface/,
  );
  assert.throws(
    () => new TCPServer({ hostname: 127 as unknown as string, port: 0 }, BaseRequestHandler),
    TypeError,
  );
  assert.throws(() => new TCPServer(null as never, BaseRequestHandler), /must be an object/);
  assert.throws(() => new TCPServer(9999 as never, BaseRequestHandler), TypeError);
});

Deno.test("TCPServer(address, Handler) with a missing or non-class handler throws TypeError before any socket is opened", async () => {
  const before = await countOpenDescriptors();
  for (const handler of [undefined, null, 42, "Handler", {}, () => {}, function plain() {}]) {
    assert.throws(
      () => new TCPServer(LOCAL, handler as never),
      /RequestHandlerClass must be a class extending BaseRequestHandler/,
    );
  }
  class NotAHandler {}
  assert.throws(() => new ThreadingTCPServer(LOCAL, NotAHandler as never), TypeError);
  assert.equal(await countOpenDescriptors(), before);
  // a class with a handle() method that does not extend the base is accepted
  class DuckTyped {
    constructor(readonly request: Deno.TcpConn) {}
    setup() {}
    handle() {}
    finish() {}
  }
  await using server = new TCPServer(LOCAL, DuckTyped as never);
  assert.ok(server.serverAddress.port > 0);
});

Deno.test("TCPServer on an address in use throws AddrInUse naming the address", async () => {
  await using first = new TCPServer(LOCAL, BaseRequestHandler);
  const { port } = first.serverAddress;
  assert.throws(
    () => new TCPServer({ hostname: "127.0.0.1", port }, BaseRequestHandler),
    (error: unknown) =>
      error instanceof Deno.errors.AddrInUse &&
      error.message ===
        `Address "127.0.0.1:${port}" is already in use: stop what holds it, or bind port 0 for a free port`,
  );
});

Deno.test("TCPServer: a thousand failed binds leave the number of open descriptors unchanged", async () => {
  await using first = new TCPServer(LOCAL, BaseRequestHandler);
  const taken = { hostname: "127.0.0.1", port: first.serverAddress.port };
  const before = await countOpenDescriptors();
  for (let i = 0; i < 1000; i++) {
    assert.throws(() => new TCPServer(taken, BaseRequestHandler), Deno.errors.AddrInUse);
  }
  assert.equal(await countOpenDescriptors(), before);
});

Deno.test("TCPServer's timeout and serverClose({ graceMs }) refuse what is not a duration", async () => {
  assert.throws(() => new TCPServer(LOCAL, BaseRequestHandler, { timeout: -5 }), RangeError);
  assert.throws(
    () => new TCPServer(LOCAL, BaseRequestHandler, { timeout: "5" as never }),
    /"timeout" must be a number of milliseconds or null, got "5"/,
  );
  const server = new TCPServer(LOCAL, BaseRequestHandler);
  await assert.rejects(server.serveForever(-1), RangeError);
  await assert.rejects(server.serverClose({ graceMs: -1 }), RangeError);
  await server.serverClose();
});

Deno.test("TCPServer's messages show an object where a value belongs as its literal, not [object Object]", () => {
  assert.throws(
    () => new TCPServer({ hostname: "127.0.0.1", port: { n: 80 } } as never, BaseRequestHandler),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message === "The server address's port must be a number from 0 to 65535, got { n: 80 }",
  );
  assert.throws(
    () => new TCPServer(LOCAL, {} as never),
    /must be a class extending BaseRequestHandler, got \{\}$/,
  );
  assert.throws(
    () => new TCPServer(LOCAL, BaseRequestHandler, { maxConnections: [2] as never }),
    /"maxConnections" must be a positive integer or null, got \[ 2 \]$/,
  );
  assert.throws(
    () => new UDPServer(LOCAL, BaseRequestHandler, { maxPacketSize: "64" as never }),
    /"maxPacketSize" must be a positive integer number of bytes, got "64"$/,
  );
  assert.throws(
    () => new UnixStreamServer({ file: "/tmp/app.sock" } as never, BaseRequestHandler),
    /or an object like \{ path: "\/tmp\/app\.sock" \}, got \{ file: "\/tmp\/app\.sock" \}$/,
  );
});

Deno.test("serverBind() called a second time says the constructor already bound, and how to bind another address", async () => {
  await using server = new TCPServer(LOCAL, BaseRequestHandler);
  assert.throws(
    () => server.serverBind(),
    (error: unknown) =>
      error instanceof Error &&
      error.message ===
        `The server is already bound to "127.0.0.1:${server.serverAddress.port}": the constructor binds unless given { bindAndActivate: false }, so call serverBind() only then; to bind another address create a new server`,
  );
});

Deno.test("TCPServer, UDPServer and TLSServer on a host name that does not resolve name the address and say to check it", () => {
  for (
    const make of [
      () => new TCPServer({ hostname: "no-such-host.invalid", port: 0 }, BaseRequestHandler),
      () => new UDPServer({ hostname: "no-such-host.invalid", port: 0 }, BaseRequestHandler),
      // not a certificate problem, although Deno.listenTls threw it
      () => new TLSServer({ hostname: "no-such-host.invalid", port: 0 }, BaseRequestHandler, TLS),
    ]
  ) {
    assert.throws(
      make,
      (error: unknown) =>
        error instanceof Error && !(error instanceof Deno.errors.InvalidData) &&
        error.message.startsWith(`Binding "no-such-host.invalid:0" failed: `) &&
        error.message.endsWith(
          `: check the host name, or bind an IP address such as "127.0.0.1"`,
        ) &&
        error.cause instanceof Error,
    );
  }
});

Deno.test("UnixStreamServer in a directory that does not exist says to create the directory", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/missing/app.sock`;
    assert.throws(
      () => new UnixStreamServer({ path }, BaseRequestHandler),
      (error: unknown) =>
        error instanceof Deno.errors.NotFound &&
        error.message.startsWith(`Binding the Unix socket "${path}" failed: `) &&
        error.message.endsWith(
          `: create the directory "${dir}/missing" first, or choose a path in one that exists`,
        ),
    );
    assert.equal(await pathExists(path), false);
  }));

/** The first port an unprivileged process may bind, from python3 (Deno
 * lets only --allow-all read /proc). */
const unprivilegedPortStart = Number(
  decoder.decode(
    new Deno.Command("python3", {
      args: ["-c", 'print(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())'],
      stdout: "piped",
      stderr: "null",
    }).outputSync().stdout,
  ).trim() || "0",
);

Deno.test({
  name:
    "TCPServer on a port below 1024 without the privilege says it needs root or CAP_NET_BIND_SERVICE",
  ignore: !(unprivilegedPortStart > 1),
  fn: async () => {
    // As root, the child runs as nobody (python3 drops the privileges
    // before starting it); otherwise it runs as this user.
    const denoDir = await Deno.makeTempDir();
    await Deno.chmod(denoDir, 0o777);
    const program = `
      import { BaseRequestHandler, TCPServer, UDPServer } from "${MOD}";
      for (const Server of [TCPServer, UDPServer]) {
        try {
          new Server({ hostname: "127.0.0.1", port: 1 }, BaseRequestHandler);
          console.log("bound");
        } catch (error) {
          console.log(error.constructor.name + ": " + error.message);
        }
      }
    `;
    const launcher = `
import os, subprocess, sys
def drop():
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
env = dict(os.environ, DENO_DIR=sys.argv[1], HOME=sys.argv[1])
r = subprocess.run(sys.argv[2:], input=sys.stdin.read(), text=True, capture_output=True,
                   preexec_fn=drop, env=env)
sys.stdout.write(r.stdout)
sys.stderr.write(r.stderr)
sys.exit(r.returncode)
`;
    try {
      const { code, stdout, stderr } = await runCommand("python3", [
        "-c",
        launcher,
        denoDir,
        Deno.execPath(),
        "run",
        "--no-prompt",
        "--no-lock",
        "--unstable-net",
        "--allow-net",
        "-",
      ], { input: program });
      assert.equal(code, 0, stderr);
      const advice =
        "ports below 1024 need root or the CAP_NET_BIND_SERVICE capability; bind port 1024 or above, or 0 for a free one";
      const lines = stdout.trim().split("\n");
      assert.equal(lines.length, 2, stdout);
      for (const line of lines) {
        assert.match(line, /^PermissionDenied: Binding "127\.0\.0\.1:1" failed: /);
        assert.ok(line.endsWith(advice), line);
      }
    } finally {
      await Deno.remove(denoDir, { recursive: true });
    }
  },
});
