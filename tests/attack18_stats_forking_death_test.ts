/**
 * `stats()` of a `ForkingTCPServer`'s parent when a child dies with a request in flight.
 * observability.md promises that "at any moment `accepted` = `active` + `completed` + `refused` +
 * the sum of `dropped` + `errors`". The parent keeps a dead child's last report with `active`
 * set to 0, so the request the child held when it died was accepted and never ended: the sum
 * came out one short for every such request, for the life of the parent.
 */
import assert from "node:assert/strict";
import type { ServerStats } from "../mod.ts";
import { decoder, encoder } from "./_net.ts";
import { Fixture } from "./_process.ts";

const FORKING = new URL("./fixtures/forking_stats.ts", import.meta.url).pathname;

/** `accepted` less every way a request ended, less those open: 0 when the counts add up. */
function unaccounted(stats: ServerStats): number {
  const dropped = Object.values(stats.dropped).reduce((sum, n) => sum + n, 0);
  return stats.accepted -
    (stats.active + stats.completed + stats.refused + stats.errors + dropped);
}

Deno.test("stats() of a ForkingTCPServer's parent still adds up after a child dies holding a request: the request it held counts as closed", async () => {
  await using app = new Fixture([
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=deno",
    FORKING,
  ]);
  const { port } = await app.next((event) => "port" in event);

  /** The parent's stats() once `done` holds, asking again as children report (every second). */
  const statsWhen = async (done: (stats: ServerStats) => boolean, what: string) => {
    const deadline = performance.now() + 15_000;
    for (;;) {
      const from = app.events.length;
      await app.send("stats");
      const event = await app.next((e) => "stats" in e, 10_000, from);
      if (done(event.stats)) return event as { stats: ServerStats; pids: number[] };
      if (performance.now() > deadline) {
        assert.fail(`${what}: stats() never got there: ${JSON.stringify(event.stats)}`);
      }
      // the children report once a second: ask again a little later (a pace, not a wait for it)
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  // a client whose connection stays open: its request is in flight in one child
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode("hello\n"));
    const buffer = new Uint8Array(16);
    const n = await conn.read(buffer);
    assert.equal(decoder.decode(buffer.subarray(0, n ?? 0)), "HELLO\n");
    const held = await statsWhen((s) => s.accepted === 1 && s.active === 1, "the open request");
    assert.equal(unaccounted(held.stats), 0, JSON.stringify(held.stats));

    // every child killed outright: the one holding the request among them
    for (const pid of held.pids) {
      const killed = await new Deno.Command("kill", { args: ["-KILL", String(pid)] }).output();
      assert.equal(killed.code, 0);
    }
    const after = await statsWhen(
      (s) => s.children?.died === held.pids.length && s.children?.running === held.pids.length,
      "the children replaced",
    );
    const { stats } = after;
    assert.equal(stats.accepted, 1);
    assert.equal(stats.active, 0);
    assert.equal(unaccounted(stats), 0, `the counts add up: ${JSON.stringify(stats)}`);
    assert.equal(stats.dropped.closed, 1, "the request the dead child held, cut: closed");
  } finally {
    conn.close();
  }
  await app[Symbol.asyncDispose]();
  const { final } = await app.next((event) => "final" in event);
  assert.equal(unaccounted(final), 0, JSON.stringify(final));
  assert.equal((await app.status).code, 0, app.output.join(""));
});
