/**
 * A `getRequest()` override with a bug, as a port of Python's `get_request()` override (wrapping
 * the accepted socket, filtering clients) may have: Python's `serve_forever()` stops with the
 * traceback, which names the line. Here a failed `getRequest()` is retried with back-off (it is
 * meant for `EMFILE`), and the line it logs gave only the message — `Cannot read properties of
 * undefined (reading 'includes')` — with nothing to find the bug by. A failure that is not the
 * system's (not a `Deno.errors` class) is logged with its stack.
 */
import assert from "node:assert/strict";
import { capturingStderr } from "./_console.ts";
import { StreamRequestHandler, TCPServer } from "../mod.ts";

Deno.test("getRequest() override that throws a TypeError: the log names where, as Python's traceback does", async () => {
  const accepted: Deno.Conn[] = [];
  class Filtering extends TCPServer {
    allowed: string[] | undefined; // the bug: never set
    override async getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]> {
      const [conn, address] = await super.getRequest();
      accepted.push(conn);
      if (!this.allowed!.includes(address.hostname)) conn.close();
      return [conn, address];
    }
  }
  await using server = new Filtering(["127.0.0.1", 0], StreamRequestHandler);
  using _client = await Deno.connect(server.serverAddress);
  try {
    const stderr = await capturingStderr(() => server.handleRequest());
    assert.match(stderr, /taking a request failed \(Cannot read properties of undefined/);
    assert.match(stderr, /at Filtering\.getRequest/, "the stack of the bug is logged");
  } finally {
    for (const conn of accepted) conn.close();
  }
});
