/**
 * The programs of examples/ as child processes (started on port 0 with the
 * narrowest permissions, stopped by a signal), and the reference
 * `redis-server` the RESP example is compared with.
 *
 * @module
 */
import assert from "node:assert/strict";
import { freePort } from "./_net.ts";
import { type ReadyProcess, startUntilReady } from "./_process.ts";

/** The signals an example stops on: Ctrl-C's, and a service manager's. */
export const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

/** Stops an example with `signal` and checks that it says `<name> stopped` and exits 0. */
export async function stopExampleWith(
  example: ReadyProcess,
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
export function startExample(
  name: string,
  env: Record<string, string> = {},
): Promise<ReadyProcess> {
  return startUntilReady(
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
export async function startRedisServer(): Promise<ReadyProcess & { port: number }> {
  const port = freePort();
  const started = await startUntilReady("redis-server", [
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
