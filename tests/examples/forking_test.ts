/**
 * examples/forking.ts end to end: it serves SHA-256 digests from its
 * children as soon as it says it serves, and SIGTERM stops it within its
 * grace period — an idle client's connection closed — with exit code 0 and
 * no child left.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { processExists } from "../_kernel.ts";
import { ask, readLineWithin, readToEnd } from "../_net.ts";
import { runCommand, startUntilReady } from "../_process.ts";
import { within } from "../_wait.ts";

const EXAMPLE = new URL("../../examples/forking.ts", import.meta.url).pathname;

/** The process ids of `pid`'s children, from /proc (through python3: Deno
 * lets only `--allow-all` read it). */
async function childrenOf(pid: number): Promise<number[]> {
  const script = `
import glob, sys
pids = set()
for name in glob.glob(f"/proc/{sys.argv[1]}/task/*/children"):
    pids.update(open(name).read().split())
print(" ".join(sorted(pids)))
`;
  const { code, stdout, stderr } = await runCommand("python3", ["-c", script, String(pid)]);
  if (code !== 0) throw new Error(`Could not list the children of process ${pid}: ${stderr}`);
  return stdout.trim().split(" ").filter(Boolean).map(Number);
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

Deno.test("examples/forking.ts answers SHA-256 digests from its children (one per core) once it says it serves; SIGTERM stops it within its grace, exit 0, no child left", async () => {
  await using example = await startUntilReady("deno", [
    "run",
    "--allow-net=0.0.0.0",
    "--allow-run=deno",
    EXAMPLE,
    "0",
  ], /Serving on port (\d+) with (\d+) processes/);
  const port = Number(example.match[1]);
  assert.equal(Number(example.match[2]), navigator.hardwareConcurrency);
  // Right after the line: had the parent's listener still been open, the
  // kernel would have queued some of these there, to be reset.
  const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`);
  const answers = await Promise.all(lines.map((line) => ask(port, line)));
  assert.deepEqual(answers, lines.map((line) => sha256(line + "\n")));
  const children = await childrenOf(example.child.pid);
  assert.equal(children.length, navigator.hardwareConcurrency, `children: ${children}`);

  // An idle client holds its connection open: the stop waits for it only
  // as long as the example's grace period.
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  await idle.write(new TextEncoder().encode("hello\n"));
  assert.equal(await readLineWithin(idle), sha256("hello\n"));
  const stopping = performance.now();
  const { status, stdout } = await within(example.stop("SIGTERM"), 15_000, "the example to exit");
  const stoppedIn = performance.now() - stopping;
  const { bytes } = await readToEnd(idle); // closed at the end of the grace
  idle.close();

  assert.equal(status.code, 0);
  assert.match(stdout, /Stopped/);
  assert.equal(bytes.length, 0);
  assert.ok(stoppedIn < 10_000, `stopped after ${Math.round(stoppedIn)} ms: no grace period`);
  for (const pid of children) {
    assert.equal(await processExists(pid), false, `child ${pid} is still running`);
  }
});
