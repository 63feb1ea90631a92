/**
 * Descriptor exhaustion: when `accept` fails with EMFILE the accept loop
 * backs off instead of spinning, logs one line, and recovers on its own once
 * descriptors are free. Run in a child process started under `ulimit -n 256`.
 */
import assert from "node:assert/strict";
import { decoder } from "./_net.ts";

Deno.test("EMFILE on accept: back-off without a busy loop, one log line, recovery once descriptors free up", async () => {
  const fixture = new URL("./fixtures/emfile_server.ts", import.meta.url).pathname;
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      'ulimit -n 256 && exec deno run --allow-net=127.0.0.1 --allow-read=/dev/null "$0"',
      fixture,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  const err = decoder.decode(stderr);
  assert.equal(code, 0, `the server process failed:\n${err}`);

  const result = JSON.parse(decoder.decode(stdout).trim().split("\n").at(-1)!);
  assert.ok(result.exhausted > 100, `only ${result.exhausted} descriptors taken`);
  assert.equal(result.reply, "ping\n", "the client was served once descriptors were free");
  // back-off: at once, 10, 20, 40 ... ms; a busy loop would make thousands
  assert.ok(result.attemptsDuring >= 2, `${result.attemptsDuring} accept attempts`);
  assert.ok(
    result.attemptsDuring <= 20,
    `${result.attemptsDuring} accept attempts in ${result.episodeMs} ms: a busy loop`,
  );
  const lines = err.split("\n").filter((line) => line.includes("taking a request failed"));
  assert.equal(lines.length, 1, `one log line per episode, got:\n${err}`);
  assert.match(lines[0], /Too many open files/);
  assert.match(lines[0], /ulimit -n/);
});
