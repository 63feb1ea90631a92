/**
 * `serveForever()` called twice on a `ForkingTCPServer`'s parent: the second call is refused,
 * as on every server, but it used to reject the first call's `server.ready` on its way out
 * (with its own "already running" error), though the first serves on: a script awaiting
 * `ready` before sending its clients (docs/forking.md) then failed, or sent them into the
 * start-up window where they are reset. And a call that cannot start (the server closed, a bad
 * `pollInterval`) threw without settling `ready`, which a script awaiting it waited on for ever.
 */
import assert from "node:assert/strict";
import { runForkingFixture } from "./_process.ts";

const FIXTURE = new URL("./fixtures/attack18_forking_twice.ts", import.meta.url).pathname;

Deno.test("serveForever() of a ForkingTCPServer called again while it starts is refused and leaves the running call's server.ready to resolve", async () => {
  const lines = await runForkingFixture(FIXTURE);
  const result = JSON.parse(lines.at(-1)!);
  assert.match(result.second, /^rejected: serveForever\(\) is already running/);
  assert.equal(result.ready, "resolved", "server.ready of the call that serves");
  assert.equal(result.reply, "HELLO\n", "a client sent once ready is answered");
});

const CLOSED = new URL("./fixtures/attack18_forking_closed_ready.ts", import.meta.url).pathname;

Deno.test("serveForever() of a ForkingTCPServer that cannot start (closed first, a bad pollInterval) rejects server.ready with its error, instead of leaving it pending for ever", async () => {
  const lines = await runForkingFixture(CLOSED);
  const cases = lines.map((line) => JSON.parse(line));
  assert.deepEqual(cases, [
    { case: "closed", served: "BadResource", ready: "rejected: BadResource" },
    { case: "pollInterval", served: "RangeError", ready: "rejected: RangeError" },
  ]);
});
