import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  TCPServer,
  ThreadingMixIn,
  ThreadingTCPServer,
  ThreadingUDPServer,
  ThreadingUnixStreamServer,
  UDPServer,
  UnixStreamServer,
} from "../mod.ts";
import { withTempDir } from "./_files.ts";
import { exchange } from "./_net.ts";
import { runCommand } from "./_process.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** Prints the listen() backlog of the listening TCP socket on port `key`, or
 * of the Unix socket at path `key`, as the kernel reports it through
 * sock_diag (what `ss -l` shows as Send-Q); /proc/net/tcp does not show it. */
const BACKLOG_SCRIPT = String.raw`
import socket, struct, sys

def dump(family, request):
    """Yields the messages of a sock_diag dump: (payload offset, data)."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)  # NETLINK_SOCK_DIAG
    s.send(struct.pack("=IHHII", 16 + len(request), 20, 0x301, 1, 0) + request)
    try:
        while True:
            data = s.recv(1 << 16)
            off = 0
            while off < len(data):
                length, kind = struct.unpack_from("=IH", data, off)
                if kind in (2, 3):  # NLMSG_ERROR, NLMSG_DONE
                    return
                yield data[off + 16:off + length]
                off += (length + 3) & ~3
    finally:
        s.close()

LISTEN = 1 << 10
kind, key = sys.argv[1], sys.argv[2]
if kind == "tcp":
    for family in (socket.AF_INET, socket.AF_INET6):
        request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, LISTEN) + bytes(48)
        for msg in dump(family, request):
            if struct.unpack_from(">H", msg, 4)[0] == int(key):
                print(struct.unpack_from("=I", msg, 60)[0])  # idiag_wqueue
                sys.exit(0)
else:
    request = struct.pack("=BBHIIIII", socket.AF_UNIX, 0, 0, LISTEN, 0, 0x11, 0xFFFFFFFF, 0xFFFFFFFF)
    for msg in dump(socket.AF_UNIX, request):
        off, name, backlog = 16, None, None
        while off + 4 <= len(msg):
            length, attr = struct.unpack_from("=HH", msg, off)
            value = msg[off + 4:off + length]
            if attr == 0:  # UNIX_DIAG_NAME
                name = value.rstrip(b"\0").decode()
            elif attr == 4:  # UNIX_DIAG_RQLEN: queued, backlog
                backlog = struct.unpack_from("=II", value)[1]
            off += (length + 3) & ~3
        if name == key:
            print(backlog)
            sys.exit(0)
sys.exit("no listening socket at %s" % key)
`;

/**
 * The backlog the kernel keeps for a listening socket: TCP on `key` = port,
 * or Unix at `key` = path. Read through python3 (sock_diag netlink), which
 * the tests already run; Deno has no such API.
 */
async function listenBacklog(kind: "tcp" | "unix", key: string | number): Promise<number> {
  const { code, stdout, stderr } = await runCommand("python3", [
    "-c",
    BACKLOG_SCRIPT,
    kind,
    String(key),
  ]);
  assert.equal(code, 0, stderr);
  return Number(stdout.trim());
}

Deno.test("TCPServer.allowReusePort as a static override in a subclass takes effect for the bind inside the constructor", async () => {
  // SO_REUSEPORT is only set if the bind saw the override: two servers can
  // then share one port, which a plain bind refuses.
  class Shared extends TCPServer {
    static override allowReusePort = true;
  }
  await using first = new Shared(LOCAL, BaseRequestHandler);
  assert.equal(first.allowReusePort, true);
  await using second = new Shared(
    { hostname: "127.0.0.1", port: first.serverAddress.port },
    BaseRequestHandler,
  );
  assert.equal(second.serverAddress.port, first.serverAddress.port);
  assert.throws(
    () =>
      new TCPServer({ hostname: "127.0.0.1", port: first.serverAddress.port }, BaseRequestHandler),
    Deno.errors.AddrInUse,
  );
});

Deno.test("TCPServer.allowReusePort as a getter override in a subclass also takes effect for the bind inside the constructor", async () => {
  class Shared extends TCPServer {
    override get allowReusePort(): boolean {
      return true;
    }
  }
  await using first = new Shared(LOCAL, BaseRequestHandler);
  await using second = new Shared(
    { hostname: "127.0.0.1", port: first.serverAddress.port },
    BaseRequestHandler,
  );
  assert.equal(second.serverAddress.port, first.serverAddress.port);
});

Deno.test("TCPServer(address, Handler, options): an option beats the class attribute, for this instance only", async () => {
  class Patient extends TCPServer {
    static override timeout = 5_000;
    static override requestQueueSize = 64;
  }
  await using a = new Patient(LOCAL, BaseRequestHandler, { timeout: 10, requestQueueSize: 8 });
  await using b = new Patient(LOCAL, BaseRequestHandler);
  assert.equal(a.timeout, 10);
  assert.equal(a.requestQueueSize, 8);
  assert.equal(b.timeout, 5_000);
  assert.equal(b.requestQueueSize, 64);
  assert.equal(Patient.timeout, 5_000);
  assert.equal(TCPServer.timeout, null);
});

Deno.test("TCPServer.timeout assigned on an instance changes that instance and not the class", async () => {
  let timeouts = 0;
  class Counting extends TCPServer {
    override handleTimeout() {
      timeouts++;
    }
  }
  await using server = new Counting(LOCAL, BaseRequestHandler);
  server.timeout = 5;
  await server.handleRequest();
  assert.equal(timeouts, 1);
  assert.equal(Counting.timeout, null);
  assert.throws(() => (server.timeout = -1), RangeError);
  assert.throws(() => (server.timeout = "5" as unknown as number), TypeError);
});

Deno.test("TCPServer defaults: timeout null, requestQueueSize 511, allowReuseAddress true, allowReusePort false", async () => {
  await using server = new TCPServer(LOCAL, BaseRequestHandler);
  assert.equal(server.timeout, null);
  assert.equal(server.requestQueueSize, 511);
  assert.equal(server.allowReuseAddress, true);
  assert.equal(server.allowReusePort, false);
  assert.equal(server.socketType, "SOCK_STREAM");
  assert.equal(server.addressFamily, "AF_INET");
  assert.equal(server.RequestHandlerClass, BaseRequestHandler);
});

Deno.test("TCPServer.allowReuseAddress false is refused, since Deno always sets SO_REUSEADDR", () => {
  class Strict extends TCPServer {
    static override allowReuseAddress = false;
  }
  assert.throws(
    () => new Strict(LOCAL, BaseRequestHandler),
    /allowReuseAddress false cannot be honoured/,
  );
});

Deno.test("requestQueueSize is the listen backlog the kernel keeps, from the class attribute or the option", async () => {
  class Small extends TCPServer {
    static override requestQueueSize = 7;
  }
  await using byClass = new Small(LOCAL, BaseRequestHandler);
  await using byOption = new ThreadingTCPServer(LOCAL, BaseRequestHandler, {
    requestQueueSize: 13,
  });
  await using byDefault = new TCPServer({ hostname: "::1", port: 0 }, BaseRequestHandler);
  assert.equal(await listenBacklog("tcp", byClass.serverAddress.port), 7);
  assert.equal(await listenBacklog("tcp", byOption.serverAddress.port), 13);
  assert.equal(await listenBacklog("tcp", byDefault.serverAddress.port), 511);
});

Deno.test("requestQueueSize must be a positive integer", () => {
  assert.throws(
    () => new TCPServer(LOCAL, BaseRequestHandler, { requestQueueSize: 0 }),
    /"requestQueueSize" must be a positive integer, got 0/,
  );
});

Deno.test("ThreadingMixIn class attributes: blockOnClose and daemonThreads, static and per instance", async () => {
  class Daemonic extends ThreadingMixIn(TCPServer) {
    static override daemonThreads = true;
  }
  await using a = new Daemonic(LOCAL, BaseRequestHandler);
  await using b = new ThreadingTCPServer(LOCAL, BaseRequestHandler, { blockOnClose: false });
  assert.equal(a.daemonThreads, true);
  assert.equal(a.blockOnClose, true);
  assert.equal(b.daemonThreads, false);
  assert.equal(b.blockOnClose, false);
  assert.equal(ThreadingTCPServer.blockOnClose, true);
});

Deno.test("TCPServer on ::1 reports AF_INET6 and its address, and serves", async () => {
  class Echo extends BaseRequestHandler {
    override async handle() {
      const buf = new Uint8Array(64);
      const n = await this.request.read(buf);
      await this.request.write(buf.subarray(0, n ?? 0));
    }
  }
  await using server = new TCPServer({ hostname: "::1", port: 0 }, Echo);
  assert.equal(server.addressFamily, "AF_INET6");
  assert.equal(server.serverAddress.hostname, "::1");
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, "six\n"), "six\n");
  await server.shutdown();
  await serving;
});

Deno.test("BaseRequestHandler<Server>: a typed handler reaches its own server's members without casts", async () => {
  class Counter extends ThreadingTCPServer {
    hits = 0;
  }
  class Hit extends BaseRequestHandler<Counter> {
    override async handle() {
      this.server.hits++; // typed: Counter
      await this.request.write(new TextEncoder().encode(String(this.server.hits)));
    }
  }
  await using server = new Counter(LOCAL, Hit);
  const serving = server.serveForever();
  assert.equal(await exchange(server.serverAddress, ""), "1");
  assert.equal(await exchange(server.serverAddress, ""), "2");
  await server.shutdown();
  await serving;
});

Deno.test("UDPServer has allowReusePort, false like Python's; true is refused, since Deno.listenDatagram cannot set SO_REUSEPORT", () => {
  assert.equal(UDPServer.allowReusePort, false);
  const refused = (error: unknown) =>
    error instanceof RangeError &&
    error.message.startsWith(
      "allowReusePort true cannot be honoured by UDPServer: Deno.listenDatagram has no SO_REUSEPORT option; remove the override",
    );
  class Shared extends UDPServer {
    static override allowReusePort = true;
  }
  assert.throws(() => new Shared(LOCAL, BaseRequestHandler), refused);
  assert.throws(
    () => new ThreadingUDPServer(LOCAL, BaseRequestHandler, { allowReusePort: true }),
    refused,
  );
  const server = new UDPServer(LOCAL, BaseRequestHandler, { bindAndActivate: false });
  assert.equal(server.allowReusePort, false);
  server.allowReusePort = true;
  assert.throws(() => server.serverBind(), refused);
  assert.equal(server.socket, undefined);
});

Deno.test("UnixStreamServer.requestQueueSize is 1024, the backlog Deno listens with", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/backlog.sock`;
    await using server = new ThreadingUnixStreamServer({ path }, BaseRequestHandler);
    assert.equal(UnixStreamServer.requestQueueSize, 1024);
    assert.equal(server.requestQueueSize, 1024);
    // the kernel caps a backlog at net.core.somaxconn (4096 since Linux 5.4)
    const somaxconn = await runCommand("python3", [
      "-c",
      'print(open("/proc/sys/net/core/somaxconn").read())',
    ]);
    // the listening socket's own name: the private path it was bound at
    // (see UnixSocketOptions.socketMode), which the kernel reports
    assert.equal(
      await listenBacklog("unix", (server.socket.addr as Deno.UnixAddr).path!),
      Math.min(server.requestQueueSize, Number(somaxconn.stdout.trim())),
    );
  }));

Deno.test("UnixStreamServer.requestQueueSize overridden in a subclass is refused: Deno takes no backlog for Unix sockets", () =>
  withTempDir(async (dir) => {
    class Deep extends UnixStreamServer {
      static override requestQueueSize = 64;
    }
    assert.throws(
      () => new Deep({ path: `${dir}/deep.sock` }, BaseRequestHandler),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message ===
          "requestQueueSize 64 cannot be honoured by UnixStreamServer: Deno.listen takes no backlog for Unix sockets and always listens with 1024; remove the override",
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    await Promise.resolve();
  }));

Deno.test("TCPServer.timeout overridden as an instance field is a compile error, as static it type-checks", async () => {
  // the guide promises the silent Python-to-TypeScript bug (a field set after the bind) cannot compile
  const mod = new URL("../mod.ts", import.meta.url).href;
  const check = async (member: string) => {
    const file = await Deno.makeTempFile({ dir: "/tmp", suffix: ".ts" });
    try {
      await Deno.writeTextFile(
        file,
        `import { TCPServer } from "${mod}";\nexport class Patient extends TCPServer {\n  ${member}\n}\n`,
      );
      return await runCommand("deno", ["check", "--unstable-net", "--no-config", file]);
    } finally {
      await Deno.remove(file);
    }
  };
  const field = await check("override timeout = 5000;");
  assert.notEqual(field.code, 0, "an instance field override type-checked");
  assert.match(field.stderr, /TS2610/); // defined as an accessor in the base, overridden as a property
  const attribute = await check("static override timeout = 5000;");
  assert.equal(attribute.code, 0, attribute.stderr);
});
