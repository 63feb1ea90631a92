/**
 * attack18_port_close_request_test.ts for TLS: a `closeRequest()` override ported from Python
 * without `super` (log, then `request.close()`) on a TLS server. `TLSServer.shutdownRequest()`
 * marked the request over only after a completed handshake (through `StreamServer`'s); a client
 * that connected and never completed one — a TCP health check that connects and closes, a port
 * scan, a plain-text client — stayed open in the server's books for ever: `serverClose()` never
 * returned and `activeRequests` stayed at 1.
 */
import assert from "node:assert/strict";
import { BaseRequestHandler, ThreadingTLSServer, TLSServer } from "../mod.ts";
import { until, within } from "./_wait.ts";
import { cert, key } from "./_tls.ts";

for (const Server of [TLSServer, ThreadingTLSServer]) {
  for (const client of ["connects and closes", "sends plain text"]) {
    Deno.test(`${Server.name}: closeRequest() override without super, a client that ${client} before any handshake: the request is over and serverClose() returns`, async () => {
      const closed: number[] = [];
      class Logged extends (Server as typeof TLSServer) {
        override closeRequest(request: Deno.TlsConn) {
          closed.push(request.remoteAddr.port); // Python: log, then request.close()
          request.close();
        }
        override handleError() {}
        override handleDrop() {}
      }
      const server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
        cert,
        key,
      });
      const serving = server.serveForever();
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
        if (client === "connects and closes") conn.close();
        else {
          await conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
          await within(new Response(conn.readable).arrayBuffer().catch(() => {}), 5_000, "EOF");
        }
        await until(() => closed.length === 1, "closeRequest()");
        await until(() => server.activeRequests === 0, "the request to be over");
      } finally {
        await server.shutdown();
        await within(server.serverClose(), 5_000, "serverClose()");
        await serving;
      }
      assert.equal(server.activeRequests, 0);
    });
  }
}
