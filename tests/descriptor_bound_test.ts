/**
 * `maxConnections` bounds a stream server's open descriptors, not only its
 * requests: at most the listener, the limit and 16 more, also while a batch
 * of idle timeouts fires at once (whose reads Deno cancels a turn after the
 * close) and, on a TLS server, while clients that never speak outlast
 * `handshakeTimeout` (Deno 2.9 cannot abort a server's handshake: the slot
 * stays taken until the client leaves or speaks, with the descriptor). The
 * server counts its own descriptors every millisecond, in its own process.
 */
import assert from "node:assert/strict";
import { Subprocess } from "./_process.ts";
import { cert } from "./_tls.ts";

const FIXTURE = new URL("./fixtures/descriptor_bound_server.ts", import.meta.url).pathname;
const LIMIT = 64;
const SLACK = 16;

async function start(
  transport: string,
  path: string,
): Promise<{ proc: Subprocess; port: number; baseline: number }> {
  const proc = new Subprocess("deno", [
    "run",
    "-A",
    "--unstable-net",
    FIXTURE,
    transport,
    String(LIMIT),
    path,
  ]);
  const [line] = await proc.waitFor(/^\{"port".*\}$/);
  const { port, baseline } = JSON.parse(line);
  return { proc, port, baseline };
}

async function peak(proc: Subprocess): Promise<{ peak: number; now: number }> {
  const writer = proc.child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("peak\n"));
  writer.releaseLock();
  const [line] = await proc.waitFor(/^\{"peak".*\}$/);
  return JSON.parse(line);
}

function connect(transport: string, port: number, path: string): Promise<Deno.Conn> {
  return transport === "unix"
    ? Deno.connect({ transport: "unix", path })
    : Deno.connect({ hostname: "127.0.0.1", port });
}

for (const transport of ["tcp", "unix", "tls"]) {
  const name = transport === "tls"
    ? "ThreadingTLSServer: 500 clients that never speak outlast handshakeTimeout"
    : `Threading${
      transport === "tcp" ? "TCP" : "UnixStream"
    }Server: 500 silent clients time out in batches`;
  Deno.test(`${name}, and maxConnections ${LIMIT} keeps the server at most ${LIMIT} + ${SLACK} descriptors above its listening baseline`, async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/app.sock`;
    const { proc, port, baseline } = await start(transport, path);
    const clients: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 500; i++) clients.push(await connect(transport, port, path));
      if (transport === "tls") {
        // the first LIMIT time out; the rest wait in the listen queue
        await new Promise((resolve) => setTimeout(resolve, 1500));
      } else {
        // every client is accepted in turn and dropped after its idle
        // timeout: read each one's EOF
        await Promise.all(clients.map(async (conn) => {
          const buffer = new Uint8Array(16);
          while (await conn.read(buffer) !== null) {
            // until the server drops it
          }
        }));
      }
      const seen = await peak(proc);
      assert.ok(
        seen.peak - baseline <= LIMIT + SLACK,
        `${seen.peak - baseline} descriptors above the baseline at the peak, limit ${LIMIT}`,
      );
      if (transport === "tls") {
        // the silent clients leave: their handshakes end, the slots free up,
        // and a client that speaks TLS is served
        for (const conn of clients.splice(0)) conn.close();
        const good = await Deno.connectTls({ hostname: "localhost", port, caCerts: [cert] });
        await good.write(new TextEncoder().encode("hello\n"));
        const reply = new Uint8Array(16);
        const n = await good.read(reply);
        assert.equal(new TextDecoder().decode(reply.subarray(0, n ?? 0)), "hello\n");
        good.close();
      }
    } finally {
      for (const conn of clients) conn.close();
      await proc.child.stdin.close();
      const { status, stderr } = await proc.finish();
      assert.equal(status.code, 0, stderr);
      await Deno.remove(dir, { recursive: true });
    }
  });
}
