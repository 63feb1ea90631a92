/**
 * stats() against handleDrop() for a write the handler did not await: docs/observability.md counts
 * in `dropped` the requests reported to `handleDrop()`, and docs/hardening.md sends an unawaited
 * write's failure there. When the client resets while the handler's unawaited writes wait (held
 * back by the client that does not read), the writes fail, the handler's loop ends without an
 * error, and the request is counted `completed`; the failure reaches `handleDrop()` only afterwards,
 * through the process's `unhandledrejection` event, when the request is no longer counted. So
 * `handleDrop()` sees a drop that `stats()` counts as completed (seen on TCP and TLS; a Unix stream
 * reset fails the read first and counts as a drop). Pre-existing: the same without the back-pressure.
 *
 * Not fixed (ignore: true; without it, it failed 3 runs of 3): the cause is not pinned down. The
 * order above is the likely one; letting `finish()` wait one turn for the `unhandledrejection`
 * event, when a write had failed, did not make the test pass, so the drop may be reported from
 * somewhere else, after the request is counted.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler } from "../mod.ts";
import { RecordingServer } from "./_servers.ts";
import { until, within } from "./_wait.ts";

const MIB = 1024 * 1024;

Deno.test({
  name:
    "ThreadingTCPServer: a reset that fails a handler's unawaited writes is counted in stats().dropped, as handleDrop() is told",
  ignore: true,
  async fn() {
    const writing = Promise.withResolvers<void>();
    class CarelessBig extends StreamRequestHandler {
      override async handle() {
        let lines = 0;
        for await (const _ of this.rfile) {
          this.wfile.write(new Uint8Array(MIB)); // not awaited
          if (++lines === 4) writing.resolve();
        }
      }
    }
    await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, CarelessBig);
    server.serveForever();
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
    await conn.write(new TextEncoder().encode("x\n".repeat(64)));
    await within(writing.promise, 5_000, "the handler's writes");
    // more requests, which the server does not read while its replies wait
    for (let i = 0; i < 5; i++) await conn.write(new TextEncoder().encode("x\n".repeat(64)));
    conn.close(); // with its replies unread: a reset
    await server.dropped(1, 10_000);
    await until(() => server.activeRequests === 0, "the request to be over");
    const stats = server.stats();
    const dropped = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
    assert.equal(server.drops.length, 1);
    assert.equal(dropped, 1, `handleDrop() was told, stats() counts ${JSON.stringify(stats)}`);
    assert.equal(stats.completed, 0);
  },
});
