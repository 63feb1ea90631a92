/**
 * UnixStreamServer and UnixDatagramServer: the socket file's life (created,
 * removed on close, stale files, other files), permissions, unnamed and
 * concurrent datagram clients.
 */

import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  type DatagramRequest,
  ThreadingUnixDatagramServer,
  UnixDatagramServer,
  UnixStreamServer,
} from "../mod.ts";
import { pathExists, withTempDir } from "./_files.ts";
import { decoder, encoder } from "./_net.ts";
import { bindInSubprocess } from "./_process.ts";
import {
  datagramRounds,
  EchoDatagram,
  EchoLine,
  HAS_PYTHON,
  NO_PYTHON,
  streamRounds,
  TEST_STR,
} from "./_python.ts";
import { within } from "./_wait.ts";

/** Each Unix server class with a handler that echoes, and how to talk to it. */
const kinds = [
  {
    name: "UnixStreamServer",
    make: (path: string, options = {}) => new UnixStreamServer({ path }, EchoLine, options),
    echo: async (address: Deno.UnixAddr) =>
      (await streamRounds(() => Deno.connect({ transport: "unix", path: address.path })))[0],
    /** Leaves a socket file at `path` with nothing behind it, as a crash does. */
    stale: (path: string) => Deno.listen({ transport: "unix", path }).close(),
    live: (path: string) => Deno.listen({ transport: "unix", path }),
  },
  {
    name: "UnixDatagramServer",
    make: (path: string, options = {}) => new UnixDatagramServer({ path }, EchoDatagram, options),
    echo: async (address: Deno.UnixAddr, dir: string) => {
      const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
      try {
        return (await datagramRounds(client, address))[0];
      } finally {
        client.close();
      }
    },
    live: (path: string) => Deno.listenDatagram({ transport: "unixpacket", path }),
  },
];

/**
 * Leaves a socket file at `path` with nothing bound to it, as a crashed
 * server does. (A closed `unixpacket` socket keeps its file; Deno 2.9
 * unlinks a stream listener's file when the listener closes.)
 */
function leaveStaleSocket(path: string): void {
  Deno.listenDatagram({ transport: "unixpacket", path }).close();
}

async function isSocket(path: string): Promise<boolean> {
  return (await Deno.lstat(path)).isSocket === true;
}

for (const kind of kinds) {
  Deno.test(`${kind.name} creates its socket file when constructed and removes it on serverClose()`, () =>
    withTempDir(async (dir) => {
      const path = `${dir}/server.sock`;
      const server = kind.make(path);
      assert.equal(await isSocket(path), true);
      assert.equal(server.serverAddress.path, path);
      assert.equal(server.addressFamily, "AF_UNIX");
      await server.serverClose();
      assert.equal(await pathExists(path), false);
    }));

  Deno.test(`${kind.name} refuses a stale socket file with AddrInUse and leaves it there`, () =>
    withTempDir(async (dir) => {
      const path = `${dir}/server.sock`;
      leaveStaleSocket(path);
      assert.throws(
        () => kind.make(path),
        (e: Error) =>
          e instanceof Deno.errors.AddrInUse && e.message.includes(path) &&
          e.message.includes("reclaimStaleSocket"),
      );
      assert.equal(await isSocket(path), true);
    }));

  Deno.test(`${kind.name} with reclaimStaleSocket removes a socket file nothing answers on, and binds`, () =>
    withTempDir(async (dir) => {
      const path = `${dir}/server.sock`;
      leaveStaleSocket(path);
      const server = kind.make(path, { reclaimStaleSocket: true, bindAndActivate: false });
      await server.serverBind();
      server.serverActivate();
      server.serveForever();
      assert.equal(await kind.echo(server.serverAddress, dir), TEST_STR); // a live socket now
      await server.shutdown();
      await server.serverClose();
      assert.equal(await pathExists(path), false);
    }));

  for (const other of kinds) {
    Deno.test(`${kind.name} with reclaimStaleSocket refuses a socket file a live ${other.name} is bound to`, () =>
      withTempDir(async (dir) => {
        const path = `${dir}/server.sock`;
        const live = other.live(path);
        try {
          const server = kind.make(path, { reclaimStaleSocket: true, bindAndActivate: false });
          await assert.rejects(
            async () => await server.serverBind(),
            (e: Error) => e instanceof Deno.errors.AddrInUse && e.message.includes("is in use"),
          );
          await server.serverClose();
          assert.equal(await isSocket(path), true); // still the live one's
        } finally {
          live.close();
        }
      }));
  }

  Deno.test(`${kind.name} with reclaimStaleSocket asks for bindAndActivate: false, since the check is async`, () =>
    withTempDir(async (dir) => {
      assert.throws(
        () => kind.make(`${dir}/server.sock`, { reclaimStaleSocket: true }),
        (e: Error) => e instanceof TypeError && e.message.includes("bindAndActivate: false"),
      );
      assert.equal(await pathExists(`${dir}/server.sock`), false);
    }));

  Deno.test(`${kind.name} leaves a regular file at its path untouched and says so, even with reclaimStaleSocket`, () =>
    withTempDir(async (dir) => {
      const path = `${dir}/important.txt`;
      await Deno.writeTextFile(path, "keep me");
      const notASocket = (e: Error) =>
        e instanceof Deno.errors.AlreadyExists && e.message.includes("is not a socket") &&
        e.message.includes("untouched");
      assert.throws(() => kind.make(path), notASocket);
      const reclaiming = kind.make(path, { reclaimStaleSocket: true, bindAndActivate: false });
      assert.throws(() => reclaiming.serverBind(), notASocket);
      await reclaiming.serverClose();
      assert.equal(await Deno.readTextFile(path), "keep me");
    }));

  Deno.test(`${kind.name} leaves a directory at its path untouched`, () =>
    withTempDir(async (dir) => {
      const path = `${dir}/sub`;
      await Deno.mkdir(path);
      await Deno.writeTextFile(`${path}/inside`, "x");
      assert.throws(() => kind.make(path), Deno.errors.AlreadyExists);
      assert.equal(await Deno.readTextFile(`${path}/inside`), "x");
    }));

  Deno.test(`${kind.name} resolves a relative path against the working directory`, () =>
    withTempDir(async (dir) => {
      const cwd = Deno.cwd();
      Deno.chdir(dir);
      try {
        const server = kind.make("./relative.sock");
        assert.equal(server.serverAddress.path, `${await Deno.realPath(dir)}/relative.sock`);
        await server.serverClose();
        assert.equal(await pathExists(`${dir}/relative.sock`), false);
      } finally {
        Deno.chdir(cwd);
      }
    }));
}

// Not for UnixStreamServer: Deno 2.9 itself unlinks a Unix stream listener's
// path when the listener closes, whatever is there then (denoland/deno#31947).
Deno.test(`UnixDatagramServer's serverClose() does not remove a file that replaced its socket file`, () =>
  withTempDir(async (dir) => {
    const path = `${dir}/server.sock`;
    const server = new UnixDatagramServer({ path }, EchoDatagram);
    await Deno.remove(path);
    await Deno.writeTextFile(path, "someone else's");
    await server.serverClose();
    assert.equal(await Deno.readTextFile(path), "someone else's");
  }));

Deno.test("UnixStreamServer and UnixDatagramServer refuse a missing or malformed path", () => {
  // (a string is a path, as in Python: "" is the malformed one)
  for (const bad of [{}, { path: "" }, { path: 42 }, null, "", 42, { path: "a\0b" }]) {
    assert.throws(() => new UnixStreamServer(bad as { path: string }, EchoLine), TypeError);
    assert.throws(() => new UnixDatagramServer(bad as { path: string }, EchoDatagram), TypeError);
  }
});

/** Both Unix server kinds as tests/fixtures/bind.ts names them, with the
 * flag the datagram one needs besides permissions. */
const bindKinds = [
  { kind: "unix", name: "UnixStreamServer", flags: [] as string[] },
  { kind: "unixdgram", name: "UnixDatagramServer", flags: ["--unstable-net"] },
];

for (const { kind, name, flags } of bindKinds) {
  Deno.test(`${name} without net names exactly --allow-net=unix:<path> and creates no file`, () =>
    withTempDir(async (dir) => {
      const path = `${dir}/server.sock`;
      const result = await bindInSubprocess(
        [...flags, `--allow-read=${dir}`, `--allow-write=${dir}`],
        kind,
        path,
      );
      assert.equal(result.ok, false);
      assert.equal(result.name, "NotCapable");
      assert.equal(
        result.message,
        `Binding the Unix socket "${path}" needs more permissions: run with --allow-net=unix:${path}`,
      );
      assert.equal(await pathExists(path), false);
    }));

  Deno.test(`${name} without read and write names --allow-read and --allow-write for the path`, () =>
    withTempDir(async (dir) => {
      const path = `${dir}/server.sock`;
      const result = await bindInSubprocess([...flags, `--allow-net=unix:${path}`], kind, path);
      assert.equal(result.ok, false);
      assert.equal(result.name, "NotCapable");
      assert.equal(
        result.message,
        `Binding the Unix socket "${path}" needs more permissions: run with --allow-read=${path} --allow-write=${path}`,
      );
      assert.equal(await pathExists(path), false);
    }));

  Deno.test(`${name} without write alone names only --allow-write for the path`, () =>
    withTempDir(async (dir) => {
      const path = `${dir}/server.sock`;
      const result = await bindInSubprocess(
        [...flags, `--allow-read=${dir}`, `--allow-net=unix:${path}`],
        kind,
        path,
      );
      assert.equal(result.ok, false);
      assert.equal(result.name, "NotCapable");
      assert.match(result.message!, new RegExp(`: run with --allow-write=${path}$`));
      assert.equal(await pathExists(path), false);
    }));
}

Deno.test("UnixStreamServer and UnixDatagramServer bind with exactly read, write and net unix:<path>", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/server.sock`;
    const flags = [
      "--unstable-net",
      `--allow-read=${path}`,
      `--allow-write=${path}`,
      `--allow-net=unix:${path}`,
    ];
    assert.deepEqual(await bindInSubprocess(flags, "unix", path), { ok: true });
    assert.deepEqual(await bindInSubprocess(flags, "unixdgram", path), { ok: true });
    assert.equal(await pathExists(path), false); // each removed its file on close
  }));

Deno.test("UnixDatagramServer without --unstable-net says to add it", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/server.sock`;
    const result = await bindInSubprocess(
      [`--allow-read=${dir}`, `--allow-write=${dir}`, "--allow-net"],
      "unixdgram",
      path,
    );
    assert.equal(result.ok, false);
    assert.equal(result.name, "NotSupported");
    assert.match(result.message!, /UnixDatagramServer needs .*--unstable-net/);
  }));

Deno.test("UnixDatagramServer: a reply to an unnamed, or a vanished, client is dropped (handleDrop, NotConnected), and serving goes on", () =>
  withTempDir(async (dir) => {
    const errors: unknown[] = [];
    const drops: unknown[] = [];
    const release = Promise.withResolvers<void>();
    class Held extends EchoDatagram {
      override async handle() {
        if (decoder.decode(this.packet) === "wait\n") await release.promise;
        await super.handle();
      }
    }
    class Recording extends UnixDatagramServer {
      override handleError(_r: DatagramRequest, _a: Deno.UnixAddr, error: unknown) {
        errors.push(error);
      }
      override handleDrop(_r: DatagramRequest, _a: Deno.UnixAddr, error: unknown) {
        drops.push(error);
      }
    }
    await using server = new Recording({ path: `${dir}/server.sock` }, Held);
    server.serveForever();
    // an unbound client: its reply has no address to go to
    const unnamed = Deno.listenDatagram({ transport: "unixpacket" });
    // a client that is gone (socket closed, file removed) when its reply is sent
    const vanishing = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/gone.sock` });
    const named = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
    try {
      await unnamed.send(encoder.encode(TEST_STR), server.serverAddress);
      await vanishing.send(encoder.encode("wait\n"), server.serverAddress);
      vanishing.close();
      await Deno.remove(`${dir}/gone.sock`);
      release.resolve();
      await named.send(encoder.encode(TEST_STR), server.serverAddress); // handled in order, last
      const [reply] = await within(named.receive(), 10_000, "reply");
      assert.equal(decoder.decode(reply), TEST_STR);
    } finally {
      unnamed.close();
      named.close();
    }
    assert.deepEqual(errors, []);
    assert.equal(drops.length, 2);
    assert.ok(drops.every((e) => e instanceof Deno.errors.NotConnected));
    assert.match((drops[0] as Error).message, /bind its socket to a path/);
    assert.match((drops[1] as Error).message, /the client's socket is gone/);
  }));

Deno.test("ThreadingUnixDatagramServer replies to 20 clients whose handlers are all in flight at once", () =>
  withTempDir(async (dir) => {
    const count = 20;
    let inFlight = 0;
    const all = Promise.withResolvers<void>();
    class Gathered extends EchoDatagram {
      override async handle() {
        if (++inFlight === count) all.resolve();
        await all.promise; // every handler replies while the others (and a receive) are pending
        await super.handle();
      }
    }
    await using server = new ThreadingUnixDatagramServer({ path: `${dir}/server.sock` }, Gathered);
    server.serveForever();
    const clients = Array.from(
      { length: count },
      (_, i) => Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/c${i}.sock` }),
    );
    try {
      await Promise.all(
        clients.map((c, i) => c.send(encoder.encode(`client ${i}\n`), server.serverAddress)),
      );
      const replies = await Promise.all(
        clients.map((c) => within(c.receive(), 10_000, "reply").then(([r]) => decoder.decode(r))),
      );
      assert.deepEqual(replies, clients.map((_, i) => `client ${i}\n`));
    } finally {
      for (const c of clients) c.close();
    }
  }));

Deno.test("UnixStreamServer: its handler gets a Deno.UnixConn and serves three rounds", () =>
  withTempDir(async (dir) => {
    const kinds: string[] = [];
    class Check extends EchoLine {
      override async handle() {
        kinds.push(this.request.localAddr.transport);
        await super.handle();
      }
    }
    await using server = new UnixStreamServer({ path: `${dir}/server.sock` }, Check);
    server.serveForever();
    assert.equal(server.socketType, "SOCK_STREAM");
    const replies = await streamRounds(() => Deno.connect(server.serverAddress));
    assert.deepEqual(replies, [TEST_STR, TEST_STR, TEST_STR]);
    assert.deepEqual(kinds, ["unix", "unix", "unix"]);
  }));

Deno.test("BaseRequestHandler works on a Unix stream server with the raw connection", () =>
  withTempDir(async (dir) => {
    class Raw extends BaseRequestHandler<UnixStreamServer> {
      override async handle() {
        await this.request.write(encoder.encode("raw\n"));
      }
    }
    await using server = new UnixStreamServer({ path: `${dir}/server.sock` }, Raw);
    server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    assert.equal(await new Response(conn.readable).text(), "raw\n");
  }));

/** A Unix datagram server class whose handlers wait for `release`, and
 * that resolves `nextReceive` when it starts its second receive — the one
 * pending while the first datagram's handler replies. */
function heldServer<C extends typeof UnixDatagramServer>(Server: C) {
  const release = Promise.withResolvers<void>();
  const nextReceive = Promise.withResolvers<void>();
  class Held extends EchoDatagram {
    override async handle() {
      await release.promise;
      await super.handle();
    }
  }
  class Watched extends (Server as typeof UnixDatagramServer) {
    receives = 0;
    override getRequest() {
      if (++this.receives === 2) nextReceive.resolve();
      return super.getRequest();
    }
  }
  return { Watched, Held, release, nextReceive };
}

Deno.test("UnixDatagramServer replies from its own path; ThreadingUnixDatagramServer, with a receive pending, from an unnamed socket", () =>
  withTempDir(async (dir) => {
    const sources: (string | null)[] = [];
    for (const Server of [UnixDatagramServer, ThreadingUnixDatagramServer]) {
      const threading = Server !== UnixDatagramServer;
      const { Watched, Held, release, nextReceive } = heldServer(Server);
      await using server = new Watched({ path: `${dir}/server.sock` }, Held);
      server.serveForever();
      const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
      try {
        await client.send(encoder.encode(TEST_STR), server.serverAddress);
        // a plain server takes no datagram while a handler runs; a threading one does
        if (threading) await within(nextReceive.promise, 10_000, "the next receive");
        release.resolve();
        const [reply, from] = await within(client.receive(), 10_000, "reply");
        assert.equal(decoder.decode(reply), TEST_STR);
        sources.push((from as Deno.UnixAddr).path);
      } finally {
        client.close();
        await Deno.remove(`${dir}/client.sock`);
      }
    }
    assert.deepEqual(sources, [`${dir}/server.sock`, null]);
  }));

Deno.test({
  name:
    `ThreadingUnixDatagramServer: a reply to a client that connect()ed its socket says why it was refused${
      HAS_PYTHON ? "" : ` ${NO_PYTHON}`
    }`,
  ignore: !HAS_PYTHON,
  fn: () =>
    withTempDir(async (dir) => {
      const errors: unknown[] = [];
      const failed = Promise.withResolvers<void>();
      const { Watched: Base, Held, release, nextReceive } = heldServer(ThreadingUnixDatagramServer);
      class Watched extends Base {
        override handleError(_r: DatagramRequest, _a: Deno.UnixAddr, error: unknown) {
          errors.push(error);
          failed.resolve();
        }
      }
      await using server = new Watched({ path: `${dir}/server.sock` }, Held);
      server.serveForever();
      // CPython client: bind, connect to the server, send, then wait for stdin to close
      const python = new Deno.Command("python3", {
        args: [
          "-c",
          "import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\ns.connect(sys.argv[2])\ns.send(b'hello world\\n')\nsys.stdin.read()",
          `${dir}/client.sock`,
          server.serverAddress.path,
        ],
        stdin: "piped",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      try {
        await within(nextReceive.promise, 10_000, "the next receive");
        release.resolve();
        await within(failed.promise, 10_000, "handleError()");
      } finally {
        await python.stdin.close();
        const { code } = await python.output();
        assert.equal(code, 0);
      }
      assert.ok(errors[0] instanceof Deno.errors.PermissionDenied);
      assert.match((errors[0] as Error).message, /connect\(\)ed its socket to the server's path/);
    }),
});
