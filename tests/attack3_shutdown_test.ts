/**
 * attack3: `shutdown()` resolves once `serveForever()` has returned. Only
 * `serviceActions()` itself, which `serveForever()` waits for, may be
 * answered at once; any other caller waits for the return.
 */
import assert from "node:assert/strict";
import { BaseRequestHandler, TCPServer } from "../mod.ts";
import { within } from "./_wait.ts";

Deno.test("shutdown() from outside serviceActions() while an async serviceActions() is running resolves only once serveForever() has returned", async () => {
  const gate = Promise.withResolvers<void>();
  const inActions = Promise.withResolvers<void>();
  class Slow extends TCPServer {
    override async serviceActions() {
      inActions.resolve();
      await gate.promise; // e.g. reaping children, flushing a log
    }
  }
  await using server = new Slow(["127.0.0.1", 0], BaseRequestHandler);
  let returned = false;
  const serving = server.serveForever(1).then(() => returned = true);
  await within(inActions.promise, 5_000, "serviceActions() to run while idle");
  // the caller is not serviceActions(): a timer, a signal handler, another task
  const stopping = server.shutdown().then(() => returned);
  // serveForever() cannot return before the actions end: let them end soon
  const timer = setTimeout(() => gate.resolve(), 50);
  try {
    assert.equal(
      await within(stopping, 5_000, "shutdown()"),
      true,
      "shutdown() resolved while serveForever() was still waiting for serviceActions()",
    );
  } finally {
    clearTimeout(timer);
    gate.resolve();
    await serving;
  }
});
