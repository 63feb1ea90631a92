/**
 * The errors a request can end with — {@linkcode LimitOverrunError} and its
 * kin {@linkcode LineTooLongError} and {@linkcode FrameTooLongError},
 * {@linkcode IncompleteReadError}, {@linkcode TimeoutError} — and
 * {@linkcode isRoutineDrop}, which tells a routine drop from a bug.
 *
 * @module
 */

import { ProxyHeaderError } from "./proxy_protocol.ts";

/**
 * A read refused because what the peer sent exceeds a limit: a line past
 * `maxLineLength` ({@linkcode LineTooLongError}), a frame past
 * `maxFrameLength` ({@linkcode FrameTooLongError}), no delimiter within
 * `readUntil()`'s limit (this class itself, as in Python's `asyncio`). The
 * bytes stay buffered. A routine drop: see {@linkcode isRoutineDrop}.
 *
 * @example Any limit, one catch
 * ```ts
 * import { BufferedReader, LimitOverrunError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const reader = BufferedReader.from(new TextEncoder().encode("no NUL within 8 bytes\n"), {
 *   maxLineLength: 8,
 * });
 * await assert.rejects(reader.readUntil("\0", 8), LimitOverrunError);
 * await assert.rejects(reader.readline(), LimitOverrunError); // a LineTooLongError
 * ```
 */
export class LimitOverrunError extends RangeError {
  /** The limit that was exceeded, in bytes. */
  readonly limit: number;

  /** Creates the error for a read past `limit` bytes, with `message`. */
  constructor(limit: number, message?: string) {
    super(
      message ??
        `Read exceeds the limit of ${limit} bytes: raise the limit if the peer is right to send more`,
    );
    this.name = "LimitOverrunError";
    this.limit = limit;
  }
}

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
export class LineTooLongError extends LimitOverrunError {
  /** Creates the error for a line longer than `limit` bytes, newline included. */
  constructor(limit: number) {
    super(
      limit,
      `Line exceeds the limit of ${limit} bytes: raise the handler's "maxLineLength", or read the line in parts with readline(size)`,
    );
    this.name = "LineTooLongError";
  }
}

/**
 * Thrown by {@linkcode BufferedReader.readFrame} when a frame's length
 * prefix announces more than `maxFrameLength` bytes, before any of them is
 * read or any memory is set aside for them. The prefix stays buffered.
 *
 * @example
 * ```ts
 * import { BufferedReader, FrameTooLongError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const reader = BufferedReader.from(new Uint8Array([0xff, 0xff, 0xff, 0xff])); // 4 GiB - 1
 * const error = await reader.readFrame().catch((e) => e);
 * assert.ok(error instanceof FrameTooLongError);
 * assert.equal(error.length, 0xffffffff);
 * ```
 */
export class FrameTooLongError extends LimitOverrunError {
  /** The payload length the prefix announced, in bytes. */
  readonly length: number;

  /** Creates the error for a frame of `length` bytes over `limit`. */
  constructor(length: number, limit: number) {
    super(
      limit,
      `Frame of ${length} bytes exceeds the limit of ${limit} bytes: raise "maxFrameLength" in the frame options if the peer is right to send it`,
    );
    this.name = "FrameTooLongError";
    this.length = length;
  }
}

/**
 * The connection ended before a read was complete: fewer than `n` bytes for
 * {@linkcode BufferedReader.readExactly}, a record without its delimiter for
 * {@linkcode BufferedReader.readUntil}, a frame cut short for
 * {@linkcode BufferedReader.readFrame}. Python's
 * `asyncio.IncompleteReadError`, a `Deno.errors.UnexpectedEof`, so a routine
 * drop. The bytes that did come are in {@linkcode IncompleteReadError.partial}.
 *
 * @example
 * ```ts
 * import { BufferedReader, IncompleteReadError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const reader = BufferedReader.from(new Uint8Array([1, 2, 3]));
 * const error = await reader.readExactly(5).catch((e) => e);
 * assert.ok(error instanceof IncompleteReadError);
 * assert.deepEqual(error.partial, new Uint8Array([1, 2, 3]));
 * assert.equal(error.expected, 5);
 * ```
 */
export class IncompleteReadError extends Deno.errors.UnexpectedEof {
  /** The bytes read before the end: the caller's, as a read's result. */
  readonly partial: Uint8Array<ArrayBuffer>;
  /** How many bytes the read wanted in all; `null` when it looked for a delimiter. */
  readonly expected: number | null;

  /** Creates the error for a read that got `partial` of `expected` bytes. */
  constructor(partial: Uint8Array<ArrayBuffer>, expected: number | null) {
    super(
      expected === null
        ? `Connection ended after ${partial.length} bytes, before the delimiter: the peer closed mid-record`
        : `Connection ended after ${partial.length} of ${expected} bytes: the peer closed mid-record`,
    );
    this.name = "IncompleteReadError";
    this.partial = partial;
    this.expected = expected;
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
 * timeout, a read or write interrupted by closing the connection (what a
 * handler's own timer bounding a raw read does), a limit overrun (an
 * over-long line or frame), an end mid-record
 * ({@linkcode IncompleteReadError}), a failed TLS handshake or corrupt TLS
 * data, a connection refused for its PROXY protocol header or its untrusted
 * address ({@linkcode ProxyHeaderError}). These go to
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
    error instanceof Deno.errors.Interrupted ||
    error instanceof LimitOverrunError ||
    error instanceof ProxyHeaderError;
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
