/**
 * Helpers for the protocol examples' tests: which client tools are installed,
 * running them, a reference `redis-server`, and the examples' main programs
 * as child processes.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { RequestHandlerClass, TCPServer } from "../mod.ts";

export { has, type Output, run } from "./_helpers.ts";
import { readToEnd } from "./_helpers.ts";

/** A port free right now (bound, then released) for a tool that cannot be
 * asked for port 0. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A child process whose stdout has printed a line matching a pattern; its
 * remaining output is drained and discarded. Disposing it sends SIGTERM and
 * waits for the exit. */
export interface Started extends AsyncDisposable {
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
export async function start(
  cmd: string,
  args: string[],
  ready: RegExp,
  timeoutMs = 15_000,
  env: Record<string, string> = {},
): Promise<Started> {
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

/** Constructs `Server` on a free loopback port with `Handler` and starts serving. */
export function serveLoopback<S extends TCPServer>(
  Server: new (
    address: { hostname: string; port: number },
    Handler: RequestHandlerClass<Deno.TcpConn, Deno.NetAddr>,
  ) => S,
  Handler: RequestHandlerClass<Deno.TcpConn, Deno.NetAddr>,
  pollInterval = 500,
): S {
  const server = new Server({ hostname: "127.0.0.1", port: 0 }, Handler);
  server.serveForever(pollInterval);
  return server;
}

/** The signals an example stops on: Ctrl-C's, and a service manager's. */
export const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

/** Stops an example with `signal` and checks that it says `<name> stopped` and exits 0. */
export async function stopExampleWith(
  example: Started,
  name: string,
  signal: Deno.Signal,
): Promise<void> {
  const { status, stdout } = await example.stop(signal);
  assert.equal(status.code, 0, `exit code after ${signal}`);
  assert.match(stdout, new RegExp(`${name} stopped`));
}

/** The environment variables an example reads besides `HOST` and `PORT`. */
const EXAMPLE_ENV: Record<string, string[]> = { resp_server: ["MAXMEMORY"] };

/** Starts one of the examples on port 0 with the narrowest permissions, and
 * resolves once it has printed where it listens. `match[1]` is the host,
 * `match[2]` the port. `env` adds to its environment. */
export function startExample(name: string, env: Record<string, string> = {}): Promise<Started> {
  return start(
    "deno",
    [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-env=${["HOST", "PORT", ...EXAMPLE_ENV[name] ?? []]}`,
      new URL(`../examples/${name}.ts`, import.meta.url).pathname,
      "0",
    ],
    /listening on (\S+):(\d+)/,
    15_000,
    env,
  );
}

/** Starts a real `redis-server` on a loopback port with nothing persisted. */
export async function startRedisServer(): Promise<Started & { port: number }> {
  const port = freePort();
  const started = await start("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/tmp",
  ], /Ready to accept connections/);
  return Object.assign(started, { port });
}

/** Reads from `conn` until EOF (at most `timeoutMs`), as bytes; throws what
 * the read threw. */
export async function readAll(conn: Deno.Conn, timeoutMs = 10_000): Promise<Uint8Array> {
  const { bytes, error } = await readToEnd(conn, timeoutMs);
  if (error !== null) throw error;
  return bytes;
}
