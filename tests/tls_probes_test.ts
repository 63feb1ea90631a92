/**
 * A TLS port on a public address meets scanners: plain-text requests,
 * random bytes, old protocol versions. Each failed handshake is a drop:
 * with the default hooks the server prints nothing for them (before, a full
 * stack trace through `handleError()` each time) and serves on.
 */
import assert from "node:assert/strict";
import { hasCommand, runCommand, Subprocess } from "./_process.ts";
import { cert } from "./_tls.ts";

const FIXTURE = new URL("./fixtures/tls_default_hooks.ts", import.meta.url).pathname;
const encoder = new TextEncoder();

/** Connects, sends `bytes`, reads until the server closes (at most 5 s). */
async function probe(port: number, bytes: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    await conn.write(bytes);
    const buffer = new Uint8Array(1024);
    while (await conn.read(buffer) !== null) {
      // an alert record, then EOF
    }
  } catch {
    // reset: as good as EOF here
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
}

Deno.test("ThreadingTLSServer with default hooks prints nothing for 300 failed handshakes (plain text, garbage, TLS 1.1) and serves a good client after them", async () => {
  await using server = new Subprocess("deno", [
    "run",
    "--allow-net=127.0.0.1",
    `--allow-read=${new URL("./tls", import.meta.url).pathname}`,
    FIXTURE,
  ]);
  const port = Number((await server.waitFor(/"port":(\d+)/))[1]);
  const probes: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) probes.push(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (let i = 0; i < 100; i++) probes.push(crypto.getRandomValues(new Uint8Array(1 + i * 7)));
  // a TLS record header announcing a handshake, then garbage
  for (let i = 0; i < 100; i++) {
    probes.push(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x20, ...new Uint8Array(32).fill(i)]));
  }
  for (let i = 0; i < probes.length; i += 20) {
    await Promise.all(probes.slice(i, i + 20).map((bytes) => probe(port, bytes)));
  }
  if (hasCommand("openssl")) {
    // a client that offers only TLS 1.1, which the server refuses
    const old = await runCommand("openssl", [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-tls1_1",
    ], { input: "", timeoutMs: 10_000 });
    assert.notEqual(old.code, 0, "openssl s_client -tls1_1 should fail the handshake");
  }
  const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [cert] });
  await conn.write(encoder.encode("still here\n"));
  const reply = new Uint8Array(64);
  const n = await conn.read(reply);
  assert.equal(new TextDecoder().decode(reply.subarray(0, n ?? 0)), "still here\n");
  conn.close();
  await server.child.stdin.close();
  const { status, stderr } = await server.finish();
  assert.equal(status.code, 0, stderr);
  assert.equal(stderr, "", `the server printed ${stderr.length} bytes for the probes`);
});
