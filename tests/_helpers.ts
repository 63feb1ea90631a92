/**
 * Shared test helpers: clients, subprocesses, tool detection, and the driver
 * of the fixture programs that print JSON events (the forking tests).
 *
 * @module
 */
import net from "node:net";
import { ThreadingTCPServer } from "../mod.ts";

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/** mulberry32: a small, seeded, good-enough PRNG, so that a failing
 * random case can be replayed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whether anything is at `path` (a dangling link counts). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Connects to a TCP address (the server's `serverAddress`). */
export function connect(address: { hostname: string; port: number }): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: address.hostname, port: address.port });
}

/** Reads everything until the peer closes, as text; throws what the read
 * threw (see {@linkcode readToEnd} for a read that reports a reset). */
export async function readAll(conn: Deno.Conn): Promise<string> {
  const { bytes, error } = await readToEnd(conn);
  if (error !== null) throw error;
  return decoder.decode(bytes);
}

/** Sends `text`, half-closes, reads the whole reply and closes. */
export async function exchange(
  address: { hostname: string; port: number },
  text: string,
): Promise<string> {
  const conn = await connect(address);
  try {
    await writeAll(conn, encoder.encode(text));
    await conn.closeWrite();
    return await readAll(conn);
  } finally {
    conn.close();
  }
}

/** Writes all of `bytes`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let n = 0;
  while (n < bytes.length) n += await conn.write(bytes.subarray(n));
}

/** Reads exactly `n` bytes (or fewer at EOF), as text. */
export async function readExactly(conn: Deno.Conn, n: number): Promise<string> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) break;
    got += r;
  }
  return decoder.decode(out.subarray(0, got));
}

const missing = new Set<string>();

/**
 * Whether `command` can be run. A missing tool is reported once on stderr so
 * a skipped test says why; a missing `run` permission is an error, not a skip.
 */
export function has(command: string): boolean {
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

/** A started subprocess whose stdout is read line by line. */
export class Proc implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  #reader: ReadableStreamDefaultReader<string>;
  #buffered = "";
  #stderr: Promise<string>;

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
    try {
      await this.child.stdin.close();
    } catch {
      // already closed
    }
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

/** What a finished command printed. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, feeding it `input` on stdin if given, and
 * killing it after `timeoutMs`. */
export async function run(
  command: string,
  args: string[],
  options: Deno.CommandOptions & { input?: string | Uint8Array; timeoutMs?: number } = {},
): Promise<Output> {
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

/** Runs a TypeScript program given as text with `deno run` and exactly the
 * permission flags given (nothing more), to completion. */
export function runDeno(program: string, flags: string[] = []): Promise<Output> {
  return run("deno", ["run", "--no-prompt", "--unstable-net", ...flags, "-"], { input: program });
}

/**
 * Waits until the kernel's accept queue of the TCP listener on `port` is
 * empty — every connection made to it so far has been accepted by the
 * server — reading the queue length from `/proc/net/tcp{,6}` (through a
 * python3 child: Deno lets only `--allow-all` read `/proc`). Bounded: throws
 * after `tries` looks, 10 ms apart.
 */
export async function acceptQueueDrained(port: number, tries = 300): Promise<void> {
  const script = `
import sys
port = int(sys.argv[1])
queued = 0
for name in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(name).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        f = row.split()
        if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
            queued += int(f[4].split(":")[1], 16)
print(queued)
`;
  for (let i = 0; i < tries; i++) {
    const { code, stdout, stderr } = await run("python3", ["-c", script, String(port)]);
    if (code !== 0) throw new Error(`Could not read the accept queue of port ${port}: ${stderr}`);
    if (Number(stdout.trim()) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`The server on port ${port} did not accept its queued connections`);
}

/**
 * Counts the descriptors process `pid` (default: this one) has open — sockets
 * and files alike — leaving out the pipes, pidfds and `/dev/null` of the
 * subprocesses that do the counting, which the runtime releases
 * asynchronously. Deno lets only `--allow-all` list `/proc/<pid>/fd`, so a
 * python3 child (already a test permission) counts.
 */
export async function openDescriptors(pid: number = Deno.pid): Promise<number> {
  const script = `
import os, sys
d = f"/proc/{sys.argv[1]}/fd"
n = 0
for f in os.listdir(d):
    try:
        t = os.readlink(os.path.join(d, f))
    except OSError:
        continue
    if not (t.startswith("pipe:") or t == "anon_inode:[pidfd]" or t == "/dev/null"):
        n += 1
print(n)
`;
  const { code, stdout, stderr } = await run("python3", ["-c", script, String(pid)]);
  if (code !== 0) throw new Error(`Could not count the descriptors of process ${pid}: ${stderr}`);
  return Number(stdout.trim());
}

/** The name of an error, or `"EOF"` for `null`. */
export function errorName(error: unknown): string {
  if (error === null) return "EOF";
  return error instanceof Error ? error.name : String(error);
}

/** A threading TCP server on 127.0.0.1 that records the errors reaching
 * `handleError()` and `handleDrop()` instead of printing them, and lets a
 * test await the next drop. */
export class RecordingServer extends ThreadingTCPServer {
  errors: unknown[] = [];
  drops: unknown[] = [];
  #dropWaiters: Array<() => void> = [];

  override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    this.errors.push(error);
  }

  override handleDrop(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    this.drops.push(error);
    for (const wake of this.#dropWaiters.splice(0)) wake();
  }

  /** Stops and closes, forcing connections closed after 2 s: a test whose
   * behaviour broke fails instead of hanging on its handlers. */
  override async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
    await this.serverClose({ graceMs: 2000 });
  }

  /** Resolves once at least `count` drops have been recorded; rejects
   * when they have not within `ms`, so that a broken behaviour fails the
   * test rather than hanging it. */
  dropped(count = 1, ms = 10_000): Promise<void> {
    const wait = async () => {
      while (this.drops.length < count) {
        const { promise, resolve } = Promise.withResolvers<void>();
        this.#dropWaiters.push(resolve);
        await promise;
      }
    };
    return within(wait(), ms, () => `${count} drop(s); recorded: ${this.drops.map(errorName)}`);
  }
}

/**
 * Reads a connection until EOF; a reset ends it too, and is reported. When
 * no EOF comes within `deadlineMs` it closes the connection and throws, so
 * that a broken behaviour fails the test rather than hanging it.
 */
export async function readToEnd(
  conn: Deno.Conn,
  deadlineMs = 5000,
): Promise<{ bytes: Uint8Array; error: unknown }> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  let error: unknown = null;
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    conn.close();
  }, deadlineMs);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } catch (e) {
    error = e;
  } finally {
    clearTimeout(timer);
  }
  if (expired) throw new Error(`No EOF from the server within ${deadlineMs} ms`);
  const bytes = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes, error };
}

/**
 * Connects, sends `data`, and then resets the connection (a TCP RST, via
 * `SO_LINGER` 0 — which `Deno.Conn` cannot do, `node:net`'s
 * `resetAndDestroy()` can). Resolves once the socket is gone.
 *
 * @param port The server's port on 127.0.0.1.
 * @param data What to send before the reset.
 * @param before Awaited after sending and before resetting.
 */
export function sendThenReset(
  port: number,
  data: Uint8Array | string,
  before: () => Promise<unknown> = () => Promise.resolve(),
): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const socket = net.connect(port, "127.0.0.1", () => {
    socket.write(data, () => {
      before().then(() => socket.resetAndDestroy());
    });
  });
  socket.on("error", () => {});
  socket.on("close", () => resolve());
  return promise;
}

/** Rejects after `ms` with a message saying what was awaited (`what`, or
 * what it returns then: a message that shows the state at the deadline). */
export function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string | (() => string),
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const awaited = typeof what === "string" ? what : what();
      reject(new Error(`Timed out after ${ms} ms waiting for ${awaited}`));
    }, ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Waits until `condition()` holds, checking every millisecond; fails
 * after `ms`. For states that no event announces (a count going down). */
export async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Reads one line (without its newline) from `conn`; null at EOF. Rejects
 * when no whole line (nor EOF) came within `ms`; the read then stays
 * pending until the caller closes `conn`. */
export function readLine(conn: Deno.Conn, ms = 10_000): Promise<string | null> {
  const read = async () => {
    const bytes: number[] = [];
    const one = new Uint8Array(1);
    while (true) {
      const n = await conn.read(one);
      if (n === null) return bytes.length > 0 ? decoder.decode(new Uint8Array(bytes)) : null;
      if (one[0] === 0x0a) return decoder.decode(new Uint8Array(bytes));
      bytes.push(one[0]);
    }
  };
  return within(read(), ms, "a line from the server");
}

/** Connects, sends `line`, returns the first line of the reply; rejects
 * when the reply takes longer than `ms`. */
export async function ask(
  port: number,
  line: string,
  hostname = "127.0.0.1",
  ms = 10_000,
): Promise<string | null> {
  const connecting = Deno.connect({ hostname, port });
  const conn = await within(connecting, ms, `a connection to port ${port}`).catch((error) => {
    connecting.then((late) => late.close(), () => {}); // one that comes too late is closed
    throw error;
  });
  try {
    await conn.write(encoder.encode(line + "\n"));
    return await readLine(conn, ms);
  } finally {
    conn.close();
  }
}

/** An event a fixture program printed. */
// deno-lint-ignore no-explicit-any
export type Event = Record<string, any>;

/** Runs a fixture program that prints JSON events (one per line) on stdout
 * and reads commands on stdin. */
export class Fixture implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly events: Event[] = [];
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
  async next(match: (event: Event) => boolean, ms = 20_000, from = 0): Promise<Event> {
    const find = () => this.events.slice(from).find(match);
    const found = find();
    if (found) return found;
    const { promise, resolve } = Promise.withResolvers<Event>();
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

/** Whether process `pid` exists — a zombie counts, since it still has an
 * entry in the process table (`kill -0` succeeds on it). */
export async function processExists(pid: number): Promise<boolean> {
  const { code } = await new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "null" })
    .output();
  return code === 0;
}
