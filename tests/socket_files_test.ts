/**
 * Unix socket files: `socketMode` decides which local users may connect,
 * with no moment at which a wider mode is connectable; and closing a server
 * never deletes a file it did not create (both Unix servers).
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  DatagramRequestHandler,
  UnixDatagramServer,
  UnixStreamServer,
} from "../mod.ts";
import { pathExists } from "./_files.ts";
import { runCommand, runDenoSource, Subprocess } from "./_process.ts";

const FIXTURE = new URL("./fixtures/unix_mode_server.ts", import.meta.url).pathname;

/** Whether the tests can act as another local user: root with setpriv, and
 * a python3 that user may run. */
function canSwitchUser(): boolean {
  const { stdout } = new Deno.Command("sh", {
    args: [
      "-c",
      'test "$(id -u)" = 0 && command -v setpriv >/dev/null && test -x /usr/bin/python3 && echo yes',
    ],
  }).outputSync();
  if (new TextDecoder().decode(stdout).trim() === "yes") return true;
  console.error(
    "not root with setpriv and /usr/bin/python3: the tests that connect as another user are skipped",
  );
  return false;
}

/** Starts the fixture server under `umask 000` (the widest default mode). */
async function serverUnderUmask000(
  kind: "stream" | "dgram",
  path: string,
  mode?: string,
): Promise<{ proc: Subprocess; fileMode: string }> {
  const proc = new Subprocess("sh", [
    "-c",
    `umask 000 && exec deno run --unstable-net -A "$0" "$@"`,
    FIXTURE,
    kind,
    path,
    ...(mode ? [mode] : []),
  ]);
  const [, fileMode] = await proc.waitFor(/^ready (\d+)$/);
  return { proc, fileMode };
}

/** Tries, as user nobody, to talk to the socket: "echo" when served,
 * "denied" when the file's mode refuses the connect or the send. */
async function asNobody(kind: "stream" | "dgram", path: string): Promise<string> {
  const script = kind === "stream"
    ? `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("denied"); sys.exit(0)
s.sendall(b"hi\\n")
print("echo" if s.makefile("rb").readline() == b"hi\\n" else "wrong")
`
    : `
import os, socket, sys, tempfile
d = tempfile.mkdtemp()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.settimeout(10)
s.bind(os.path.join(d, "c"))
try:
    s.sendto(b"hi", sys.argv[1])
except PermissionError:
    print("denied"); sys.exit(0)
print("echo" if s.recv(64) == b"hi" else "wrong")
`;
  const { code, stdout, stderr } = await runCommand("sh", [
    "-c",
    // the system's python3: another user may not run one installed for root
    `exec setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c "$0" "$1"`,
    script,
    path,
  ]);
  assert.equal(code, 0, stderr);
  return stdout.trim();
}

for (const kind of ["stream", "dgram"] as const) {
  const Server = kind === "stream" ? "UnixStreamServer" : "UnixDatagramServer";

  Deno.test(`${Server}: under umask 000 another local user is served; with socketMode 0o600 the file is 0600 and that user is refused`, async () => {
    if (!canSwitchUser()) return;
    const dir = await Deno.makeTempDir();
    await Deno.chmod(dir, 0o755); // nobody may reach the socket; its mode decides
    try {
      {
        const { proc, fileMode } = await serverUnderUmask000(kind, `${dir}/open.sock`);
        assert.equal(fileMode, "777");
        assert.equal(await asNobody(kind, `${dir}/open.sock`), "echo");
        await proc.child.stdin.close();
        assert.equal((await proc.finish()).status.code, 0);
      }
      {
        const { proc, fileMode } = await serverUnderUmask000(kind, `${dir}/closed.sock`, "600");
        assert.equal(fileMode, "600");
        assert.equal(await asNobody(kind, `${dir}/closed.sock`), "denied");
        // the private directory it was bound in is gone
        const names = [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
        assert.deepEqual(names, ["closed.sock"]);
        await proc.child.stdin.close();
        assert.equal((await proc.finish()).status.code, 0);
      }
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`${Server}: serverClose() leaves alone a socket file another server put at its path`, async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/app.sock`;
    try {
      const server = kind === "stream"
        ? new UnixStreamServer({ path }, BaseRequestHandler)
        : new UnixDatagramServer({ path }, DatagramRequestHandler);
      // someone removes the file and binds their own socket there
      await Deno.remove(path);
      const other = kind === "stream"
        ? Deno.listen({ transport: "unix", path })
        : Deno.listenDatagram({ transport: "unixpacket", path });
      const ino = (await Deno.lstat(path)).ino;
      await server.serverClose();
      assert.equal(await pathExists(path), true, "the other server's socket file was deleted");
      assert.equal((await Deno.lstat(path)).ino, ino);
      if (kind === "stream") {
        const accepting = (other as Deno.UnixListener).accept();
        const conn = await Deno.connect({ transport: "unix", path });
        (await accepting).close();
        conn.close();
      }
      other.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  Deno.test(`${Server}: serverClose() removes its own socket file, bound with socketMode or not`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      for (const socketMode of [null, 0o660]) {
        const path = `${dir}/own.sock`;
        const server = kind === "stream"
          ? new UnixStreamServer({ path }, BaseRequestHandler, { socketMode })
          : new UnixDatagramServer({ path }, DatagramRequestHandler, { socketMode });
        if (socketMode !== null) {
          assert.equal((await Deno.lstat(path)).mode! & 0o777, socketMode);
        }
        await server.serverClose();
        assert.equal(await pathExists(path), false);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("socketMode refuses what is not a file mode, and says which permissions its private bind needs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const bad of [0o1777, -1, 1.5, "660"]) {
      assert.throws(
        () =>
          new UnixStreamServer({ path: `${dir}/x.sock` }, BaseRequestHandler, {
            socketMode: bad as number,
          }),
        RangeError,
      );
    }
    // only the path itself granted: enough without socketMode, not with it
    const path = `${dir}/narrow.sock`;
    const program = `
import { BaseRequestHandler, UnixStreamServer } from "${new URL("../mod.ts", import.meta.url)}";
try {
  const server = new UnixStreamServer({ path: ${JSON.stringify(path)} }, BaseRequestHandler, {
    socketMode: 0o600,
  });
  await server.serverClose();
  console.log("bound");
} catch (error) {
  console.log(error.name + ": " + error.message);
}
`;
    const { stdout } = await runDenoSource(program, [
      `--allow-read=${path},${new URL("..", import.meta.url).pathname}`,
      `--allow-write=${path}`,
      `--allow-net=unix:${path}`,
    ]);
    assert.ok(stdout.startsWith("NotCapable: "), stdout);
    assert.ok(
      stdout.trim().endsWith(
        `"socketMode" binds the socket in a private directory next to "${path}" before moving it into place: run with --allow-read=${dir} --allow-write=${dir} --allow-net`,
      ),
      stdout,
    );
    assert.equal(await pathExists(path), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
