/**
 * {@linkcode ServerStats}: what {@linkcode BaseServer.stats} returns, and {@linkcode DropReason}.
 *
 * @module
 */

/**
 * Why a request was dropped ({@linkcode BaseServer.handleDrop}), as
 * {@linkcode ServerStats.dropped} counts it; docs/observability.md lists what each covers:
 * - `"reset"`: the client went away (reset, broken pipe, unexpected end of input);
 * - `"timeout"`, `"idleTimeout"`, `"requestTimeout"`, `"writeTimeout"`: that handler timeout
 *   ({@linkcode TimeoutError.attribute}); any other `Deno.errors.TimedOut` is `"timeout"`;
 * - `"tooLong"`: a {@linkcode LimitOverrunError} (a line over `maxLineLength`...);
 * - `"malformed"`: a record that cannot be read (a negative frame length);
 * - `"handshake"`: a TLS handshake failed or did not finish in time;
 * - `"proxyHeader"`: a PROXY protocol header was refused;
 * - `"closed"`: `serverClose()` closed the request at the end of its grace (or a forking child
 *   died holding it);
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
 * The figures of a forking server's children, in its parent's {@linkcode ServerStats.children}.
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
  /** How old the stalest figure in the snapshot is, in ms (since the least recent report or
   * start of a running child); `null` when none runs. */
  reportAgeMs: number | null;
}

/**
 * A snapshot of a server's counters since it was constructed, from {@linkcode BaseServer.stats}:
 * `accepted` = `active` + `completed` + `refused` + `dropped` + `errors`. Bytes on the raw
 * `request` are not counted. A forking parent sums its children's last reports (every second).
 * See docs/observability.md.
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
  /** Requests dropped (`handleDrop()`, or closed by `serverClose()`), by reason; all present. */
  dropped: Record<DropReason, number>;
  /** Requests whose handling threw an error (reported to `handleError()`). */
  errors: number;
  /** Bytes read through `rfile` (stream servers) or received (datagram servers). */
  bytesRead: number;
  /** Bytes written through `wfile` (stream servers) or sent as replies (datagram servers). */
  bytesWritten: number;
  /** Requests taken and not yet closed: `activeRequests`. */
  active: number;
  /** For a forking server's parent once it has served: its children. */
  children?: ChildrenStats;
}
