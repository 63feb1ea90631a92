/**
 * `restartChildren()` through examples/forking.ts's SIGHUP: the new children
 * run the program file as it is on disk then (a copy of the example, edited
 * between the start and the signal), the parent keeps its own code, and a
 * new child that fails to listen abandons the restart with the old children
 * still serving.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ask } from "../_net.ts";
import { Subprocess } from "../_process.ts";
import { within } from "../_wait.ts";

const EXAMPLE = new URL("../../examples/forking.ts", import.meta.url);
const MOD = new URL("../../mod.ts", import.meta.url).href;

const digest = (algorithm: string, text: string) =>
  createHash(algorithm).update(text).digest("hex");

/** The example, copied into a directory of its own (importing the library
 * by its absolute URL), so that the test can edit the file it runs. */
async function copyExample(): Promise<{ dir: string; file: string; source: string }> {
  const dir = await Deno.makeTempDir({ prefix: "forking-restart-" });
  const source = (await Deno.readTextFile(EXAMPLE)).replace('from "../mod.ts"', `from "${MOD}"`);
  const file = `${dir}/forking.ts`;
  await Deno.writeTextFile(file, source);
  return { dir, file, source };
}

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
  const out = await new Deno.Command("python3", { args: ["-c", script, String(pid)] }).output();
  return new TextDecoder().decode(out.stdout).trim().split(" ").filter(Boolean).map(Number);
}

async function start(file: string): Promise<{ example: Subprocess; port: number }> {
  const example = new Subprocess("deno", [
    "run",
    "--unstable-net", // outside the repository: no deno.json to say so
    "--allow-net=0.0.0.0",
    "--allow-run=deno",
    file,
    "0",
  ], { stdin: "null" });
  const [, port] = await within(example.waitFor(/Serving on port (\d+)/), 30_000, "the example");
  return { example, port: Number(port) };
}

async function stop(example: Subprocess): Promise<void> {
  example.child.kill("SIGTERM");
  const { status } = await within(example.finish(), 20_000, "the example to exit");
  assert.equal(status.code, 0);
}

Deno.test("examples/forking.ts on SIGHUP: restartChildren() starts children from the file as it is on disk now, then stops the old ones; the parent keeps its code", async () => {
  const { dir, file, source } = await copyExample();
  try {
    const { example, port } = await start(file);
    try {
      assert.equal(await ask(port, "hello"), digest("sha256", "hello\n"));
      const before = await childrenOf(example.child.pid);
      // a new release: SHA-1 digests, and another message, which the parent,
      // keeping the code it started with, does not print
      const release = source.replace('createHash("sha256")', 'createHash("sha1")')
        .replace("Restarted: ", "Reloaded: ");
      assert.notEqual(release, source);
      await Deno.writeTextFile(file, release);
      example.child.kill("SIGHUP");
      await within(example.waitFor(/^Restarted: \d+ new processes serve$/), 60_000, "the restart");
      const after = await childrenOf(example.child.pid);
      assert.equal(after.length, before.length, `children: ${before} then ${after}`);
      assert.ok(after.every((pid) => !before.includes(pid)), `children: ${before} then ${after}`);
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => ask(port, `line ${i}`)),
      );
      assert.deepEqual(answers, answers.map((_, i) => digest("sha1", `line ${i}\n`)));
    } finally {
      await stop(example);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/forking.ts on SIGHUP: a new child that fails before it listens abandons restartChildren(), and the old children serve on", async () => {
  const { dir, file, source } = await copyExample();
  try {
    const { example, port } = await start(file);
    try {
      const before = await childrenOf(example.child.pid);
      // a broken release: every child of it throws while it starts
      const broken = source.replace(
        "if (import.meta.main) {",
        'if (import.meta.main && isForkingChild()) throw new Error("broken release");\n' +
          "if (import.meta.main) {",
      );
      assert.notEqual(broken, source);
      await Deno.writeTextFile(file, broken);
      example.child.kill("SIGHUP");
      const [line] = await within(
        example.waitFor(
          /^Restart failed: restartChildren\(\) was abandoned and the old children of DigestServer serve on: .*$/,
        ),
        60_000,
        "the restart to be abandoned",
      );
      assert.match(line, /ended with exit code 1 before it listened/);
      assert.deepEqual(await childrenOf(example.child.pid), before);
      assert.equal(await ask(port, "still here"), digest("sha256", "still here\n"));
    } finally {
      await stop(example);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/forking.ts on SIGHUP: new children that never listen abandon restartChildren() at readyTimeoutMs, and the old children serve on", async () => {
  const { dir, file, source } = await copyExample();
  try {
    // the running parent's code: a short readyTimeoutMs
    const patient = source.replace(
      "server.restartChildren({ graceMs: 2_000 })",
      "server.restartChildren({ graceMs: 2_000, readyTimeoutMs: 1_000 })",
    );
    assert.notEqual(patient, source);
    await Deno.writeTextFile(file, patient);
    const { example, port } = await start(file);
    try {
      const before = await childrenOf(example.child.pid);
      // a release whose children hang before they listen
      await Deno.writeTextFile(
        file,
        patient.replace(
          "if (import.meta.main) {",
          "if (import.meta.main && isForkingChild()) await new Promise(() => setInterval(() => {}, 1000));\n" +
            "if (import.meta.main) {",
        ),
      );
      example.child.kill("SIGHUP");
      const [line] = await within(
        example.waitFor(
          /^Restart failed: restartChildren\(\) was abandoned and the old children of DigestServer serve on: .*$/,
        ),
        30_000,
        "the restart to be abandoned",
      );
      assert.match(line, /did not listen within 1000 ms/);
      assert.deepEqual(await childrenOf(example.child.pid), before);
      assert.equal(await ask(port, "still here"), digest("sha256", "still here\n"));
    } finally {
      await stop(example);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
