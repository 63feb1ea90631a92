/**
 * Attack on issue 16: `proxyHeaderTimeout` accepts any finite number of
 * milliseconds of at least 1 (its check says so), as the library's other
 * durations do, which `src/_deadline.ts` keeps beyond `setTimeout()`'s
 * 2^31 - 1 ms. The PROXY admission's one timer is a raw `setTimeout()`: at
 * 2^32 ms (50 days) it fires after 1 ms, finds nothing
 * due, and sets itself again, every millisecond, for as long as a header is
 * being read — a busy loop that prints a TimeoutOverflowWarning each time.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
import { decoder, encoder, readToEnd, writeAll } from "./_net.ts";
import { until, within } from "./_wait.ts";

class Echo extends StreamRequestHandler {
  override async handle() {
    await this.wfile.write(await this.rfile.readline());
  }
}

Deno.test("ThreadingTCPServer({ proxyHeaderTimeout: 2 ** 32 }): a header being read sets no timer beyond setTimeout()'s range (no 1 ms timer loop, no TimeoutOverflowWarning)", async () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => void warnings.push(warning);
  process.on("warning", onWarning);
  const server = new ThreadingTCPServer(["127.0.0.1", 0], Echo, {
    proxyProtocol: "v1",
    trustedProxies: ["127.0.0.0/8"],
    proxyHeaderTimeout: 2 ** 32, // valid: a finite number of ms, at least 1
  });
  const serving = server.serveForever();
  const slow = await Deno.connect(server.serverAddress);
  try {
    await writeAll(slow, encoder.encode("PROXY TCP4 ")); // a header that has begun
    await until(() => server.activeRequests === 1, "the slow header to be taken");
    // a few round trips of another client: the event loop turns many times meanwhile
    for (let i = 0; i < 5; i++) {
      const conn = await Deno.connect(server.serverAddress);
      await writeAll(conn, encoder.encode(`PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\nping ${i}\n`));
      await conn.closeWrite();
      const { bytes } = await readToEnd(conn);
      conn.close();
      assert.equal(decoder.decode(bytes), `ping ${i}\n`);
    }
    assert.equal(server.activeRequests, 1, "the slow header is still being read");
    const overflows = warnings.filter((w) => w.name === "TimeoutOverflowWarning");
    assert.equal(
      overflows.length,
      0,
      `a timer beyond 2^31 - 1 ms was set ${overflows.length} times: ${overflows[0]?.message}`,
    );
  } finally {
    process.off("warning", onWarning);
    slow.close();
    await server.shutdown();
    await within(server.serverClose({ graceMs: 0, lingerMs: 0 }), 5_000, "serverClose()");
    await serving;
  }
});
