/**
 * The handlers' `rfile` and `wfile`, and the `sendall()` calls, by
 * connection, so that the server can stop the writes before its lingering
 * close, let the normal close wait for them, and see what a close leaves to
 * finish.
 *
 * @module
 */

import type { BufferedReader } from "./buffered_reader.ts";
import type { StreamWriter } from "./stream_writer.ts";
import { kHoldOpen, kInFlight, kPendingRead, kStopWrites } from "./_symbols.ts";

const ignore = () => {};

/** The handlers' files by connection, for {@linkcode stopWrites} and
 * {@linkcode opsInFlight}. */
const connectionFiles = new WeakMap<object, { rfile: BufferedReader; wfile: StreamWriter }>();

/**
 * Internal: records a handler's `rfile` and `wfile` as those of connection
 * `conn`, so that the server can stop the writes before its lingering close
 * and see the operations a close leaves to finish. Not exported from the
 * package.
 */
export function watchConnection(conn: object, rfile: BufferedReader, wfile: StreamWriter): void {
  connectionFiles.set(conn, { rfile, wfile });
}

/**
 * Internal: refuses every write to `conn` not yet started, with `error`,
 * and resolves once the write in flight, if any, has ended — so that the
 * stream can be shut with no write cut in two. `null` when no writer was
 * recorded or none is in flight. Not exported from the package.
 */
export function stopWrites(conn: object, error: Error): Promise<void> | null {
  const writes = connectionFiles.get(conn)?.wfile[kStopWrites](error) ?? null;
  let sends = connectionSends.get(conn);
  if (sends === undefined) connectionSends.set(conn, sends = new Sends());
  sends.stopped = error;
  return both(writes, sends.inFlight());
}

/** The `sendall()` calls of one connection. */
class Sends {
  /** Settles when the latest call has (each waits for the one before). */
  last: Promise<void> | null = null;
  pending = 0;
  /** Set by {@linkcode stopWrites}: calls not yet started fail with it. */
  stopped: Error | null = null;
  done = (): void => {
    this.pending--;
  };

  inFlight(): Promise<void> | null {
    return this.pending > 0 ? this.last : null;
  }
}

const connectionSends = new WeakMap<object, Sends>();

/**
 * Internal: runs `send(conn, bytes)` — one `sendall()` — after the calls
 * still in flight on `conn`, so that two never interleave their parts, and
 * records it, so that closing the connection waits for it; a call made
 * after {@linkcode stopWrites} is refused. Not exported from the package.
 */
export function queueSend<C extends object>(
  conn: C,
  bytes: Uint8Array,
  send: (conn: C, bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  let sends = connectionSends.get(conn);
  if (sends === undefined) connectionSends.set(conn, sends = new Sends());
  const state = sends;
  let sending: Promise<void>;
  if (state.stopped !== null) sending = Promise.reject(state.stopped);
  else if (state.pending === 0) sending = send(conn, bytes);
  else {
    const run = () => {
      if (state.stopped !== null) throw state.stopped;
      return send(conn, bytes);
    };
    sending = state.last!.then(run, run);
  }
  state.pending++;
  // also a handler for the rejection: a handler that forgot the await must
  // not end the process when the connection fails; an awaiting caller sees it
  state.last = sending.then(state.done, state.done);
  return sending;
}

/**
 * Internal: settles once the `sendall()` calls in flight on `conn` have
 * ended; `null` when there are none. Not exported from the package.
 */
export function sendsInFlight(conn: object): Promise<void> | null {
  return connectionSends.get(conn)?.inFlight() ?? null;
}

function both(a: Promise<void> | null, b: Promise<void> | null): Promise<void> | null {
  if (a === null) return b;
  return b === null ? a : Promise.all([a, b]).then(ignore);
}

/**
 * Internal: from now on a write of `conn`'s handler that times out leaves
 * the connection open, for `serverClose()` to close after its lingering
 * close. Not exported from the package.
 */
export function holdOpen(conn: object): void {
  connectionFiles.get(conn)?.wfile[kHoldOpen]();
}

/**
 * Internal: settles once the read and writes that `conn`'s handler left
 * pending (a read that outlived a timeout, a write cut off, a `sendall()`)
 * have ended, which after `conn.close()` is when Deno lets go of the
 * descriptor; `null` when none is pending. Not exported from the package.
 */
export function opsInFlight(conn: object): Promise<void> | null {
  const sends = sendsInFlight(conn);
  const files = connectionFiles.get(conn);
  if (files === undefined) return sends;
  const read = files.rfile[kPendingRead]();
  const writes = both(files.wfile[kInFlight](), sends);
  return read === null ? writes : both(read.then(ignore, ignore), writes);
}

/** How often {@linkcode untilBetweenReplies} looks: no event says when a
 * handler goes back to reading, and this runs only at a close's deadline. */
const LOOK_EVERY_MS = 5;

/**
 * Internal: resolves once `conn`'s handler is between two replies — it has
 * returned, or its `rfile` waits for input while its `wfile` has nothing
 * left to send — or after `ms`. At once when no handler files were recorded
 * for `conn` (a raw handler: nothing tells). Not exported from the package.
 */
export async function untilBetweenReplies(conn: object, ms: number): Promise<void> {
  const files = connectionFiles.get(conn);
  if (files === undefined) return;
  const { rfile, wfile } = files;
  const between = () => rfile.closed || (rfile[kPendingRead]() !== null && wfile.idle);
  const until = performance.now() + ms;
  while (!between()) {
    const left = until - performance.now();
    if (left <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(LOOK_EVERY_MS, left)));
  }
}
