/**
 * A local Unix datagram client bound to a relative path: Linux reports its
 * address as the bytes it bound ("run/systemd/notify"), relative to the
 * client's working directory, and a reply to that address is resolved against
 * the server's. So a client chooses where the server's reply goes: into any
 * datagram socket under the server's working directory — with an echo
 * handler, with the client's bytes. A service started by systemd runs in "/"
 * and may send to "run/systemd/notify" as its main process, where systemd
 * takes "STOPPING=1" or "STATUS=..." from it. A reply to a relative path
 * cannot reach the client that sent the datagram unless both run in the same
 * directory; it is dropped instead (`NotConnected`), as one to an unnamed
 * client is.
 */
import assert from "node:assert/strict";
import { DatagramRequestHandler, isRoutineDrop, ThreadingUnixDatagramServer } from "../mod.ts";
import { withTempDir } from "./_files.ts";
import { runCommand } from "./_process.ts";
import { HAS_PYTHON } from "./_python.ts";
import { Reporting } from "./_servers.ts";
import { within } from "./_wait.ts";

class Recording extends Reporting(ThreadingUnixDatagramServer) {
  override closeRequest(request: Parameters<ThreadingUnixDatagramServer["closeRequest"]>[0]) {
    super.closeRequest(request);
    this.ended.resolve();
  }
}

class Echo extends DatagramRequestHandler<Recording> {
  override handle() {
    this.wfile.write(this.packet);
  }
}

/** Binds a datagram socket to "run/notify" in the directory `argv[1]`, sends `argv[3]` to the
 * server at `argv[2]`, and exits (the client need not be there for the reply to go astray). */
const CLIENT = `
import os, socket, sys
os.chdir(sys.argv[1])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("run/notify")
s.sendto(sys.argv[3].encode(), sys.argv[2])
`;

Deno.test({
  name:
    "ThreadingUnixDatagramServer: no reply to a client bound to a relative path, which would go to whatever socket that path names in the server's working directory",
  ignore: !HAS_PYTHON,
  async fn() {
    await withTempDir(async (dir) => {
      const home = Deno.cwd();
      await Deno.mkdir(`${dir}/client/run`, { recursive: true });
      await Deno.mkdir(`${dir}/server/run`, { recursive: true });
      // what the client's relative path names from the server's working directory
      const victim = Deno.listenDatagram({
        transport: "unixpacket",
        path: `${dir}/server/run/notify`,
      });
      await using server = new Recording({ path: `${dir}/server.sock` }, Echo);
      try {
        Deno.chdir(`${dir}/server`); // the server's working directory
        server.serveForever();
        const sent = await runCommand("python3", [
          "-c",
          CLIENT,
          `${dir}/client`,
          server.serverAddress.path,
          "STOPPING=1",
        ]);
        assert.equal(sent.code, 0, sent.stderr);
        await within(server.ended.promise, 10_000, "the request to end");
        const delivered = await Promise.race([
          victim.receive().then(([data]) => new TextDecoder().decode(data)),
          // the reply, if any, was sent before the request ended: a turn is enough to see it
          new Promise<null>((resolve) => setTimeout(() => resolve(null), 50)),
        ]);
        assert.equal(delivered, null, "the reply went to the socket the path names for the server");
        assert.deepEqual(server.errors, []);
        assert.equal(server.drops.length, 1);
        assert.ok(isRoutineDrop(server.drops[0]), String(server.drops[0]));
      } finally {
        Deno.chdir(home);
        victim.close();
      }
    });
  },
});
