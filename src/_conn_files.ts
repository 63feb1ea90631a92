/**
 * The handlers' `rfile` and `wfile` by connection, so that the server can
 * stop the writes before its lingering close and see what a close leaves to
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
  return connectionFiles.get(conn)?.wfile[kStopWrites](error) ?? null;
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
 * Internal: settles once the read and write that `conn`'s handler left
 * pending (a read that outlived a timeout, a write cut off) have ended,
 * which after `conn.close()` is when Deno lets go of the descriptor; `null`
 * when none is pending. Not exported from the package.
 */
export function opsInFlight(conn: object): Promise<void> | null {
  const files = connectionFiles.get(conn);
  if (files === undefined) return null;
  const read = files.rfile[kPendingRead]();
  const write = files.wfile[kInFlight]();
  if (read === null) return write;
  return write === null
    ? read.then(ignore, ignore)
    : Promise.all([read.then(ignore, ignore), write]).then(ignore);
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
