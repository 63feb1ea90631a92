/**
 * Shared by the tests: a client that asks one line and reads one line, a
 * deadline for awaiting events, and a driver for fixture programs that print
 * JSON events and read commands.
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Rejects after `ms` with a message saying what was awaited. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
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

/** Reads one line (without its newline) from `conn`; null at EOF. */
export async function readLine(conn: Deno.Conn): Promise<string | null> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  while (true) {
    const n = await conn.read(one);
    if (n === null) return bytes.length > 0 ? decoder.decode(new Uint8Array(bytes)) : null;
    if (one[0] === 0x0a) return decoder.decode(new Uint8Array(bytes));
    bytes.push(one[0]);
  }
}

/** Connects, sends `line`, returns the first line of the reply. */
export async function ask(
  port: number,
  line: string,
  hostname = "127.0.0.1",
): Promise<string | null> {
  const conn = await Deno.connect({ hostname, port });
  try {
    await conn.write(encoder.encode(line + "\n"));
    return await readLine(conn);
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
