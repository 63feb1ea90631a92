/**
 * `@x/socketserver/testing` needs no permission: a small suite of handler
 * tests written with it (tests/fixtures/testing_no_permissions.ts) passes
 * under `deno test --no-prompt` with no `--allow-*` flag and no config
 * granting any, and its last test proves the run had none.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { run } from "./_helpers.ts";

Deno.test("@x/socketserver/testing: in-memory handler tests pass under deno test with no permission at all", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const { code, stdout, stderr } = await run("deno", [
    "test",
    "--no-prompt",
    "--no-config", // deno.json grants the suite's permissions to deno test
    "--import-map",
    "tests/fixtures/testing_import_map.json",
    "--unstable-net",
    "tests/fixtures/testing_no_permissions.ts",
  ], { cwd: root, timeoutMs: 120_000, env: { NO_COLOR: "1" } });
  assert.equal(code, 0, `deno test failed:\n${stdout}\n${stderr}`);
  assert.match(stdout, /ok \| 5 passed \| 0 failed/);
});
