/**
 * A `closeRequest()` override ported from Python without `super`: Python's
 * `TCPServer.close_request()` is `request.close()`, so an override that logs and then closes the
 * socket itself does all the base did, and `server_close()` returns. Here the base also removes
 * the request from the server's open set, so without `super.closeRequest()` the request stays
 * open for ever: `activeRequests` never falls, `serverClose()` never returns (with no message),
 * and with `maxConnections` the server stops accepting once that many have been served.
 *
 * README says overrides "must call super.closeRequest()", and what the library should do when one
 * does not is not settled: release the request anyway after the override returns (and warn once),
 * or only warn, or bound `serverClose()`. So the test is ignored: run it with `ignore` removed to
 * see `serverClose()` wait (it fails at the bound below instead of hanging).
 */
import assert from "node:assert/strict";
import { BaseRequestHandler, TCPServer } from "../mod.ts";
import { within } from "./_wait.ts";

Deno.test({
  name:
    "closeRequest() override that closes the connection itself, as Python's close_request() does, without super: serverClose() still returns",
  ignore: true,
  async fn() {
    const closed: number[] = [];
    class Logged extends TCPServer {
      override closeRequest(request: Deno.TcpConn) {
        closed.push(request.remoteAddr.port); // Python: log, then request.close()
        request.close();
      }
    }
    const server = new Logged(["127.0.0.1", 0], BaseRequestHandler);
    const client = await Deno.connect(server.serverAddress);
    try {
      await server.handleRequest();
      assert.deepEqual(closed, [client.localAddr.port]);
      assert.equal(server.activeRequests, 0, "the request is over");
    } finally {
      client.close();
      await within(server.serverClose(), 5_000, "serverClose()");
    }
  },
});
