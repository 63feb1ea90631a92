/**
 * The doc-page interfaces (see .ci/doc_pages.ts) are what
 * `deno task doc:pages` writes from the classes: one run of the generator in
 * check mode, which fails when a page is out of date.
 */
import assert from "node:assert/strict";

Deno.test("deno task doc:pages --check: every server's doc-page interface matches the methods its classes define", async () => {
  const script = new URL("../.ci/doc_pages.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command("deno", {
    args: ["run", "--allow-read", "--allow-run=deno", script, "--check"],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  assert.equal(code, 0, decode(stdout) + decode(stderr));
});
