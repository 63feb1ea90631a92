/**
 * `maxConnections` promises a stream server at most its listener, the limit
 * and 16 more descriptors, "whatever clients do". Attacked with clients that
 * ask for a big reply and never read it, dropped in batches by
 * `writeTimeout`: the writer's timeout rejects the write at once and closes
 * the connection, but the send Deno has yet to cancel still holds the
 * descriptor, and the slot is freed on the rejected (outer) promise, not on
 * the send's end — so each batch lets new clients in before the old
 * descriptors go. The server counts its own sockets every millisecond, in
 * its own process; CPython's clients live in theirs.
 */
import assert from "node:assert/strict";
import { hasCommand, runDenoSource } from "./_process.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;
const LIMIT = 96;
const SLACK = 16;
const CLIENTS = 480;
const ROUNDS = 4;

const PROGRAM = `
import { StreamRequestHandler, ThreadingTCPServer } from "${MOD}";
const sockets = () => {
  let n = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync("/proc/self/fd/" + entry.name).startsWith("socket:")) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
};
class Big extends StreamRequestHandler {
  override writeTimeout = 100;
  override async handle() {
    await this.rfile.readline();
    for (;;) await this.wfile.write(new Uint8Array(1 << 20)); // the client never reads
  }
}
let drops = 0;
class Server extends ThreadingTCPServer {
  override handleDrop() {
    drops++;
  }
}
const server = new Server(["127.0.0.1", 0], Big, { maxConnections: ${LIMIT} });
const clients = new Deno.Command("python3", {
  args: ["-c", \`
import socket, sys
for round in range(${ROUNDS}):
    sys.stdin.readline()
    held = []
    for i in range(${CLIENTS}):
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"reply please\\\\n")
        held.append(s)
    print("connected", flush=True)
    sys.stdin.readline()
    for s in held:
        s.close()
\`, String(server.serverAddress.port)],
  stdin: "piped",
  stdout: "piped",
}).spawn();
const input = clients.stdin.getWriter();
const output = clients.stdout.pipeThrough(new TextDecoderStream()).getReader();
const baseline = sockets();
let peak = baseline;
const sampler = setInterval(() => peak = Math.max(peak, sockets()), 1);
for (let round = 1; round <= ${ROUNDS}; round++) {
  await input.write(new TextEncoder().encode("go\\n"));
  await output.read(); // every client waits in the listen queue: served from now on, in batches
  const serving = server.serveForever();
  const deadline = performance.now() + 20_000;
  while (drops < round * ${CLIENTS} && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await server.shutdown();
  await serving;
  await input.write(new TextEncoder().encode("done\\n"));
}
clearInterval(sampler);
await input.close();
await output.cancel();
await clients.status;
await server.serverClose({ graceMs: 0 });
console.log(JSON.stringify({ above: peak - baseline, drops }));
`;

Deno.test(`ThreadingTCPServer: ${ROUNDS} × ${CLIENTS} clients that never read, dropped in batches by writeTimeout, and maxConnections ${LIMIT} keeps at most ${LIMIT} + ${SLACK} sockets above the listening baseline`, async () => {
  if (!hasCommand("python3")) return;
  const { code, stdout, stderr } = await runDenoSource(PROGRAM, ["-A"]);
  assert.equal(code, 0, stderr);
  const { above, drops } = JSON.parse(stdout.trim().split("\n").at(-1)!);
  assert.equal(drops, CLIENTS * ROUNDS, "every client is dropped by writeTimeout");
  assert.ok(
    above <= LIMIT + SLACK,
    `${above} sockets above the baseline at the peak, with maxConnections ${LIMIT}`,
  );
});
