/**
 * `@x/socketserver/testing` run as a user would: `deno test` over small
 * suites written with it (tests/fixtures/testing_*.ts), with no
 * `--allow-*` flag and no config granting any permission.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runCommand } from "./_process.ts";

/** Runs `deno test` on a fixture with only the flags given. */
function denoTest(fixture: string, flags: string[] = []) {
  return runCommand("deno", [
    "test",
    "--no-prompt",
    "--no-config", // deno.json grants the suite's permissions to deno test
    "--import-map",
    "tests/fixtures/testing_import_map.json",
    "--unstable-net",
    ...flags,
    `tests/fixtures/${fixture}`,
  ], {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    timeoutMs: 120_000,
    env: { NO_COLOR: "1" },
  });
}

Deno.test("@x/socketserver/testing: in-memory handler tests pass under deno test with no permission at all", async () => {
  const { code, stdout, stderr } = await denoTest("testing_no_permissions.ts");
  assert.equal(code, 0, `deno test failed:\n${stdout}\n${stderr}`);
  assert.match(stdout, /ok \| 5 passed \| 0 failed/);
});

Deno.test("@x/socketserver/testing: a handler test that deadlocks fails at once with Deno's pending-promise error instead of hanging", async () => {
  const started = performance.now();
  const { code, stdout, stderr } = await denoTest("testing_deadlock.ts");
  assert.notEqual(code, 0);
  assert.match(
    stdout + stderr,
    /Promise resolution is still pending but the event loop has already resolved/,
  );
  assert.match(stdout, /FAILED \| 0 passed \| 1 failed/);
  assert.ok(performance.now() - started < 120_000);
});

Deno.test("withServer() runs a TCP server with --allow-net=127.0.0.1 alone, and a Unix one with --allow-net and --allow-read/--allow-write for the temporary directory", async () => {
  for (
    const flags of [
      ["--allow-net=127.0.0.1", "--filter", "tcp"],
      ["--allow-net", "--allow-read=/tmp", "--allow-write=/tmp", "--filter", "unix"],
    ]
  ) {
    const { code, stdout, stderr } = await denoTest("testing_with_server.ts", flags);
    assert.equal(code, 0, `deno test ${flags.join(" ")} failed:\n${stdout}\n${stderr}`);
    assert.match(stdout, /ok \| 1 passed \| 0 failed \| 1 filtered out/);
  }
});
