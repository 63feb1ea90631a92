/**
 * The handlers' `rfile`, `wfile` and `sendall()` calls by connection, so that a close can stop or
 * wait for the writes and see what it leaves to finish.
 *
 * @module
 */

import type { BufferedReader } from "./buffered_reader.ts";
import type { StreamWriter } from "./stream_writer.ts";
import { kHoldOpen, kInFlight, kPendingRead, kStopWrites } from "./_symbols.ts";
import { Backlog } from "./_backlog.ts";

const ignore = () => {};

/** The handlers' files by connection. */
const connectionFiles = new WeakMap<object, { rfile: BufferedReader; wfile: StreamWriter }>();

/** Records a handler's `rfile` and `wfile` as those of `conn`. */
export function watchConnection(conn: object, rfile: BufferedReader, wfile: StreamWriter): void {
  connectionFiles.set(conn, { rfile, wfile });
}

/** Refuses writes to `conn` not yet started, with `error`; resolves when the one in flight ends
 * (`null`: none), so the stream is shut with no write cut in two. */
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
  /** The bytes of calls waiting their turn: beyond its limit they hold the handler's `rfile` back,
   * as `wfile`'s unawaited writes do. */
  readonly backlog: Backlog = new Backlog();
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

/** Runs one `sendall()` after those in flight on `conn`, so two never interleave, and records it
 * for the close to wait on; refused after {@linkcode stopWrites}. */
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
    state.backlog.add(bytes.length);
    const run = () => {
      state.backlog.took(bytes.length);
      if (state.stopped !== null) throw state.stopped;
      return send(conn, bytes);
    };
    sending = state.last!.then(run, run);
  }
  state.pending++;
  // also handles the rejection, so a forgotten await does not end the process
  state.last = sending.then(state.done, state.done);
  return sending;
}

/** Settles once `conn`'s `sendall()` calls waiting their turn fit in the backlog limit; `null` when
 * they do (`rfile` waits for it, as for `wfile`'s). */
export function sendsBacklog(conn: object): Promise<void> | null {
  return connectionSends.get(conn)?.backlog.wait() ?? null;
}

/** Settles once `conn`'s `sendall()` calls in flight have ended; `null` when there are none. */
export function sendsInFlight(conn: object): Promise<void> | null {
  return connectionSends.get(conn)?.inFlight() ?? null;
}

function both(a: Promise<void> | null, b: Promise<void> | null): Promise<void> | null {
  if (a === null) return b;
  return b === null ? a : Promise.all([a, b]).then(ignore);
}

/** From now on a timed-out write leaves `conn` open, for `serverClose()`'s lingering close. */
export function holdOpen(conn: object): void {
  connectionFiles.get(conn)?.wfile[kHoldOpen]();
}

/** Settles once the reads and writes `conn`'s handler left pending have ended, which after
 * `close()` is when Deno lets go of the descriptor; `null` when none is. */
export function opsInFlight(conn: object): Promise<void> | null {
  const sends = sendsInFlight(conn);
  const files = connectionFiles.get(conn);
  if (files === undefined) return sends;
  const read = files.rfile[kPendingRead]();
  const writes = both(files.wfile[kInFlight](), sends);
  return read === null ? writes : both(read.then(ignore, ignore), writes);
}

/** Polled: no event says when a handler goes back to reading, and this runs only at a deadline. */
const LOOK_EVERY_MS = 5;

/** Resolves once `conn`'s handler is between replies (returned, or reading with nothing to send),
 * or after `ms`; at once for a raw handler, where nothing tells. */
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
