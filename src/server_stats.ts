/**
 * {@linkcode ServerStats}: what {@linkcode BaseServer.stats} returns — the
 * server's counters since it was constructed — and the reasons a request is
 * dropped for.
 *
 * @module
 */

/**
 * Why a request was dropped (see {@linkcode BaseServer.handleDrop}), as
 * {@linkcode ServerStats.dropped} counts it:
 *
 * - `"reset"`: the client went away (a reset, a broken pipe, an aborted or
 *   unconnected socket, an end of input a read did not expect);
 * - `"timeout"`, `"idleTimeout"`, `"requestTimeout"`, `"writeTimeout"`: that
 *   timeout of the handler's ran out ({@linkcode TimeoutError.attribute});
 *   any other `Deno.errors.TimedOut` counts as `"timeout"`, and a Unix
 *   datagram reply the client does not take within `replyTimeout` as
 *   `"writeTimeout"`;
 * - `"tooLong"`: the peer sent more than a limit allows (a
 *   {@linkcode LimitOverrunError}: a line over `maxLineLength`, a frame over
 *   `maxFrameLength`, no delimiter within `readUntil()`'s limit);
 * - `"malformed"`: the peer sent a record that cannot be read (a frame whose
 *   length field gives a negative length);
 * - `"handshake"`: a TLS handshake failed or did not finish in time;
 * - `"proxyHeader"`: a PROXY protocol header was refused;
 * - `"closed"`: `serverClose()` closed the request at the end of its grace;
 * - `"replyLost"`: the system dropped a datagram reply for want of buffers.
 *
 * @example
 * ```ts
 * import type { DropReason } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const reason: DropReason = "idleTimeout";
 * assert.equal(reason.endsWith("Timeout"), true);
 * ```
 */
export type DropReason =
  | "reset"
  | "timeout"
  | "idleTimeout"
  | "requestTimeout"
  | "writeTimeout"
  | "tooLong"
  | "malformed"
  | "handshake"
  | "proxyHeader"
  | "closed"
  | "replyLost";

/**
 * The figures of a forking server's children, in its parent's
 * {@linkcode ServerStats.children}.
 *
 * @example
 * ```ts
 * import type { ChildrenStats } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const children: ChildrenStats = { running: 2, started: 3, died: 1, reportAgeMs: 250 };
 * assert.equal(children.started - children.died, children.running);
 * ```
 */
export interface ChildrenStats {
  /** Children running now. */
  running: number;
  /** Children that began to listen, replacements included. */
  started: number;
  /** Children that ended without being asked to (see `childDied()`). */
  died: number;
  /** How old the stalest figure in the snapshot is, in ms: the time since
   * the running child heard from least recently last reported (or started,
   * if it has not reported yet); `null` when none runs. */
  reportAgeMs: number | null;
}

/**
 * A snapshot of a server's counters since it was constructed, from
 * {@linkcode BaseServer.stats}. Every request taken ends as exactly one of
 * `completed`, `refused`, `dropped` (by reason) or `errors`, counted when it
 * ends (its `closeRequest()`), so at any time `accepted` equals `active`
 * plus all of those. Bytes are those that pass through a handler's `rfile`
 * and `wfile`, and the datagrams received and replies sent; what a handler
 * reads or writes on the raw `request` is not counted.
 *
 * A forking server's parent sums its children's figures, as each last
 * reported them (every second, and once more as it stops), and adds
 * `children`.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type ServerStats, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * await using server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
 * const stats: ServerStats = server.stats();
 * assert.equal(stats.accepted, 0);
 * assert.equal(stats.dropped.reset, 0);
 * ```
 */
export interface ServerStats {
  /** Requests taken: connections accepted, or datagrams received. */
  accepted: number;
  /** Requests that `verifyRequest()` refused. */
  refused: number;
  /** Requests that ended with no drop or error reported while they were open. */
  completed: number;
  /** Requests dropped (reported to `handleDrop()`, or closed by
   * `serverClose()`), by reason; every reason is present. */
  dropped: Record<DropReason, number>;
  /** Requests whose handling threw an error (reported to `handleError()`). */
  errors: number;
  /** Bytes read through `rfile` (stream servers) or received (datagram servers). */
  bytesRead: number;
  /** Bytes written through `wfile` to the kernel (stream servers) or sent as
   * replies (datagram servers). */
  bytesWritten: number;
  /** Requests taken and not yet closed: `activeRequests`. */
  active: number;
  /** For a forking server's parent once it has served: its children. */
  children?: ChildrenStats;
}
