/**
 * A handler's `timeout` bounds `wfile` writes too when `writeTimeout` is not
 * set, as Python's socket timeout bounds `sendall()`.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, TimeoutError } from "../mod.ts";
import { encoder, readToEnd } from "./_net.ts";
import { errorName, RecordingServer } from "./_servers.ts";
import { until, within } from "./_wait.ts";

/** Reads one line, then sends 16 MiB. */
class Big extends StreamRequestHandler<RecordingServer> {
  override timeout = 200;
  override async handle() {
    await this.rfile.readline();
    await this.wfile.write(new Uint8Array(16 << 20).fill(0x7a));
  }
}

Deno.test("timeout bounds wfile writes when writeTimeout is not set, as Python's sendall() honours the socket timeout", async () => {
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Big);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  await conn.write(encoder.encode("send\n")); // and never read
  await within(server.dropped(), 5_000, "the client that does not read to be dropped");
  await until(() => server.activeRequests === 0, "the handler to end");
  await readToEnd(conn);
  conn.close();
  const drop = server.drops[0];
  assert.ok(drop instanceof TimeoutError, `dropped by ${errorName(drop)}`);
  assert.equal(drop.timeout, 200);
  assert.equal(server.errors.length, 0);
});

Deno.test("wfile's bound is writeTimeout when set, timeout when writeTimeout is left unset, none when writeTimeout is null", async () => {
  const seen: Array<number | null> = [];
  class Probe extends StreamRequestHandler<RecordingServer> {
    override handle() {
      seen.push(this.wfile.timeout);
    }
  }
  const cases: Array<[number | null, number | null | undefined]> = [
    [300, undefined],
    [300, 50],
    [300, null],
    [null, undefined],
  ];
  for (const [timeout, writeTimeout] of cases) {
    class Case extends Probe {
      override timeout = timeout;
      override writeTimeout = writeTimeout;
    }
    await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Case);
    const handled = server.handleRequest();
    (await Deno.connect(server.serverAddress)).close();
    await handled;
  }
  assert.deepEqual(seen, [300, 50, null, null]);
});
