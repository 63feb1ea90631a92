/**
 * request-flow.md: `serviceActions()` "may await `shutdown()` itself…: that call resolves at
 * once…, while every other caller waits for `serveForever()`, which returns once a run in
 * progress has ended" — Python's loop runs `service_actions()` inside `serve_forever()`. A
 * forking server's parent ran its `serviceActions()` from a timer nobody awaited: `shutdown()`
 * and `serveForever()` resolved while a run was still under way.
 */
import assert from "node:assert/strict";
import { runForkingFixture } from "./_process.ts";

const FIXTURE = new URL("./fixtures/attack18_forking_actions.ts", import.meta.url).pathname;

Deno.test("serveForever() and shutdown() of a ForkingTCPServer's parent return after the serviceActions() run under way, which may itself await shutdown()", async () => {
  const lines = await runForkingFixture(FIXTURE);
  const { events } = JSON.parse(lines.at(-1)!);
  assert.deepEqual(events, [
    "outside: actions ended",
    "outside: serveForever() returned",
    "outside: shutdown() resolved",
    "inside: shutdown() resolved in the actions",
    "inside: actions ended",
    "inside: serveForever() returned",
  ]);
});
