/**
 * {@linkcode AcceptBackoff}: when `getRequest()` fails, a client that vanished is retried at once;
 * anything else (`EMFILE` above all, which Python's immediate retry turns into a busy loop) backs
 * off and logs one line per episode.
 *
 * @module
 */

import { errorText, formatAddress } from "./_format.ts";

/** The first retry is at once, then after 10 ms, doubling up to 1 s. */
const FIRST_MS = 10;
const MAX_MS = 1000;
/** A failure this long after the previous one starts a new episode, which logs. */
const EPISODE_QUIET_MS = 5000;
/** Error codes of a process or system out of descriptors or memory. */
const EXHAUSTION_CODES = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/** Whether a failed accept was the client's doing rather than the process's: a reset before the
 * accept, or (`InvalidData`) a Unix client bound to a path that is not UTF-8, which Deno cannot
 * turn into an address after taking its connection or datagram off the socket. */
function isClientFailure(error: unknown): boolean {
  try {
    return error instanceof Deno.errors.ConnectionReset ||
      error instanceof Deno.errors.ConnectionAborted ||
      error instanceof Deno.errors.NotConnected ||
      error instanceof Deno.errors.InvalidData;
  } catch {
    return false; // instanceof on a revoked Proxy throws
  }
}

/** Whether a failed accept is the system's (a `Deno.errors` class: out of descriptors, a reset),
 * whose message says it all; anything else is a bug in a `getRequest()` override, logged with its
 * stack, as Python's traceback names the line. */
function isSystemError(error: unknown): boolean {
  try {
    if (!(error instanceof Error)) return false;
    for (const Class of Object.values(Deno.errors)) if (error instanceof Class) return true;
  } catch {
    // instanceof on a revoked Proxy throws
  }
  return false;
}

/** One server's back-off after failed `getRequest()` calls. */
export class AcceptBackoff {
  #failures = 0;
  #clientFailures = 0;
  #lastFailure = -Infinity;
  #wake: (() => void) | null = null;

  /** A request came through: the next failure retries at once again. */
  reset(): void {
    this.#failures = 0;
    this.#clientFailures = 0;
  }

  /** Ends a back-off sleep early: the server stops or closes. */
  wake(): void {
    this.#wake?.();
  }

  /** Logs `error` (once per episode) and sleeps before the next attempt. */
  async failed(error: unknown, server: { serverAddress: unknown }): Promise<void> {
    if (isClientFailure(error)) {
      // no timer, which stalls the clients queued behind a burst of resets (bench/README.md);
      // a synchronous failure still yields to the event loop now and then
      if (++this.#clientFailures % 1024 === 0) await this.#sleep(0);
      return;
    }
    const now = performance.now();
    if (now - this.#lastFailure > EPISODE_QUIET_MS) {
      const code = (error as { code?: unknown } | null)?.code;
      const exhausted = typeof code === "string" && EXHAUSTION_CODES.has(code);
      console.error(
        `${server.constructor.name} at ${
          formatAddress(server.serverAddress)
        }: taking a request failed (${
          error instanceof Error ? error.message : String(error)
        }); retrying with back-off, at most every ${MAX_MS} ms, until it succeeds${
          exhausted
            ? ': the process is out of descriptors or memory, raise "ulimit -n" or set "maxConnections"'
            : ""
        }${isSystemError(error) ? "" : `\n${errorText(error)}`}`,
      );
    }
    this.#lastFailure = now;
    const failures = ++this.#failures;
    await this.#sleep(failures === 1 ? 0 : Math.min(MAX_MS, FIRST_MS * 2 ** (failures - 2)));
  }

  async #sleep(ms: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, ms);
    this.#wake = () => (clearTimeout(timer), resolve());
    try {
      await promise;
    } finally {
      this.#wake = null;
    }
  }
}
