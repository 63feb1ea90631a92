/**
 * Attack on issue 16: the messages of the drops a server reports for a
 * header that is too long. The team's rule: an error message says what to
 * do. A `"too-long"` ProxyHeaderError says "raise maxHeaderLength", which
 * no server has (the limit is an option of the private `readProxyHeader()`
 * only), and says it of a version 1 line too, whose 107 bytes are the
 * specification's and cannot be raised at all.
 */
import assert from "node:assert/strict";
import { ProxyHeaderError, StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
import { encoder, readToEnd, writeAll } from "./_net.ts";
import { errorName } from "./_servers.ts";

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

class Never extends StreamRequestHandler {
  override handle() {
    throw new Error("no handler may run after a bad header");
  }
}

class Proxied extends ThreadingTCPServer {
  drops: unknown[] = [];
  override handleDrop(_c: Deno.TcpConn, _a: Deno.NetAddr, error: unknown) {
    this.drops.push(error);
  }
}

/** The drop a server reports for a connection that sends `bytes`. */
async function dropFor(bytes: Uint8Array): Promise<{ error: ProxyHeaderError; server: object }> {
  const drops: unknown[] = [];
  await using server = new Proxied(["127.0.0.1", 0], Never, {
    proxyProtocol: "any",
    trustedProxies: ["127.0.0.0/8"],
  });
  server.drops = drops;
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await writeAll(conn, bytes).catch(() => {}); // the server may close first
    await readToEnd(conn);
  } finally {
    conn.close();
  }
  assert.equal(drops.length, 1, drops.map(errorName).join());
  const [error] = drops;
  assert.ok(error instanceof ProxyHeaderError && error.reason === "too-long", errorName(error));
  return { error, server };
}

Deno.test('ThreadingTCPServer({ proxyProtocol }): a version 2 header over the 4096-byte limit is dropped as "too-long" with a hint that names only what the server can set', async () => {
  const body = new Uint8Array(12 + 4200); // INET addresses, then a TLV of 4197 bytes
  body.set([0x04, 4197 >> 8, 4197 & 0xff], 12); // NOOP
  const header = Uint8Array.from([...SIGNATURE, 0x21, 0x11, body.length >> 8, body.length & 0xff]);
  const { error, server } = await dropFor(new Uint8Array([...header, ...body]));
  for (const [, option] of error.message.matchAll(/raise (\w+)/g)) {
    assert.ok(
      option in server,
      `the message tells the user to raise "${option}", but ${server.constructor.name} has no such option or attribute: ${error.message}`,
    );
  }
});

Deno.test('ThreadingTCPServer({ proxyProtocol }): a version 1 line without CRLF within 107 bytes is dropped as "too-long" without telling the user to raise a limit the specification fixes', async () => {
  const line = encoder.encode(`PROXY UNKNOWN ${"x".repeat(200)}\r\n`);
  const { error } = await dropFor(line);
  assert.doesNotMatch(error.message, /raise/, error.message);
});
