/**
 * The examples' Ctrl-C: the first stops gracefully, giving requests in
 * flight their grace period; a second one exits at once — with every child
 * of the forking example stopped, not left to finish on its own.
 */
import assert from "node:assert/strict";
import { processExists, untilAcceptQueueEmpty } from "../_kernel.ts";
import { runCommand } from "../_process.ts";
import { within } from "../_wait.ts";

/** An example started with `deno run`, whose stdout is kept as it comes. */
class Example implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  out = "";
  #lines: ReadableStreamDefaultReader<string>;
  #stderr: Promise<string>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = new Deno.Command("deno", {
      args: ["run", ...args],
      env,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#lines = this.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stderr = new Response(this.child.stderr).text();
  }

  /** Reads stdout until `pattern` matches (or it ends), at most `ms`. */
  printed(pattern: RegExp, ms = 15_000): Promise<RegExpExecArray> {
    const read = async () => {
      let match;
      while (!(match = pattern.exec(this.out))) {
        const { value, done } = await this.#lines.read();
        if (done) throw new Error(`the example ended before printing ${pattern}: ${this.out}`);
        this.out += value;
      }
      return match;
    };
    return within(read(), ms, `the example to print ${pattern}; it printed ${this.out}`);
  }

  /** The exit status, at most `ms` from now, and everything printed. */
  async exited(ms: number): Promise<{ status: Deno.CommandStatus; stderr: string }> {
    const status = await within(this.child.status, ms, "the example to exit");
    for (;;) {
      const { value, done } = await this.#lines.read();
      if (done) break;
      this.out += value;
    }
    return { status, stderr: await this.#stderr };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // exited
    }
    await this.child.status;
    await this.#lines.cancel().catch(() => {});
    await this.#stderr;
  }
}

/** Waits until connecting to `port` is refused: the example has stopped
 * listening, so it took the first signal (a second one sent before might
 * merge with it, or overtake it when it is another signal). */
async function refused(port: number, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionRefused) return;
      throw error;
    }
    if (performance.now() > deadline) throw new Error(`port ${port} still accepts after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("examples/echo.ts exits at once on a second Ctrl-C instead of waiting out the grace period", async () => {
  const echo = new URL("../../examples/echo.ts", import.meta.url).pathname;
  await using example = new Example(["--allow-net=localhost", "--allow-env", echo, "0"], {
    GRACE_MS: "60000",
  });
  const port = Number((await example.printed(/Serving on .*:(\d+)/))[1]);
  const silent = await Deno.connect({ hostname: "127.0.0.1", port }); // in flight, for ever
  try {
    await untilAcceptQueueEmpty(port);
    example.child.kill("SIGINT");
    await example.printed(/Stopping/);
    example.child.kill("SIGINT");
    const { status, stderr } = await example.exited(10_000);
    assert.equal(status.code, 130, stderr);
    assert.match(example.out, /Second SIGINT: exiting now/);
  } finally {
    silent.close();
  }
});

Deno.test("serveUntilSignal() in an example exits at once on a second signal, saying so", async () => {
  const http = new URL("../../examples/http_server.ts", import.meta.url).pathname;
  await using example = new Example(["--allow-net=127.0.0.1", "--allow-env=HOST,PORT", http, "0"]);
  const port = Number((await example.printed(/listening on \S+:(\d+)/))[1]);
  const slow = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await slow.write(new TextEncoder().encode("GET / HTTP/1.1\r\n")); // and no more
    await untilAcceptQueueEmpty(port);
    example.child.kill("SIGTERM");
    await refused(port);
    example.child.kill("SIGINT");
    const { status, stderr } = await example.exited(10_000);
    assert.equal(status.code, 130, stderr);
    assert.match(example.out, /second SIGINT, exiting without waiting/);
  } finally {
    slow.close();
  }
});

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

Deno.test("examples/forking.ts on a second SIGTERM stops its children at once and exits, leaving none behind", async () => {
  const forking = new URL("../../examples/forking.ts", import.meta.url).pathname;
  await using example = new Example(["--allow-net=0.0.0.0", "--allow-run=deno", forking, "0"]);
  const port = Number((await example.printed(/Serving on port (\d+)/))[1]);
  const children = await childrenOf(example.child.pid);
  assert.ok(children.length > 0);
  // a client holding its connection open keeps its child for the 2 s grace
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await idle.write(new TextEncoder().encode("hello\n"));
    await idle.read(new Uint8Array(65));
    example.child.kill("SIGTERM");
    await refused(port);
    example.child.kill("SIGTERM");
    const { status, stderr } = await example.exited(10_000);
    assert.equal(status.code, 143, stderr);
    assert.match(example.out, /Second SIGTERM: stopping the children now/);
    for (const pid of children) {
      assert.equal(await processExists(pid), false, `child ${pid} is still running`);
    }
  } finally {
    idle.close();
  }
});
