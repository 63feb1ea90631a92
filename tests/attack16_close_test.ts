/**
 * Attack on issue 16: `serverClose()` serves the connection that the
 * `accept()` still pending at `shutdown()` returned (docs/deployment.md,
 * "Restarts that drop nothing"), and lets the connections in flight finish
 * within `graceMs`, `serverClose()` taking at most `graceMs + lingerMs`.
 * That connection must be one of those: waited for, and closed at the
 * deadline like the others — not handed to a handler that goes on after
 * `serverClose()` has returned (a forking child exits a second later).
 */
import assert from "node:assert/strict";
import { ProxyHeaderError, StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
import { encoder, readToEnd, writeAll } from "./_net.ts";
import { within } from "./_wait.ts";

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // closed by readToEnd() at its deadline
  }
}

/** Records when its `accept()` returns, so that the test knows the
 * connection has left the kernel's queue before it calls `serverClose()`. */
class Accepting extends ThreadingTCPServer {
  accepted = Promise.withResolvers<void>();
  override async getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]> {
    const got = await super.getRequest();
    this.accepted.resolve();
    return got;
  }
}

/** Answers one line after a moment of work (the reply under way when the
 * server is closed), then says it is done. */
class SlowReply extends StreamRequestHandler<Accepting & { finished: boolean }> {
  override async handle() {
    const line = await this.rfile.readline();
    await new Promise((resolve) => setTimeout(resolve, 200)); // the handler's own work
    await this.wfile.write(line);
    this.server.finished = true;
  }
}

/** Echoes every line until the client closes: a keep-alive client that
 * holds its connection past the grace. */
class Echo extends StreamRequestHandler {
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

for (const proxy of [false, true]) {
  const options = proxy ? { proxyProtocol: "v1" as const, trustedProxies: ["127.0.0.0/8"] } : {};
  const header = proxy ? "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n" : "";
  const what = proxy ? " (with proxyProtocol)" : "";

  Deno.test(`serverClose({ graceMs }) returns only once the connection that the accept() pending at shutdown() returned has had its reply${what}`, async () => {
    const server = new Accepting(["127.0.0.1", 0], SlowReply, options) as Accepting & {
      finished: boolean;
    };
    server.finished = false;
    const serving = server.serveForever();
    await server.shutdown(); // the loop stops; its accept() stays pending
    await serving;
    const conn = await Deno.connect(server.serverAddress);
    try {
      await writeAll(conn, encoder.encode(`${header}hello\n`));
      await within(server.accepted.promise, 5_000, "the pending accept() to return the connection");
      await within(server.serverClose({ graceMs: 10_000 }), 10_000, "serverClose() to return");
      assert.equal(
        server.finished,
        true,
        "serverClose() returned while the connection it took over was still being served",
      );
      const { bytes } = await readToEnd(conn);
      assert.equal(new TextDecoder().decode(bytes), "hello\n");
    } finally {
      closeQuietly(conn);
    }
  });

  Deno.test(`serverClose({ graceMs, lingerMs }) closes the connection that the accept() pending at shutdown() returned at the deadline, as every other${what}`, async () => {
    const drops: unknown[] = [];
    const server = new (class extends Accepting {
      override handleDrop(_c: Deno.TcpConn, _a: Deno.NetAddr, error: unknown) {
        drops.push(error);
      }
    })(["127.0.0.1", 0], Echo, options);
    const serving = server.serveForever();
    await server.shutdown();
    await serving;
    const conn = await Deno.connect(server.serverAddress);
    try {
      await writeAll(conn, encoder.encode(`${header}one\n`));
      await within(server.accepted.promise, 5_000, "the pending accept() to return the connection");
      await within(
        server.serverClose({ graceMs: 100, lingerMs: 200 }),
        10_000,
        "serverClose() to return",
      );
      // closed by serverClose(): the client holds it open, so only the server ends it
      const { bytes } = await readToEnd(conn, 2_000);
      assert.equal(new TextDecoder().decode(bytes), "one\n");
      assert.ok(!drops.some((d) => d instanceof ProxyHeaderError), String(drops));
    } finally {
      closeQuietly(conn);
    }
  });
}
