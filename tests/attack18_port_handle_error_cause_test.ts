/**
 * The default `handleError()` as Python's prints it: Python's `handle_error()` prints the whole
 * traceback, and a `raise QueryError(...) from db_error` shows the database's error under "The
 * above exception was the direct cause". Ported, `throw new Error("...", { cause: dbError })` must
 * keep that cause in the report, or the reason a request failed is lost from the server's log.
 */
import assert from "node:assert/strict";
import { capturingStderr } from "./_console.ts";
import { BaseRequestHandler, TCPServer } from "../mod.ts";

Deno.test("handleError() by default reports an error's cause, as Python's traceback shows 'raise ... from'", async () => {
  class Query extends BaseRequestHandler {
    override handle() {
      const refused = new Error("the database refused the connection (db-cause-marker)");
      throw new Error("query failed", { cause: refused });
    }
  }
  await using server = new TCPServer(["127.0.0.1", 0], Query);
  using _client = await Deno.connect(server.serverAddress);
  const stderr = await capturingStderr(() => server.handleRequest());
  assert.match(stderr, /Exception occurred during processing of request from 127\.0\.0\.1:/);
  assert.match(stderr, /Error: query failed/);
  assert.match(stderr, /at Query\.handle/);
  assert.match(stderr, /db-cause-marker/, "the cause is reported");
});

Deno.test("handleError() by default shows a thrown plain object's fields, not [object Object]", async () => {
  class Rejects extends BaseRequestHandler {
    override handle() {
      throw { status: 503, reason: "backend-down-marker" };
    }
  }
  await using server = new TCPServer(["127.0.0.1", 0], Rejects);
  using _client = await Deno.connect(server.serverAddress);
  const stderr = await capturingStderr(() => server.handleRequest());
  assert.match(stderr, /backend-down-marker/);
  assert.doesNotMatch(stderr, /\[object Object\]/);
});
