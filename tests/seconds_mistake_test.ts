/**
 * Durations are milliseconds; a Python habit writes seconds. A positive
 * value below 1 ms can only be seconds (no timer here is finer than a
 * millisecond), so it is refused wherever a duration is set, with the value
 * to write instead.
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  ForkingTCPServer,
  StreamRequestHandler,
  TCPServer,
  TLSServer,
} from "../mod.ts";
import { readToEnd } from "./_net.ts";
import { within } from "./_wait.ts";
import { cert, key } from "./_tls.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };
const seconds = (value: number, ms: number) =>
  new RegExp(`is ${value} ms.*seconds.*write ${ms} for ${value} s`);

Deno.test("serveForever(0.5), Python's poll_interval=0.5, is refused: durations are milliseconds, so write 500", async () => {
  await using server = new TCPServer(LOCAL, BaseRequestHandler);
  await assert.rejects(
    within(server.serveForever(0.5), 2_000, "serveForever(0.5) to fail"),
    (error: Error) => error instanceof RangeError && seconds(0.5, 500).test(error.message),
  );
  assert.equal(server.serving, false);
});

Deno.test("TCPServer.timeout of 0.5, as an option, a static or a property, is refused as a seconds value", async () => {
  assert.throws(
    () => new TCPServer(LOCAL, BaseRequestHandler, { timeout: 0.5 }),
    seconds(0.5, 500),
  );
  class Patient extends TCPServer {
    static override timeout = 0.25;
  }
  await using patient = new Patient(LOCAL, BaseRequestHandler);
  await assert.rejects(patient.handleRequest(), seconds(0.25, 250));
  await using server = new TCPServer(LOCAL, BaseRequestHandler);
  assert.throws(() => server.timeout = 0.5, seconds(0.5, 500));
  await assert.rejects(server.serverClose({ graceMs: 0.5 }), seconds(0.5, 500));
  // 0, whole and longer fractional milliseconds stay valid
  server.timeout = 0;
  server.timeout = 1;
  server.timeout = 2.5;
});

Deno.test("StreamRequestHandler.timeout of 0.5, Python's timeout = 0.5, fails its request with the value to write", async () => {
  const errors: unknown[] = [];
  class Quick extends StreamRequestHandler {
    override timeout = 0.5;
    override async handle() {
      await this.wfile.write("never\n");
    }
  }
  class Recording extends TCPServer {
    override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
      errors.push(error);
    }
  }
  await using server = new Recording(LOCAL, Quick);
  const handled = server.handleRequest();
  const conn = await Deno.connect(server.serverAddress);
  const { bytes } = await readToEnd(conn);
  conn.close();
  await handled;
  assert.equal(bytes.length, 0);
  assert.equal(errors.length, 1);
  assert.match((errors[0] as Error).message, /"timeout" is 0\.5 ms.*write 500 for 0\.5 s/);
});

Deno.test("handshakeTimeout, childGraceMs and every other duration option refuse a fraction of a millisecond too", () => {
  assert.throws(
    () => new TLSServer(LOCAL, BaseRequestHandler, { cert, key, handshakeTimeout: 0.01 }),
    seconds(0.01, 10),
  );
  assert.throws(
    () => new ForkingTCPServer(LOCAL, BaseRequestHandler, { childGraceMs: 0.5 }),
    seconds(0.5, 500),
  );
});
