/**
 * Shared test helpers: clients, subprocesses, tool detection.
 *
 * @module
 */

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/** Connects to a TCP address (the server's `serverAddress`). */
export function connect(address: { hostname: string; port: number }): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: address.hostname, port: address.port });
}

/** Reads everything until the peer closes, as text. */
export async function readAll(conn: Deno.Conn): Promise<string> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
  }
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return decoder.decode(out);
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

/** Counts this process's open file descriptors, sockets and files alike,
 * leaving out the pipes, pidfds and /dev/null of the subprocess that does the counting
 * (Deno reserves reading `/proc/self` for `--allow-all`, so `ls` lists them,
 * and a previous `ls`'s pipes may still be closing). */
export async function openDescriptors(pid: number = Deno.pid): Promise<number> {
  const { code, stdout } = await run("ls", ["-l", `/proc/${pid}/fd`]);
  // exit code 1: a descriptor closed while ls looked at it; the rest is listed
  if (code > 1) throw new Error(`Cannot list /proc/${pid}/fd`);
  return stdout.split("\n").filter((line) =>
    line.includes(" -> ") && !/-> (pipe:|anon_inode:\[pidfd\]|\/dev\/null)/.test(line)
  ).length;
}
