/**
 * Subprocesses: whether a tool is installed, running a command to the end,
 * and three ways of driving a long-running one — {@linkcode Subprocess}
 * (converse with it line by line), {@linkcode startUntilReady} (a server
 * started once and stopped by a signal) and {@linkcode Fixture} (the
 * programs of tests/fixtures/ that print JSON events).
 *
 * @module
 */
import { encoder } from "./_net.ts";
import { within } from "./_wait.ts";

const decoder = new TextDecoder();
const missing = new Set<string>();

/**
 * Whether `command` can be run. A missing tool is reported once on stderr so
 * a skipped test says why; a missing `run` permission is an error, not a skip.
 */
export function hasCommand(command: string): boolean {
  try {
    new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    return true;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    if (!missing.has(command)) {
      missing.add(command);
      console.error(`${command} is not installed: its tests are skipped (.ci/run installs it)`);
    }
    return false;
  }
}

/** What a finished command printed. */
export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, feeding it `input` on stdin if given, and
 * killing it after `timeoutMs`. */
export async function runCommand(
  command: string,
  args: string[],
  options: Deno.CommandOptions & { input?: string | Uint8Array; timeoutMs?: number } = {},
): Promise<RunOutput> {
  const { input, timeoutMs = 20_000, ...rest } = options;
  const child = new Deno.Command(command, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...rest,
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    if (input !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(typeof input === "string" ? encoder.encode(input) : input);
      await writer.close();
    }
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a forking fixture under `deno run` with what a `ForkingTCPServer` on 127.0.0.1 needs
 * (`--allow-net=127.0.0.1 --allow-run=deno`), to completion; throws unless it exits 0. */
export async function runForkingFixture(
  path: string,
  args: string[] = [],
  timeoutMs?: number,
): Promise<string[]> {
  const flags = ["run", "--allow-net=127.0.0.1", "--allow-run=deno", path, ...args];
  const { code, stdout, stderr } = await runCommand("deno", flags, { timeoutMs });
  if (code !== 0) throw new Error(`${path} exited with ${code}: ${stderr}`);
  return stdout.trim().split("\n");
}

/** Runs a TypeScript program given as text with `deno run` and exactly the
 * permission flags given (nothing more), to completion. */
export function runDenoSource(program: string, flags: string[] = []): Promise<RunOutput> {
  return runCommand("deno", ["run", "--no-prompt", "--unstable-net", ...flags, "-"], {
    input: program,
  });
}

const BIND = new URL("./fixtures/bind.ts", import.meta.url).pathname;

/** Runs tests/fixtures/bind.ts — construct one server, report — in a Deno
 * subprocess with exactly `flags` (and no deno.json, so not even
 * `--unstable-net` unless given). */
export async function bindInSubprocess(
  flags: string[],
  kind: string,
  address: string,
): Promise<{ ok: boolean; name?: string; message?: string }> {
  const ran = await runCommand("deno", [
    "run",
    "--no-config",
    "--no-prompt",
    ...flags,
    BIND,
    kind,
    address,
  ]);
  const last = ran.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`bind.ts printed no result (exit ${ran.code}):\n${ran.stdout}\n${ran.stderr}`);
  }
}

/** A started subprocess whose stdout is read line by line, on demand. */
export class Subprocess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";
  #stderr: Promise<string>;
  #writer: WritableStreamDefaultWriter<Uint8Array> | null = null;

  constructor(command: string, args: string[], options: Deno.CommandOptions = {}) {
    this.child = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      ...options,
    }).spawn();
    this.#reader = this.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    this.#stderr = new Response(this.child.stderr).text();
  }

  /** Reads stdout until a line matches, and returns the match. */
  async waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    for (;;) {
      const newline = this.#buffered.indexOf("\n");
      if (newline !== -1) {
        const line = this.#buffered.slice(0, newline);
        this.#buffered = this.#buffered.slice(newline + 1);
        this.lines.push(line);
        const match = line.match(pattern);
        if (match) return match;
        continue;
      }
      const { value, done } = await this.#reader.read();
      if (done) {
        throw new Error(
          `Process ended before printing ${pattern}; stdout: ${
            JSON.stringify(this.lines)
          }; stderr: ${await this.#stderr}`,
        );
      }
      this.#buffered += value;
    }
  }

  /** The next line of stdout matching `pattern`, waited for at most `ms`. */
  async nextLine(pattern: RegExp, ms: number): Promise<string> {
    const what = () => `a line matching ${pattern}; stdout: ${JSON.stringify(this.lines)}`;
    return (await within(this.waitFor(pattern), ms, what)).input!;
  }

  /** All of stderr, once the process has closed it. */
  get stderr(): Promise<string> {
    return this.#stderr;
  }

  /** Writes `line` and a newline to stdin. */
  send(line: string): Promise<void> {
    return (this.#writer ??= this.child.stdin.getWriter()).write(encoder.encode(line + "\n"));
  }

  /** Closes stdin: the end of the commands. */
  async endInput(): Promise<void> {
    try {
      await (this.#writer ??= this.child.stdin.getWriter()).close();
    } catch {
      // not piped, or closed already
    }
  }

  /** Sends `signal`, unless the process has exited. */
  signal(signal: Deno.Signal): void {
    try {
      this.child.kill(signal);
    } catch {
      // already exited
    }
  }

  /** Reads the rest of stdout and waits for the exit. */
  async finish(): Promise<{ status: Deno.CommandStatus; stdout: string; stderr: string }> {
    let rest = this.#buffered;
    for (;;) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      rest += value;
    }
    this.#buffered = "";
    const status = await this.child.status;
    const stderr = await this.#stderr;
    await this.endInput();
    return { status, stdout: [...this.lines, rest].join("\n"), stderr };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.finish();
  }
}

/** A child process whose stdout has printed a line matching a pattern; its
 * remaining output is drained and discarded. Disposing it sends SIGTERM and
 * waits for the exit. */
export interface ReadyProcess extends AsyncDisposable {
  /** The match of the awaited line. */
  match: RegExpExecArray;
  /** The child. */
  child: Deno.ChildProcess;
  /** Sends `signal`, waits for the exit, returns the status and the rest of stdout. */
  stop(signal?: Deno.Signal): Promise<{ status: Deno.CommandStatus; stdout: string }>;
}

/**
 * Spawns `cmd` and waits (at most `timeoutMs`) for a line of its stdout to
 * match `ready`: the event that says it is listening.
 */
export async function startUntilReady(
  cmd: string,
  args: string[],
  ready: RegExp,
  timeoutMs = 15_000,
  env: Record<string, string> = {},
): Promise<ReadyProcess> {
  const child = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "inherit" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let match: RegExpExecArray | null = null;
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    while (!(match = ready.exec(seen))) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${cmd} exited before printing ${ready}; it printed: ${seen}`);
      seen += value;
    }
  } catch (error) {
    await reader.cancel();
    await child.status;
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const rest = (async () => {
    let out = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return out;
      out += value;
    }
  })();
  let stopped: Promise<{ status: Deno.CommandStatus; stdout: string }> | null = null;
  const stop = (signal: Deno.Signal = "SIGTERM") => {
    stopped ??= (async () => {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      const [status, stdout] = await Promise.all([child.status, rest]);
      return { status, stdout };
    })();
    return stopped;
  };
  return { match, child, stop, [Symbol.asyncDispose]: async () => void await stop() };
}

/** An event a fixture program printed. */
// deno-lint-ignore no-explicit-any
export type FixtureEvent = Record<string, any>;

/** Runs a fixture program that prints JSON events (one per line) on stdout
 * and reads commands on stdin. */
export class Fixture implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly events: FixtureEvent[] = [];
  readonly output: string[] = [];
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #waiters = new Set<() => void>();
  #reading: Promise<void>;
  #status: Promise<Deno.CommandStatus>;

  constructor(args: string[], options: { env?: Record<string, string> } = {}) {
    this.process = new Deno.Command("deno", {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: options.env,
    }).spawn();
    this.#stdin = this.process.stdin.getWriter();
    this.#reading = this.#read();
    this.#status = this.process.status;
  }

  async #read(): Promise<void> {
    const stderr = this.process.stderr.pipeThrough(new TextDecoderStream());
    const errors = (async () => {
      for await (const chunk of stderr) this.output.push(chunk);
    })();
    let pending = "";
    for await (const chunk of this.process.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          this.events.push(JSON.parse(line));
        } catch {
          this.output.push(line + "\n");
        }
        for (const wake of this.#waiters) wake();
      }
    }
    await errors;
    for (const wake of this.#waiters) wake();
  }

  /** The first event (from `from` on) that `match` accepts, awaited. */
  async next(
    match: (event: FixtureEvent) => boolean,
    ms = 20_000,
    from = 0,
  ): Promise<FixtureEvent> {
    const find = () => this.events.slice(from).find(match);
    const found = find();
    if (found) return found;
    const { promise, resolve } = Promise.withResolvers<FixtureEvent>();
    const wake = () => {
      const event = find();
      if (event) resolve(event);
    };
    this.#waiters.add(wake);
    try {
      return await within(
        promise,
        ms,
        `an event; got ${JSON.stringify(this.events)}; stderr: ${this.output.join("")}`,
      );
    } finally {
      this.#waiters.delete(wake);
    }
  }

  /** Sends a command line to the program. */
  async send(line: string): Promise<void> {
    await this.#stdin.write(encoder.encode(line + "\n"));
  }

  /** Resolves with the program's exit status, once its output (stdout and
   * stderr, which its children may share) has been read to the end. */
  get status(): Promise<Deno.CommandStatus> {
    return Promise.all([this.#status, this.#reading]).then(([status]) => status);
  }

  /** {@linkcode Fixture.status}, bounded: rejects (with what the program
   * printed) when it has not exited within `ms`. */
  exited(ms = 20_000): Promise<Deno.CommandStatus> {
    return within(this.status, ms, () => `the program to exit; stderr: ${this.output.join("")}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#stdin.close().catch(() => {});
    try {
      await within(this.#status, 10_000, "the fixture to exit");
    } catch {
      this.process.kill("SIGKILL");
    }
    await this.#status;
    await this.#reading;
  }
}
