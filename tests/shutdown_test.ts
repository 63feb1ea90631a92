/**
 * Graceful shutdown with a deadline: `shutdown()` stops accepting at once,
 * `serverClose({ graceMs })` lets handlers in flight finish, and at the
 * deadline delivers everything they wrote before closing their connections;
 * what the cut-off handlers throw then goes to `handleDrop()`. The echo
 * example does this on SIGINT and SIGTERM.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler } from "../mod.ts";
import { untilAcceptQueueEmpty } from "./_kernel.ts";
import { decoder, encoder, readToEnd } from "./_net.ts";
import { errorName, RecordingServer } from "./_servers.ts";
import { within } from "./_wait.ts";

Deno.test("serverClose() after shutdown() serves the connection the accept still pending at shutdown() returned, and resets one left in the kernel's queue", async () => {
  let handled = 0;
  class Hello extends StreamRequestHandler<RecordingServer> {
    override async handle() {
      handled++;
      await this.wfile.write(`hello ${handled}\n`);
    }
  }
  const taken = Promise.withResolvers<void>();
  class Taking extends RecordingServer {
    override async getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]> {
      const request = await super.getRequest();
      if (handled === 1) taken.resolve();
      return request;
    }
  }
  const server = new Taking({ hostname: "127.0.0.1", port: 0 }, Hello);
  const serving = server.serveForever();
  const first = await Deno.connect(server.serverAddress);
  assert.equal(decoder.decode((await readToEnd(first)).bytes), "hello 1\n");
  first.close();

  await server.shutdown();
  await serving;
  // The accept the loop was waiting in when shutdown() stopped it still
  // takes the next connection: the kernel cannot hand that one to another
  // listener any more, so the server must answer it
  const late = await Deno.connect(server.serverAddress);
  await late.write(encoder.encode("anyone there?\n"));
  await within(taken.promise, 5_000, "the pending accept to return the late connection");
  // Nothing accepts the next one: it waits in the kernel's queue until the close
  const queued = await Deno.connect(server.serverAddress);
  await queued.write(encoder.encode("and me?\n"));
  await server.serverClose();
  const answered = await readToEnd(late);
  late.close();
  const refused = await readToEnd(queued);
  queued.close();

  assert.equal(decoder.decode(answered.bytes), "hello 2\n");
  assert.equal(refused.bytes.length, 0, "the queued client got nothing but the close");
  assert.equal(handled, 2);
  assert.equal(server.errors.length, 0);
});

Deno.test("serverClose({ graceMs }) lets a handler in flight finish and answer within the grace period", async () => {
  const waiting = Promise.withResolvers<void>();
  class Patient extends StreamRequestHandler<RecordingServer> {
    override async handle() {
      waiting.resolve();
      const line = await this.rfile.readline();
      await this.wfile.write(`done: ${decoder.decode(line)}`);
    }
  }
  const server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Patient);
  const serving = server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  await waiting.promise;

  await server.shutdown();
  const closing = server.serverClose({ graceMs: 10_000 });
  await conn.write(encoder.encode("last request\n")); // sent after the close began
  const { bytes } = await readToEnd(conn);
  await closing;
  await serving;
  conn.close();

  assert.equal(decoder.decode(bytes), "done: last request\n");
  assert.equal(server.activeRequests, 0);
  assert.equal(server.errors.length + server.drops.length, 0, "nothing was cut off");
});

Deno.test("serverClose({ graceMs }): at the grace deadline the client still receives everything written, then EOF; what the handler throws afterwards goes to handleDrop()", async () => {
  const SIZE = 1 << 20;
  const wrote = Promise.withResolvers<void>();
  const unstick = Promise.withResolvers<void>();
  class Stuck extends StreamRequestHandler<RecordingServer> {
    override async handle() {
      await this.wfile.write(new Uint8Array(SIZE).fill(0x61));
      wrote.resolve();
      await unstick.promise; // stuck past any deadline, not reading
      await this.wfile.write("too late\n");
    }
  }
  const server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Stuck);
  const serving = server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  // input the handler never reads: closing the connection outright would
  // make the kernel reset it, and a reset can destroy unread replies
  await conn.write(encoder.encode("input nobody reads"));
  await wrote.promise; // the megabyte is in the kernel's buffers, not yet read

  await server.shutdown();
  const closing = server.serverClose({ graceMs: 50 });
  // a slow reader: 16 KiB every 5 ms, so most of the megabyte is still in
  // flight when the deadline comes
  let received = 0;
  let error: unknown = null;
  const buffer = new Uint8Array(16 * 1024);
  try {
    for (let reads = 0; reads < 10_000; reads++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      const n = await conn.read(buffer);
      if (n === null) break;
      if (!buffer.subarray(0, n).every((b) => b === 0x61)) throw new Error("Corrupt data");
      received += n;
    }
  } catch (e) {
    error = e;
  }
  conn.close(); // which ends the server's linger
  await closing;
  await serving;

  assert.equal(received, SIZE, "every byte written arrived");
  assert.equal(error, null, "then a clean EOF, no reset");

  unstick.resolve();
  await server.dropped(); // the late write fails on the closed connection
  assert.equal(server.errors.length, 0, `handleError() got ${server.errors.map(errorName)}`);
  assert.equal(server.drops.length, 1);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`examples/echo.ts stops on ${signal}: it serves, then closes a silent client after the grace period and exits 0`, async () => {
    const echo = new URL("../examples/echo.ts", import.meta.url).pathname;
    const child = new Deno.Command("deno", {
      args: ["run", "--allow-net=localhost", "--allow-env", echo, "0"],
      env: { GRACE_MS: "200" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const stderr = new Response(child.stderr).text();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!/Serving on .*:(\d+)/.test(out)) {
      const { value, done } = await lines.read();
      if (done) break;
      out += value;
    }
    const port = Number(/Serving on .*:(\d+)/.exec(out)![1]);

    // one client served as the seed does it
    const served = await Deno.connect({ hostname: "127.0.0.1", port });
    await served.write(encoder.encode("hello world\n"));
    assert.equal(decoder.decode((await readToEnd(served)).bytes), "HELLO WORLD");
    served.close();
    // one that connects and says nothing: its handler waits in read()
    const silent = await Deno.connect({ hostname: "127.0.0.1", port });
    // the signal must find its request in flight, not still in the backlog
    // (a connection never accepted is reset when the listener closes)
    await untilAcceptQueueEmpty(port);

    child.kill(signal);
    const { bytes, error } = await readToEnd(silent);
    silent.close();
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      out += value;
    }
    const status = await child.status;
    clearTimeout(kill);
    const err = await stderr;

    assert.equal(bytes.length, 0);
    assert.equal(error, null, "the silent client got a clean EOF");
    assert.equal(status.code, 0, err);
    assert.match(out, /Server stopped/);
    assert.doesNotMatch(err, /Exception occurred/, "nothing reached handleError()");
  });
}
