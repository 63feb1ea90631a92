/**
 * A `closeRequest()` override ported from Python without `super`: Python's
 * `TCPServer.close_request()` is `request.close()`, so an override that logs and then closes the
 * socket itself does all the base did, and `server_close()` returns. The server marks the request
 * over once `shutdownRequest()` has called `closeRequest()`, whether the override called `super`
 * or not: `activeRequests` falls, `serverClose()` returns, and `maxConnections` frees the slot.
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
    "closeRequest() override that closes the connection itself, as Python's close_request() does, without super: serverClose() still returns",
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

Deno.test("closeRequest() override without super on a ThreadingTCPServer with maxConnections: 1 serves client after client (the slot is freed)", async () => {
  class Logged extends ThreadingTCPServer {
    override async closeRequest(request: Deno.TcpConn) {
      await Promise.resolve(); // an async override, ported from a Python one that logs first
      request.close();
    }
  }
  class Hello extends BaseRequestHandler<ThreadingTCPServer> {
    override async handle() {
      await this.request.write(new TextEncoder().encode("hi\n"));
    }
  }
  const server = new Logged(["127.0.0.1", 0], Hello, { maxConnections: 1 });
  const serving = server.serveForever();
  try {
    for (let i = 0; i < 3; i++) {
      const client = await Deno.connect(server.serverAddress);
      const reply = await within(new Response(client.readable).text(), 5_000, `reply ${i + 1}`);
      assert.equal(reply, "hi\n");
    }
  } finally {
    await server.shutdown();
    await within(server.serverClose(), 5_000, "serverClose()");
    await serving;
  }
  assert.equal(server.activeRequests, 0);
});

Deno.test("closeRequest() override without super on a UDPServer: the request is over and serverClose() returns", async () => {
  const seen: number[] = [];
  class Logged extends UDPServer {
    override closeRequest(request: DatagramRequest) {
      seen.push(request[0].length); // Python's UDPServer.close_request() does nothing
    }
  }
  const server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client.send(new Uint8Array(3), server.serverAddress);
    await server.handleRequest();
    assert.deepEqual(seen, [3]);
    assert.equal(server.activeRequests, 0, "the request is over");
  } finally {
    client.close();
    await within(server.serverClose(), 5_000, "serverClose()");
  }
});
