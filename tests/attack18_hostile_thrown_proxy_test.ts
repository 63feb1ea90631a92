/**
 * A handler that throws a value on which `instanceof` itself throws — a
 * revoked `Proxy` (what a membrane leaves behind when it revokes an object it
 * handed out), or one whose `getPrototypeOf` trap throws. Telling a drop from
 * an error runs `instanceof` on what was thrown: that threw inside the
 * library's own error path, so on a `ThreadingTCPServer` the request's task
 * rejected with nobody listening and the process died of an unhandled
 * rejection, and a plain `TCPServer`'s loop stopped for good, serving nobody
 * after it. Whatever a handler throws must reach `handleError()`.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, TCPServer, ThreadingTCPServer } from "../mod.ts";
import { readAllText } from "./_net.ts";

/** Throws a revoked proxy on "throw", echoes anything else. */
class Thrower extends StreamRequestHandler {
  override async handle() {
    const line = new TextDecoder().decode(await this.rfile.readline());
    if (line === "throw\n") {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      throw proxy;
    }
    await this.wfile.write(line);
  }
}

for (const Server of [TCPServer, ThreadingTCPServer]) {
  Deno.test(`${Server.name}: a handler that throws a revoked Proxy reaches handleError(), and the next client is served`, async () => {
    let errors = 0;
    class Recording extends Server {
      override handleError() {
        errors++;
      }
    }
    await using server = new Recording({ hostname: "127.0.0.1", port: 0 }, Thrower);
    const serving = server.serveForever();
    const ask = async (line: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
      try {
        await conn.write(new TextEncoder().encode(line));
        return await readAllText(conn);
      } finally {
        conn.close();
      }
    };
    assert.equal(await ask("throw\n"), "");
    assert.equal(await ask("hello\n"), "hello\n");
    assert.equal(errors, 1);
    await server.shutdown();
    await serving;
  });
}

Deno.test("ThreadingTCPServer with the default handleError(): a handler that throws a revoked Proxy is reported, not an unhandled rejection ending the process (printing it threw)", async () => {
  const printed: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => {
    printed.push(args.map((arg) => typeof arg === "string" ? arg : typeof arg).join(" "));
  };
  try {
    await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Thrower);
    const serving = server.serveForever();
    for (const [line, reply] of [["throw\n", ""], ["hello\n", "hello\n"]]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
      try {
        await conn.write(new TextEncoder().encode(line));
        assert.equal(await readAllText(conn), reply);
      } finally {
        conn.close();
      }
    }
    await server.shutdown();
    await serving;
  } finally {
    console.error = original;
  }
  assert.equal(printed.length, 1, printed.join("\n"));
  assert.match(printed[0], /Exception occurred during processing of request from 127\.0\.0\.1:/);
});
