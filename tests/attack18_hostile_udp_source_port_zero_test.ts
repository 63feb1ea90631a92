/**
 * A UDP datagram whose source port is 0 — forged (the source of a UDP
 * datagram is whatever its sender writes), as scanners and reflection
 * probes send them — has no address a reply can go to: the reply's send fails
 * with `EINVAL`, which reached `handleError()` as a `TypeError` that reads
 * like a bug in the server, one per datagram an attacker cares to forge.
 * docs/hardening.md: what hostile clients cause "never floods handleError()".
 * Forging needs a raw socket (CPython's, as root); without one the test says
 * so and checks nothing.
 */
import assert from "node:assert/strict";
import { DatagramRequestHandler, isRoutineDrop, ThreadingUDPServer } from "../mod.ts";
import { HAS_PYTHON } from "./_python.ts";
import { runCommand } from "./_process.ts";
import { Reporting } from "./_servers.ts";
import { within } from "./_wait.ts";

class Recording extends Reporting(ThreadingUDPServer) {
  clients: Deno.NetAddr[] = [];
}

class Echo extends DatagramRequestHandler<Recording> {
  override async handle() {
    this.server.clients.push(this.clientAddress as Deno.NetAddr);
    await this.wfile.write(this.packet);
  }
}

/** Sends one UDP datagram from 127.0.0.1 port 0 to `port` through a raw socket; exit code 77 when
 * the process may not open one. */
const FORGE = `
import socket, struct, sys
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
except PermissionError:
    sys.exit(77)
payload = b"probe"
s.sendto(struct.pack("!HHHH", 0, int(sys.argv[1]), 8 + len(payload), 0) + payload, ("127.0.0.1", 0))
`;

Deno.test({
  name:
    "ThreadingUDPServer: a reply to a forged datagram from source port 0 is a drop, not a TypeError in handleError()",
  ignore: !HAS_PYTHON,
  async fn() {
    await using server = new Recording({ hostname: "127.0.0.1", port: 0 }, Echo);
    server.serveForever();
    const forged = await runCommand("python3", ["-c", FORGE, String(server.serverAddress.port)]);
    if (forged.code === 77) {
      console.log("(skipped: no raw socket without root)");
      return;
    }
    assert.equal(forged.code, 0, forged.stderr);
    await within(server.ended.promise, 10_000, "the reply to the forged datagram to end");
    assert.deepEqual(server.clients.map((a) => a.port), [0]);
    assert.deepEqual(server.errors.map(String), []);
    assert.equal(server.drops.length, 1);
    assert.ok(isRoutineDrop(server.drops[0]), String(server.drops[0]));
  },
});
