/**
 * What the Linux kernel does to a `reusePort` listener's connections when it
 * closes, with and without `net.ipv4.tcp_migrate_req` — the ground a
 * restart without loss stands on (docs/deployment.md). Raw Deno, no
 * library: tests/fixtures/reuseport_queue.ts and reuseport_rounds.ts run in
 * a network namespace of their own (tests/_netns.ts), where the sysctl is
 * set without touching the machine's. Root only; skipped with the reason
 * elsewhere. The counts from the loaded runs are printed, never timed.
 */
import assert from "node:assert/strict";
import { build } from "../bench/build.ts";
import { hasCommand } from "./_process.ts";
import { inNetns, netnsSkipReason } from "./_netns.ts";

const MIGRATE = "net.ipv4.tcp_migrate_req";
const skip = await netnsSkipReason([MIGRATE]);
const HAS_CC = hasCommand("cc");
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

/** Runs a fixture with `deno run -A` in a fresh namespace with
 * tcp_migrate_req = `migrate`, and parses its JSON line. `-A` because Deno
 * reads /proc only with it; the namespace is thrown away after the run. */
async function runFixture(
  name: string,
  migrate: 0 | 1,
  args: string[],
): Promise<Record<string, unknown>> {
  const output = await inNetns(
    Deno.execPath(),
    ["run", "--no-config", "--unstable-net", "-A", fixture(name), ...args],
    { sysctls: { [MIGRATE]: migrate }, timeoutMs: 90_000 },
  );
  assert.equal(output.code, 0, `${name} failed: ${output.stderr}`);
  return JSON.parse(output.stdout.trim().split("\n").at(-1)!);
}

Deno.test({
  name:
    "Deno.Listener.close() resets the connections in its accept queue, unless tcp_migrate_req=1 hands them to a reusePort listener still open",
  ignore: skip !== null,
  async fn() {
    const queued = 8;
    // [tcp_migrate_req, a second listener joins before the close, served]
    const cases: [0 | 1, boolean, number][] = [[0, true, 0], [1, false, 0], [1, true, queued]];
    for (const [migrate, successor, served] of cases) {
      const r = await runFixture("reuseport_queue.ts", migrate, [
        `--queued=${queued}`,
        ...(successor ? ["--successor"] : []),
      ]);
      const what = `tcp_migrate_req=${migrate}, successor: ${successor}: ${JSON.stringify(r)}`;
      assert.equal(r.queued, queued, what);
      assert.equal(r.served, served, what);
      assert.equal(r.accepted_by_successor, served, what);
      assert.equal(r.reset, queued - served, what);
    }
  },
});

/** 50 clients, 4 requests per connection, 10 hand-overs; prints the counts. */
async function rounds(migrate: 0 | 1, args: string[]): Promise<Record<string, unknown>> {
  const r = await runFixture("reuseport_rounds.ts", migrate, [
    "--loadgen",
    await build("loadgen"),
    "--rounds=10",
    "--clients=50",
    "--per-conn=4",
    ...args,
  ]);
  console.log(
    `${args.join(" ")} tcp_migrate_req=${migrate}: ${r.failed} of ${
      Number(r.requests) + Number(r.failed)
    } requests failed (refused ${r.refused}, reset ${r.reset}, eof ${r.eof}); kernel ${
      JSON.stringify(r.kernel)
    }`,
  );
  assert.equal(r.mismatches, 0, JSON.stringify(r));
  assert.equal(r.other, 0, JSON.stringify(r));
  assert.ok(Number(r.requests) > 0, JSON.stringify(r));
  // every listener that closed had taken its share of the load
  const perRound = r.accepted_per_round as number[];
  assert.equal(perRound.length, 10);
  assert.ok(perRound.every((n) => n > 0), JSON.stringify(r));
  return r;
}

for (const mode of ["single", "bluegreen"]) {
  const how = mode === "single"
    ? "reusePort listeners of one process taking turns"
    : "a new process's reusePort listener taking over from the old one, which drains and exits,";
  Deno.test({
    name:
      `Deno.listen({ reusePort }): ${how} fail at most one request of 50 clients across 10 hand-overs with tcp_migrate_req=1, none refused (and the count with 0 is printed)`,
    ignore: skip !== null || !HAS_CC,
    async fn() {
      const without = await rounds(0, [`--mode=${mode}`]);
      const migrated = await rounds(1, [`--mode=${mode}`]);
      // Raw Deno can withdraw a pending accept() only by close(): one reset in 5,682 requests was
      // seen once, with no migration failure (the library's restarts are held to 0 by
      // netns_deploy_test.ts); more than one is a regression
      assert.ok(Number(migrated.failed) <= 1, JSON.stringify(migrated));
      assert.equal(migrated.refused, 0, JSON.stringify(migrated));
      assert.equal(
        (migrated.kernel as Record<string, number>)["TcpExt.TCPMigrateReqFailure"],
        0,
        JSON.stringify(migrated),
      );
      // without migration the loss depends on what sat in the queue at each
      // close: printed above, not asserted
      void without;
    },
  });
}

Deno.test({
  name:
    "Deno.listen({ reusePort }): a listener left open 100 ms after it stops accepting fails no request with tcp_migrate_req=1, its queue migrated at the close",
  ignore: skip !== null || !HAS_CC,
  async fn() {
    await rounds(0, ["--linger=100"]);
    const r = await rounds(1, ["--linger=100"]);
    assert.equal(r.failed, 0, JSON.stringify(r));
    const kernel = r.kernel as Record<string, number>;
    assert.equal(kernel["TcpExt.TCPMigrateReqFailure"], 0, JSON.stringify(r));
    // a closed-loop client whose connection sits in that queue for 100 ms
    // is stuck there: every closing listener has some to migrate
    assert.ok(kernel["TcpExt.TCPMigrateReqSuccess"] > 0, JSON.stringify(r));
  },
});
