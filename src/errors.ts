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

  /**
   * Creates the error for a line longer than `limit` bytes.
   *
   * @param limit The limit that was exceeded, in bytes.
   */
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
 * @example Telling the timeouts apart
 * ```ts
 * import { BufferedReader, type TimeoutAttribute, TimeoutError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * let release = () => {};
 * const silent = {
 *   read: () => new Promise<null>((resolve) => release = () => resolve(null)),
 * };
 * const reader = new BufferedReader(silent, { idleTimeout: 10 });
 * let which: TimeoutAttribute | null = null;
 * try {
 *   await reader.readline();
 * } catch (error) {
 *   if (error instanceof TimeoutError) which = error.attribute;
 * }
 * release();
 * assert.equal(which, "idleTimeout");
 * ```
 */
export type TimeoutAttribute = "timeout" | "idleTimeout" | "requestTimeout" | "writeTimeout";

/**
 * Thrown when a read waits longer than one of the reader's timeouts, or a
 * write cannot be sent within the writer's: the stand-in for Python's
 * `socket.timeout`. It extends `Deno.errors.TimedOut`;
 * {@linkcode TimeoutError.attribute} says which timeout ran out. The read
 * that timed out stays pending and the next read picks it up, so nothing is
 * lost if the handler catches the error and reads again. A write that timed
 * out cannot be taken back (part of it may be sent): the writer closes the
 * connection, and its later writes reject with the same error.
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
  /** Which one ran out: `"timeout"` (one read waited too long),
   * `"idleTimeout"` (no next request began in time), `"requestTimeout"`
   * (a started request did not complete in time) or `"writeTimeout"` (a
   * write was not sent in time: the client does not read). */
  readonly attribute: TimeoutAttribute;

  /**
   * Creates the error for a read or write that waited `timeout` ms.
   *
   * @param timeout The timeout that ran out, in milliseconds.
   * @param attribute Which of the reader's (or the writer's) timeouts it is.
   */
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
 * Whether `error` is a routine end of a request that the client caused or
 * that a deadline ended: a reset or aborted connection, a write to a closed
 * one, a timeout (`TimeoutError`, `Deno.errors.TimedOut`), an over-long
 * line (`LineTooLongError`) or a failed TLS handshake (a plain-text or
 * garbage client, one that does not trust the certificate). Such errors go to
 * {@linkcode BaseServer.handleDrop}, everything else to
 * {@linkcode BaseServer.handleError}.
 *
 * @param error What a request threw.
 * @returns `true` for a routine drop.
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

/** Errors this package marked as drops whatever their class. */
const markedDrops = new WeakSet<object>();

/** Internal: marks `error` as a routine drop (see {@linkcode isRoutineDrop}),
 * e.g. a failed TLS handshake; returns it. */
export function asDrop<T>(error: T): T {
  if (error !== null && typeof error === "object") markedDrops.add(error);
  return error;
}

/**
 * The error of a server asked for a request before it was bound (it was
 * constructed with `bindAndActivate: false` and `serverBind()` was never
 * called): `serveForever()` and `handleRequest()` reject with it at once
 * rather than retry. Internal: not exported from `mod.ts`.
 */
export class NotBoundError extends Deno.errors.BadResource {
  /**
   * Creates the error for `server`, named by its class.
   *
   * @param server The server.
   */
  constructor(server: object) {
    super(
      `${server.constructor.name} is not bound: call serverBind() and then serverActivate() before serving, or construct it without { bindAndActivate: false }`,
    );
  }
}
