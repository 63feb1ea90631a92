/**
 * `allowReusePort: true` without `--unstable-net`: a catchable error naming
 * the flag on every server, where Deno itself ends the process (exit code 70).
 */
import assert from "node:assert/strict";
import { runCommand } from "./_process.ts";

const FIXTURE = new URL("./fixtures/reuse_port.ts", import.meta.url).pathname;

Deno.test("allowReusePort: true without --unstable-net throws a catchable NotSupported naming the flag, on every server", async () => {
  const { code, stdout, stderr } = await runCommand("deno", [
    "run",
    "--no-config",
    "--allow-net=127.0.0.1",
    "--allow-read",
    FIXTURE,
  ]);
  assert.equal(code, 0, `the process ended (code ${code}): ${stderr}`);
  const results = JSON.parse(stdout) as Record<string, string>;
  for (const [name, outcome] of Object.entries(results)) {
    assert.match(outcome, /^NotSupported: .*--unstable-net/, name);
  }
  assert.match(results.TCPServer, /allowReusePort/);
  assert.deepEqual(Object.keys(results).length, 5);
});
