/**
 * The errors a request can end with — {@linkcode LineTooLongError},
 * {@linkcode TimeoutError} — and {@linkcode isRoutineDrop}, which tells a
 * routine drop from a bug.
 *
 * @module
 */

/**
 * Thrown by {@linkcode BufferedReader.readline} called without a size when
 * no newline arrives within `maxLineLength` bytes. The bytes read so far
 * stay buffered: `read(n)` or `readline(size)` still return them.
 *
 * @example Catching an over-long line
 * ```ts
 * import { BufferedReader, LineTooLongError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const reader = BufferedReader.from(new TextEncoder().encode("x".repeat(100)), {
 *   maxLineLength: 10,
 * });
 * await assert.rejects(reader.readline(), LineTooLongError);
 * assert.equal((await reader.readline(10)).length, 10); // the bytes are still there
 * ```
 */
export class LineTooLongError extends RangeError {
  /** The limit that was exceeded, in bytes, newline included. */
  readonly limit: number;

  /** Creates the error for a line longer than `limit` bytes. */
  constructor(limit: number) {
    super(
      `Line exceeds the limit of ${limit} bytes: raise the handler's "maxLineLength", or read the line in parts with readline(size)`,
    );
    this.name = "LineTooLongError";
    this.limit = limit;
  }
}

/**
 * Which of a reader's or writer's timeouts ran out: see
 * {@linkcode TimeoutError.attribute}.
 *
 * @example
 * ```ts
 * import { type TimeoutAttribute, TimeoutError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const which: TimeoutAttribute = new TimeoutError(10, "idleTimeout").attribute;
 * assert.equal(which, "idleTimeout");
 * ```
 */
export type TimeoutAttribute = "timeout" | "idleTimeout" | "requestTimeout" | "writeTimeout";

/**
 * A read or write ran out of one of its timeouts (which one:
 * {@linkcode TimeoutError.attribute}): Python's `socket.timeout`, a
 * `Deno.errors.TimedOut`. The read stays pending, so a handler that catches
 * the error may read on and lose nothing; a write cannot be taken back, so
 * the writer closes the connection.
 *
 * @example Reading with a deadline
 * ```ts
 * import { BufferedReader, TimeoutError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * let release = () => {};
 * const silent = {
 *   read: () => new Promise<null>((resolve) => release = () => resolve(null)),
 * };
 * const reader = new BufferedReader(silent, { timeout: 10 });
 * await assert.rejects(reader.readline(), TimeoutError);
 * release();
 * ```
 */
export class TimeoutError extends Deno.errors.TimedOut {
  /** The timeout that ran out, in milliseconds. */
  readonly timeout: number;
  /** Which one ran out: `"timeout"` (a read), `"idleTimeout"` (no request
   * began), `"requestTimeout"` (a request did not complete) or
   * `"writeTimeout"` (the client does not read). */
  readonly attribute: TimeoutAttribute;

  /** Creates the error for a read or write that waited `timeout` ms. */
  constructor(timeout: number, attribute: TimeoutAttribute = "timeout") {
    super(
      attribute === "timeout"
        ? `No data received within ${timeout} ms: raise the handler's "timeout" or set it to null`
        : attribute === "idleTimeout"
        ? `No request began within ${timeout} ms: raise the handler's "idleTimeout" or set it to null`
        : attribute === "requestTimeout"
        ? `The request was not complete within ${timeout} ms of its first byte: raise the handler's "requestTimeout" or set it to null`
        : `The client took no reply within ${timeout} ms (it does not read): raise the handler's "writeTimeout" or set it to null`,
    );
    this.name = "TimeoutError";
    this.timeout = timeout;
    this.attribute = attribute;
  }
}

/**
 * Whether `error` is a routine end of a request, caused by the client or
 * a deadline: a reset or aborted connection, a write to a closed one, a
 * timeout, an over-long line, a failed TLS handshake. These go to
 * {@linkcode BaseServer.handleDrop}, everything else to `handleError()`.
 *
 * @example
 * ```ts
 * import { isRoutineDrop, LineTooLongError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isRoutineDrop(new Deno.errors.ConnectionReset("reset by peer")), true);
 * assert.equal(isRoutineDrop(new LineTooLongError(1024)), true);
 * assert.equal(isRoutineDrop(new TypeError("a bug")), false);
 * ```
 */
export function isRoutineDrop(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    (error !== null && typeof error === "object" && markedDrops.has(error)) ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.NotConnected ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.TimedOut ||
    error instanceof LineTooLongError;
}

/** Errors this package marked as drops whatever their class, with the
 * reason `stats()` counts them under (`DropReason` in server_stats.ts). */
const markedDrops = new WeakMap<object, string>();

/** Internal: marks `error` as a routine drop (see {@linkcode isRoutineDrop}),
 * e.g. a failed TLS handshake (`reason` "handshake"); returns it. */
export function asDrop<T>(error: T, reason: string): T {
  if (error !== null && typeof error === "object") markedDrops.set(error, reason);
  return error;
}

/** Internal: the reason `error` was marked a drop with, if it was. */
export function markedDropReason(error: unknown): string | undefined {
  return error !== null && typeof error === "object" ? markedDrops.get(error) : undefined;
}

/**
 * The error of a server asked for a request before it was bound (it was
 * constructed with `bindAndActivate: false` and `serverBind()` was never
 * called): `serveForever()` and `handleRequest()` reject with it at once
 * rather than retry. Internal: not exported from `mod.ts`.
 */
export class NotBoundError extends Deno.errors.BadResource {
  /** Creates the error for `server`, named by its class. */
  constructor(server: object) {
    super(
      `${server.constructor.name} is not bound: call serverBind() and then serverActivate() before serving, or construct it without { bindAndActivate: false }`,
    );
  }
}
