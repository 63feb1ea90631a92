/**
 * The transport examples run as the README says (`deno run -A`), print where
 * they listen, answer a client, and stop cleanly on SIGTERM.
 */

import assert from "node:assert/strict";
import { withTempDir } from "../_files.ts";
import { decoder, encoder, readThroughNewline } from "../_net.ts";
import { TEST_STR } from "../_python.ts";
import { cert } from "../_tls.ts";
import { within } from "../_wait.ts";

const root = new URL("../../", import.meta.url).pathname;

/** Starts an example, returns its first line of output and the process. */
async function start(example: string, arg: string) {
  const child = new Deno.Command("deno", {
    args: ["run", "-A", `examples/${example}`, arg],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await within(lines.read(), 20_000, `${example}'s first line`);
    if (done) break;
    out += value;
  }
  return { child, lines, first: out.split("\n")[0], rest: out.slice(out.indexOf("\n") + 1) };
}

/** Sends SIGTERM and checks the example stops cleanly. */
async function stop(started: Awaited<ReturnType<typeof start>>) {
  const { child, lines } = started;
  child.kill("SIGTERM");
  let out = started.rest;
  for (;;) {
    const { value, done } = await within(lines.read(), 20_000, "example output");
    if (done) break;
    out += value;
  }
  const status = await child.status;
  const stderr = decoder.decode(await new Response(child.stderr).arrayBuffer());
  assert.equal(status.code, 0, `exit ${status.code}\n${out}\n${stderr}`);
  assert.match(out, / stopped\n/);
  return out;
}

Deno.test("examples/udp_echo.ts prints its address, echoes a datagram and stops on SIGTERM", async () => {
  const started = await start("udp_echo.ts", "0");
  const port = Number(started.first.match(/127\.0\.0\.1:(\d+)/)?.[1]);
  assert.ok(port > 0, started.first);
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client.send(encoder.encode(TEST_STR), { transport: "udp", hostname: "127.0.0.1", port });
    const [reply] = await within(client.receive(), 10_000, "udp echo");
    assert.equal(decoder.decode(reply), TEST_STR);
  } finally {
    client.close();
  }
  assert.match(await stop(started), /sent 12 bytes/);
});

Deno.test("examples/tls_echo.ts prints its address, echoes a line over TLS and stops on SIGTERM", async () => {
  const started = await start("tls_echo.ts", "0");
  const port = Number(started.first.match(/127\.0\.0\.1:(\d+)/)?.[1]);
  assert.ok(port > 0, started.first);
  const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [cert] });
  try {
    await conn.write(encoder.encode(TEST_STR));
    assert.equal(await within(readThroughNewline(conn), 10_000, "tls echo"), TEST_STR);
  } finally {
    conn.close();
  }
  await stop(started);
});

Deno.test("examples/unix_echo.ts listens on the given path, echoes a line, stops on SIGTERM and removes its socket file", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/echo.sock`;
    const started = await start("unix_echo.ts", path);
    assert.ok(started.first.includes(path), started.first);
    const conn = await Deno.connect({ transport: "unix", path });
    try {
      await conn.write(encoder.encode(TEST_STR));
      assert.equal(await within(readThroughNewline(conn), 10_000, "unix echo"), TEST_STR);
    } finally {
      conn.close();
    }
    await stop(started);
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  }));

Deno.test("examples/unix_dgram_echo.ts listens on the given path, echoes a datagram, stops on SIGTERM and removes its socket file", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/echo.sock`;
    const started = await start("unix_dgram_echo.ts", path);
    assert.ok(started.first.includes(path), started.first);
    const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
    try {
      await client.send(encoder.encode(TEST_STR), { transport: "unixpacket", path });
      const [reply] = await within(client.receive(), 10_000, "unix datagram echo");
      assert.equal(decoder.decode(reply), TEST_STR);
    } finally {
      client.close();
    }
    await stop(started);
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  }));
