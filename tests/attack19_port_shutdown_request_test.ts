/**
 * A `shutdownRequest()` override ported from Python without `super`, next to a `closeRequest()`
 * override without `super`: Python's `TCPServer.shutdown_request()` is `request.shutdown(SHUT_WR)`
 * then `self.close_request(request)`, and `BaseServer.shutdown_request()` (UDPServer's) is
 * `self.close_request(request)`, so a port that logs and then calls `this.closeRequest()` itself
 * does all the base did. attack18_port_close_request_test.ts showed `closeRequest()` alone fixed:
 * the request is marked over by the base's `shutdownRequest()` or the fused flow, neither of which
 * runs here, so the request stays open for ever: `serverClose()` never returns and
 * `maxConnections` never frees the slot.
 *
 * Not fixed (ignore: true): marking the request over once the server's call of an overridden
 * `shutdownRequest()` settles would cover the request loop's and ThreadingMixIn's calls, but not a
 * `processRequest()` override that calls it, and would count a request over whose connection an
 * override never closed (a descriptor leak instead of a hang); wrapping an overridden
 * `closeRequest()` per server changes the hook's identity that the fused flow relies on. Which to
 * do is a design choice.
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  type DatagramRequest,
  TCPServer,
  ThreadingTCPServer,
  UDPServer,
} from "../mod.ts";
import { within } from "./_wait.ts";

Deno.test({
  name:
    "TCPServer: shutdownRequest() and closeRequest() overrides without super (Python's: closeWrite, then this.closeRequest(); request.close()): the request is over and serverClose() returns",
  ignore: true,
  async fn() {
    class Logged extends TCPServer {
      override async shutdownRequest(request: Deno.TcpConn) {
        try {
          await request.closeWrite();
        } catch {
          // the client is gone
        }
        this.closeRequest(request);
      }
      override closeRequest(request: Deno.TcpConn) {
        request.close();
      }
    }
    const server = new Logged(["127.0.0.1", 0], BaseRequestHandler);
    const client = await Deno.connect(server.serverAddress);
    try {
      await server.handleRequest();
      assert.equal(server.activeRequests, 0, "the request is over");
    } finally {
      client.close();
      await within(server.serverClose(), 5_000, "serverClose()");
    }
  },
});

Deno.test({
  name:
    "ThreadingTCPServer with maxConnections: 1 and shutdownRequest() and closeRequest() overrides without super serves client after client (the slot is freed)",
  ignore: true,
  async fn() {
    class Logged extends ThreadingTCPServer {
      override async shutdownRequest(request: Deno.TcpConn) {
        await this.closeRequest(request);
      }
      override closeRequest(request: Deno.TcpConn) {
        request.close();
      }
    }
    const server = new Logged(["127.0.0.1", 0], BaseRequestHandler, { maxConnections: 1 });
    const serving = server.serveForever();
    try {
      for (let i = 0; i < 3; i++) {
        const client = await Deno.connect(server.serverAddress);
        await within(new Response(client.readable).text(), 5_000, `client ${i + 1}'s EOF`);
      }
    } finally {
      await server.shutdown();
      await within(server.serverClose({ graceMs: 1000, lingerMs: 0 }), 5_000, "serverClose()");
      await serving;
    }
    assert.equal(server.activeRequests, 0);
  },
});

Deno.test({
  name:
    "UDPServer: shutdownRequest() and closeRequest() overrides without super (Python's close_request() does nothing): the request is over and serverClose() returns",
  ignore: true,
  async fn() {
    class Logged extends UDPServer {
      override shutdownRequest(request: DatagramRequest) {
        this.closeRequest(request);
      }
      override closeRequest(_request: DatagramRequest) {}
    }
    const server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
    const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      await client.send(new Uint8Array(3), server.serverAddress);
      await server.handleRequest();
      assert.equal(server.activeRequests, 0, "the request is over");
    } finally {
      client.close();
      await within(server.serverClose(), 5_000, "serverClose()");
    }
  },
});
