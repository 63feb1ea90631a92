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

/** `shutdown()` as serviceActions() awaits it, given up once `released` (the test's bound: else a
 * regression would hang serveForever() for ever); resolves to whether it resolved first. */
function shutdownOrRelease(server: TCPServer, released: Promise<void>): Promise<boolean> {
  return Promise.race([server.shutdown().then(() => true), released.then(() => false)]);
}

Deno.test("shutdown() awaited twice in serviceActions() resolves both times: serveForever(), which waits for the actions, returns", async () => {
  const release = Promise.withResolvers<void>();
  const resolved: boolean[] = [];
  let runs = 0;
  class Twice extends TCPServer {
    override async serviceActions() {
      if (runs++ > 0) return;
      resolved.push(await shutdownOrRelease(this, release.promise));
      resolved.push(await shutdownOrRelease(this, release.promise)); // a helper that stops too
    }
  }
  await using server = new Twice(["127.0.0.1", 0], BaseRequestHandler);
  const serving = server.serveForever(1);
  try {
    await within(
      serving,
      5_000,
      "serveForever() to return after serviceActions() stopped it twice",
    );
  } finally {
    release.resolve();
    await serving;
  }
  assert.deepEqual(resolved, [true, true]);
});

Deno.test("shutdown() awaited in serviceActions() after another caller's shutdown() resolves: serveForever(), which waits for the actions, returns", async () => {
  const gate = Promise.withResolvers<void>();
  const inActions = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  let resolved: boolean | null = null;
  let runs = 0;
  class Stopping extends TCPServer {
    override async serviceActions() {
      if (runs++ > 0) return;
      inActions.resolve();
      await gate.promise;
      resolved = await shutdownOrRelease(this, release.promise); // its own reason: an idle limit
    }
  }
  await using server = new Stopping(["127.0.0.1", 0], BaseRequestHandler);
  const serving = server.serveForever(1);
  await within(inActions.promise, 5_000, "serviceActions() to run while idle");
  const stopping = server.shutdown(); // a signal handler, say
  gate.resolve();
  try {
    await within(
      Promise.all([serving, stopping]),
      5_000,
      "serveForever() and the first shutdown() once serviceActions() called shutdown() too",
    );
  } finally {
    release.resolve();
    await serving;
  }
  assert.equal(resolved, true);
});

Deno.test("shutdown() called from a timer's callback that serviceActions() starts is not taken for serviceActions()'s own: it resolves only once serveForever() has returned", async () => {
  const order: string[] = [];
  const called = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;
  let runs = 0;
  class TimerStop extends TCPServer {
    override async serviceActions() {
      if (runs++ > 0) return;
      // a timer's callback does not continue serviceActions()'s async stack
      setTimeout(() => {
        stopping = this.shutdown().then(() => void order.push("shutdown() resolved"));
        called.resolve();
      }, 0);
      await called.promise;
      // a connect through the kernel: the event loop turns, and a shutdown()
      // taken for serviceActions()'s own would have resolved by now
      const conn = await Deno.connect(this.serverAddress);
      conn.close();
      order.push("serviceActions() ended");
    }
  }
  await using server = new TimerStop(["127.0.0.1", 0], BaseRequestHandler);
  const serving = server.serveForever(1).then(() => void order.push("serveForever() returned"));
  await within(called.promise, 5_000, "the timer to call shutdown()");
  await within(Promise.all([serving, stopping!]), 5_000, "serveForever() and shutdown()");
  assert.deepEqual(order, [
    "serviceActions() ended",
    "serveForever() returned",
    "shutdown() resolved",
  ]);
});
