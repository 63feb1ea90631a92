/**
 * Attack on issue 16: `restartChildren()` when a new child listens and then
 * dies while the other new children are still starting. The restart goes on
 * (that child did become ready) and a replacement is started for it — but
 * `childDied()`, "called in the parent when a child ends without having
 * been asked to", never hears of it: a child that ends during a rollout is
 * skipped as the rollout's to report, and a rollout that succeeds reports
 * nothing. A release that crashes shortly after it listens is thus hidden
 * from the hook operators count crashes with.
 */
import assert from "node:assert/strict";
import { runCommand } from "./_process.ts";

const FIXTURE = new URL("./fixtures/attack16_rollout_death.ts", import.meta.url).pathname;

/** Runs the fixture (a parent whose new children die or are shut down during
 * restartChildren()) and returns the last JSON line it printed. */
async function rollout(...extra: string[]) {
  const dir = await Deno.makeTempDir({ prefix: "attack16-rollout-" });
  try {
    const { code, stdout, stderr } = await runCommand("deno", [
      "run",
      "--no-prompt",
      "--unstable-net",
      "--allow-net=127.0.0.1",
      "--allow-run=deno",
      `--allow-read=${dir}`,
      `--allow-write=${dir}`,
      FIXTURE,
      `${dir}/starts`,
      ...extra,
    ], { timeoutMs: 60_000 });
    assert.equal(code, 0, stderr);
    return { stdout, result: JSON.parse(stdout.trim().split("\n").at(-1)!) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ForkingTCPServer.restartChildren(): a new child that listens and then dies during the rollout is reported to childDied()", async () => {
  const { stdout, result } = await rollout();
  // the dead child was replaced: 2 first children, 2 new ones, 1 replacement
  assert.equal(result.starts, 5, stdout);
  assert.equal(
    result.deaths.filter((death: { code: number }) => death.code === 7).length,
    1,
    `childDied() was not told of the new child that died with exit code 7: ${stdout}`,
  );
});

Deno.test("ForkingTCPServer.restartChildren() abandoned by shutdown() does not say that the old children serve on", async () => {
  const { restart } = (await rollout("shutdown")).result;
  assert.match(restart, /shut down/, restart);
  // shutdown() stops every child, the old ones included
  assert.doesNotMatch(restart, /serve on/, restart);
});
