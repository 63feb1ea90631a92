/**
 * Hostile TLS clients that get past the handshake: CPython's `ssl` client
 * completes it, is echoed once, then writes raw bytes on the socket — a
 * record that does not decrypt (a forged alert, garbage) or plain text (a
 * client that falls back to HTTP). The read fails with
 * `Deno.errors.InvalidData`, which is not a drop: every such client is a
 * stack trace through `handleError()`, where the docs promise that what
 * hostile clients cause "never floods handleError()".
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, type StreamServer, ThreadingTLSServer } from "../mod.ts";
import { hasCommand, runCommand } from "./_process.ts";
import { errorName } from "./_servers.ts";
import { until } from "./_wait.ts";

const CERT = new URL("./tls/localhost.crt", import.meta.url).pathname;
const cert = await Deno.readTextFile(CERT);
const key = await Deno.readTextFile(new URL("./tls/localhost.key", import.meta.url));

/** argv: port, CA file, rounds. Each round: handshake, one echoed line,
 * then raw bytes written past the TLS layer, then close. */
const CLIENT = `
import os, socket, ssl, sys
port, cafile, rounds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=cafile)
raw_bytes = [
    b"\\x17\\x03\\x03\\x00\\x10" + b"x" * 16,       # an application record that does not decrypt
    b"\\x15\\x03\\x03\\x00\\x02\\x02\\x14",         # a plaintext fatal alert
    b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n",     # plain text on the TLS connection
]
for i in range(rounds):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    s.sendall(b"hello\\n")
    assert s.recv(100) == b"hello\\n"
    os.write(s.fileno(), raw_bytes[i % len(raw_bytes)])
    try:
        s.recv(100)  # the server's answer: it closes
    except (ssl.SSLError, OSError):
        pass
    s.close()
print("done")
`;

class Echo extends StreamRequestHandler<StreamServer> {
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

Deno.test("ThreadingTLSServer: clients that send a corrupt record or plain text after the handshake are drops, not handleError() stack traces", async () => {
  if (!hasCommand("python3")) return;
  const errors: unknown[] = [];
  const drops: unknown[] = [];
  class Recording extends ThreadingTLSServer {
    override handleError(_request: Deno.TlsConn, _address: Deno.NetAddr, error: unknown) {
      errors.push(error);
    }
    override handleDrop(_request: Deno.TlsConn, _address: Deno.NetAddr, error: unknown) {
      drops.push(error);
    }
  }
  await using server = new Recording({ hostname: "127.0.0.1", port: 0 }, Echo, { cert, key });
  server.serveForever();
  const ROUNDS = 30;
  const client = await runCommand("python3", [
    "-c",
    CLIENT,
    String(server.serverAddress.port),
    CERT,
    String(ROUNDS),
  ]);
  assert.equal(client.stdout.trim(), "done", client.stderr);
  await until(() => server.activeRequests === 0, "the requests to end", 10_000);
  assert.deepEqual(
    errors.map((e) => `${errorName(e)}: ${(e as Error).message}`).slice(0, 3),
    [],
    `${errors.length} of ${ROUNDS} hostile clients reached handleError()`,
  );
});
