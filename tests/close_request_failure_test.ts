/**
 * `serverClose()` learns that a request is over even when the request's
 * `shutdownRequest()` throws on the way out.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, TCPServer } from "../mod.ts";

/** `promise`'s outcome as "settled", or "timed out" after `ms`. */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => timer = setTimeout(() => resolve("timed out"), ms));
  try {
    return await Promise.race([promise.then(() => "settled"), late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("serverClose() called during a request resolves once it ends, though its shutdownRequest() throws every time", async () => {
  const entered = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  class Held extends StreamRequestHandler {
    override async handle() {
      entered.resolve();
      await release.promise;
    }
  }
  class FailingShutdown extends TCPServer {
    errors: unknown[] = [];
    override shutdownRequest(conn: Deno.TcpConn): Promise<void> {
      try {
        conn.close();
      } catch {
        // the second call: closed already
      }
      return Promise.reject(new Error("shutdownRequest() failed"));
    }
    override handleError(_conn: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
      this.errors.push(error);
    }
  }
  const server = new FailingShutdown(["127.0.0.1", 0], Held);
  const handled = server.handleRequest();
  const client = await Deno.connect(server.serverAddress);
  await entered.promise;
  const closing = server.serverClose();
  release.resolve();
  await handled;
  assert.equal(await settledWithin(closing, 5000), "settled");
  assert.equal(server.activeRequests, 0);
  assert.deepEqual(server.errors.map((error) => (error as Error).message), [
    "shutdownRequest() failed",
  ]);
  client.close();
});
