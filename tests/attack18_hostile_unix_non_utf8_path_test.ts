/**
 * A local client whose socket is bound to a path that is not UTF-8 (any
 * bytes but NUL and "/" make a Linux file name): Deno cannot turn its address
 * into a string, so the server's `accept()` (Unix stream) or `receive()`
 * (Unix datagram) fails with `InvalidData` after taking the connection or the
 * datagram off the socket. That failure is the client's, as a reset before
 * the accept is, but the request loop took it for the process's own: it
 * logged "taking a request failed ... retrying with back-off" and backed off,
 * 10 ms, then 20, doubling to 1 s per such client, stalling every other
 * client (12 such clients held a well-behaved one up for 5.3 s; one a second
 * holds the server for good).
 */
import assert from "node:assert/strict";
import {
  DatagramRequestHandler,
  sendall,
  StreamRequestHandler,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
} from "../mod.ts";
import { withTempDir } from "./_files.ts";
import { HAS_PYTHON } from "./_python.ts";
import { within } from "./_wait.ts";

/** Binds `count` sockets of `kind` under the server's directory to paths
 * with a 0xFF byte, sends from each (datagram) or connects each (stream),
 * prints "sent", and holds them until stdin closes. */
const HOSTILE = `
import os, socket, sys
path, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
directory = os.path.dirname(path).encode()
held = []
for i in range(count):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if kind == "dgram" else socket.SOCK_STREAM)
    s.bind(os.path.join(directory, b"\\xff%d.sock" % i))
    if kind == "dgram":
        s.sendto(b"hello\\n", path)
    else:
        s.connect(path)
    held.append(s)
print("sent", flush=True)
sys.stdin.read()
`;

class Echo extends StreamRequestHandler<ThreadingUnixStreamServer> {
  override async handle() {
    await this.wfile.write(await this.rfile.readline());
  }
}

class DatagramEcho extends DatagramRequestHandler<ThreadingUnixDatagramServer> {
  override handle() {
    this.wfile.write(this.packet);
  }
}

const KINDS = [
  ["ThreadingUnixStreamServer", "stream"],
  ["ThreadingUnixDatagramServer", "dgram"],
] as const;

for (const [name, kind] of KINDS) {
  Deno.test({
    name:
      `${name}: clients bound to paths that are not UTF-8 are skipped at once and silently, not backed off from as a failure of the process`,
    ignore: !HAS_PYTHON,
    async fn() {
      await withTempDir(async (dir) => {
        const path = `${dir}/server.sock`;
        await using server = kind === "stream"
          ? new ThreadingUnixStreamServer({ path }, Echo)
          : new ThreadingUnixDatagramServer({ path }, DatagramEcho);
        const logged: string[] = [];
        const originalError = console.error;
        const originalTimeout = globalThis.setTimeout;
        let backoffTimers = 0;
        console.error = (...args: unknown[]) => void logged.push(args.map(String).join(" "));
        globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
          if (/\/src\/_accept_backoff\.ts/.test(new Error().stack ?? "")) backoffTimers++;
          return originalTimeout(...args);
        }) as typeof setTimeout;
        const hostile = new Deno.Command("python3", {
          args: ["-c", HOSTILE, path, kind, "3"],
          stdin: "piped",
          stdout: "piped",
        }).spawn();
        const lines = hostile.stdout.pipeThrough(new TextDecoderStream()).getReader();
        try {
          server.serveForever();
          const { value } = await within(lines.read(), 10_000, "the hostile clients");
          assert.equal(value?.trim(), "sent");
          let reply: string;
          if (kind === "stream") {
            using conn = await Deno.connect({ transport: "unix", path });
            await sendall(conn, "good\n");
            const buffer = new Uint8Array(16);
            const n = await within(conn.read(buffer), 10_000, "the reply");
            reply = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
          } else {
            const conn = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/good.sock` });
            try {
              await conn.send(new TextEncoder().encode("good\n"), {
                transport: "unixpacket",
                path,
              });
              const [data] = await within(conn.receive(), 10_000, "the reply");
              reply = new TextDecoder().decode(data);
            } finally {
              conn.close();
            }
          }
          assert.equal(reply, "good\n");
        } finally {
          console.error = originalError;
          globalThis.setTimeout = originalTimeout;
          await hostile.stdin.close();
          await lines.cancel();
          await hostile.status;
        }
        assert.deepEqual(logged, []);
        assert.equal(backoffTimers, 0, `${backoffTimers} back-off timers for clients' bad paths`);
      });
    },
  });
}
