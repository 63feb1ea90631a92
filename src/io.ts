/**
 * Buffered byte I/O for request handlers: {@linkcode BufferedReader} (the
 * handlers' `rfile`) and {@linkcode StreamWriter} (their `wfile`).
 *
 * @module
 */

/**
 * Where a {@linkcode BufferedReader} pulls bytes from: a `Deno.Conn`, or
 * anything with the same `read()`.
 *
 * @example A reader over an in-memory source
 * ```ts
 * import { BufferedReader, type ByteSource } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const chunks = [new TextEncoder().encode("one\ntwo\n")];
 * const source: ByteSource = {
 *   read(p) {
 *     const chunk = chunks.shift();
 *     if (chunk === undefined) return Promise.resolve(null);
 *     p.set(chunk);
 *     return Promise.resolve(chunk.length);
 *   },
 * };
 * const reader = new BufferedReader(source);
 * assert.equal(new TextDecoder().decode(await reader.readline()), "one\n");
 * assert.equal(new TextDecoder().decode(await reader.readline()), "two\n");
 * ```
 */
export interface ByteSource {
  /** Reads into `p`; resolves to the number of bytes read, or `null` at EOF. */
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * Where a {@linkcode StreamWriter} sends bytes: a `Deno.Conn`, or anything
 * with the same `write()`.
 *
 * @example A writer into memory
 * ```ts
 * import { type ByteSink, StreamWriter } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const written: string[] = [];
 * const sink: ByteSink = {
 *   write(p) {
 *     written.push(new TextDecoder().decode(p));
 *     return Promise.resolve(p.length);
 *   },
 * };
 * const wfile = new StreamWriter(sink);
 * assert.equal(await wfile.write("hello"), 5);
 * assert.deepEqual(written, ["hello"]);
 * ```
 */
export interface ByteSink {
  /** Writes some of `p`; resolves to the number of bytes written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the sink, cancelling a write in flight: what a writer whose
   * write timed out does (see {@linkcode StreamWriterOptions.timeout}). */
  close?(): void;
}

/**
 * The default size of a reader's buffer, in bytes: what a
 * `StreamRequestHandler`'s `rbufsize` of -1 means.
 *
 * @example
 * ```ts
 * import { DEFAULT_BUFFER_SIZE, StreamRequestHandler } from "@x/socketserver";
 *
 * class BigReads extends StreamRequestHandler {
 *   override rbufsize = 4 * DEFAULT_BUFFER_SIZE;
 * }
 * ```
 */
export const DEFAULT_BUFFER_SIZE = 16 * 1024;

/**
 * The default longest line {@linkcode BufferedReader.readline} accepts, in
 * bytes, newline included (the limit `http.server` uses).
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_LINE_LENGTH, StreamRequestHandler } from "@x/socketserver";
 *
 * class LongLines extends StreamRequestHandler {
 *   override maxLineLength = 16 * DEFAULT_MAX_LINE_LENGTH; // 1 MiB
 * }
 * ```
 */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

const LF = 0x0a;
const EMPTY = new Uint8Array(0);
const ignore = () => {};

/**
 * Internal: a sink that takes every write whole, at once (a datagram's reply
 * buffer) has a method under this key, `(p) => p.length`. A writer over it
 * skips the promise chain a real send needs, which per datagram is most of
 * the writer's cost. Not exported from the package.
 */
export const kWriteSync: unique symbol = Symbol("socketserver.writeSync");

/** A sink with {@linkcode kWriteSync}. */
interface SyncSink extends ByteSink {
  [kWriteSync](p: Uint8Array): number;
}

/**
 * Internal: a handler's `wfile` has a function under this key that reports
 * a write's failure to the server (`handleDrop()` for a reset). The writer
 * calls it, once, for a failure no caller observed: a write the handler did
 * not await. Not exported from the package.
 */
export const kReportLost: unique symbol = Symbol("socketserver.reportLost");

/** The failures of writers with a {@linkcode kReportLost} function, to find
 * the writer of an unhandled rejection. Filled only when a write fails, so
 * a write that succeeds, awaited or not, costs nothing more. */
const lostWrites = new WeakMap<object, StreamWriter>();
let watchingRejections = false;

/** Takes the unhandled rejections of writes a handler did not await: the
 * process would otherwise die of the first reset under such a write. Other
 * rejections are left as they are. Registered on the first failed write. */
function onUnhandledRejection(event: PromiseRejectionEvent): void {
  const reason = event.reason;
  if (reason === null || typeof reason !== "object") return;
  const writer = lostWrites.get(reason);
  if (writer === undefined) return;
  event.preventDefault();
  const report = writer[kReportLost];
  if (report === undefined || reportedWriters.has(writer)) return;
  reportedWriters.add(writer); // one report per connection, not per lost write
  report(reason);
}
const reportedWriters = new WeakSet<StreamWriter>();

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
const kStopWrites: unique symbol = Symbol("socketserver.stopWrites");
const kPendingRead: unique symbol = Symbol("socketserver.pendingRead");
const kInFlight: unique symbol = Symbol("socketserver.inFlight");
const encoder = new TextEncoder();

const EMPTY_WORDS = new Uint32Array(0);

/** Spans up to this many bytes are searched byte by byte. */
const SHORT_SPAN = 64;

const LF4 = 0x0a0a0a0a;
const ONES = 0x01010101;
const HIGHS = 0x80808080;

/**
 * The index of the first newline in `buf[from, end)`, or -1, where `words`
 * views the whole memory under `buf`. Past the first word boundary it tests
 * 16 bytes at a time: with `x = word ^ 0x0a0a0a0a`, a word holds a newline
 * iff `(x - 0x01010101) & ~x & 0x80808080` is not 0 (exact, not a
 * heuristic). On a 64 KiB line that is twice as fast as
 * `Uint8Array.prototype.indexOf` (bench/io_bench.ts), which also cannot stop
 * at `end`.
 */
function findLF(buf: Uint8Array, words: Uint32Array, from: number, end: number): number {
  const offset = buf.byteOffset;
  let i = from;
  while (i < end && ((offset + i) & 3) !== 0) {
    if (buf[i] === LF) return i;
    i++;
  }
  for (; i + 16 <= end; i += 16) {
    const k = (offset + i) >> 2;
    const a = words[k] ^ LF4;
    const b = words[k + 1] ^ LF4;
    const c = words[k + 2] ^ LF4;
    const d = words[k + 3] ^ LF4;
    if ((((a - ONES) & ~a) | ((b - ONES) & ~b) | ((c - ONES) & ~c) | ((d - ONES) & ~d)) & HIGHS) {
      break;
    }
  }
  for (; i < end; i++) if (buf[i] === LF) return i;
  return -1;
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
 * Options of a {@linkcode BufferedReader}.
 *
 * @example
 * ```ts
 * import { BufferedReader, type BufferedReaderOptions, LineTooLongError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: BufferedReaderOptions = { maxLineLength: 8 };
 * const reader = BufferedReader.from(new TextEncoder().encode("a long line\n"), options);
 * await assert.rejects(reader.readline(), LineTooLongError);
 * ```
 */
export interface BufferedReaderOptions {
  /** The buffer's starting size in bytes. Default {@linkcode DEFAULT_BUFFER_SIZE}. */
  bufferSize?: number;
  /** The longest line `readline()` without a size accepts. Default {@linkcode DEFAULT_MAX_LINE_LENGTH}. */
  maxLineLength?: number;
  /** How long one read from the source may wait, in ms; `null` for ever. */
  timeout?: number | null;
  /** How long a call that finds nothing buffered may wait for its first
   * byte — the wait between requests — in ms, instead of `timeout`; `null`
   * leaves that wait to `timeout`. */
  idleTimeout?: number | null;
  /** How long a call may take once its first byte is in, in ms, however
   * the bytes trickle; `null` for no limit. */
  requestTimeout?: number | null;
}

/**
 * A buffered reader over a connection: the handlers' `rfile`, with the
 * methods of Python's buffered socket file — `readline()`, `read()`,
 * `read1()` — and async iteration over lines.
 *
 * Every method resolves to a `Uint8Array<ArrayBuffer>` the caller owns —
 * typed so that `crypto.subtle.digest()`, `new Blob([...])` and
 * `new Response(...)` take it as it is — and the reader never writes to
 * those bytes again. Reading copies nothing on the way: one `read`
 * of the source fills the buffer, and lines are found in it 16 bytes at a
 * time. Lines, and `read()` / `read1()` results up to a quarter of
 * `bufferSize`, are handed out as views of the buffer — the reader moves on
 * rather than overwrite bytes it handed out — so their `buffer` is the
 * reader's (holding data read before and after them, at most about twice
 * the line's size or `bufferSize`): `slice()` one to keep it for long, or
 * before transferring its `buffer`. Longer `read()` / `read1()` results, and
 * everything a reader made with {@linkcode BufferedReader.from} returns, are
 * copies.
 *
 * @example Lines, then the rest
 * ```ts
 * import { BufferedReader } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const reader = BufferedReader.from(new TextEncoder().encode("one\ntwo\nrest"));
 * const text = (b: Uint8Array) => new TextDecoder().decode(b);
 * assert.equal(text(await reader.readline()), "one\n");
 * assert.equal(text(await reader.readline()), "two\n");
 * assert.equal(text(await reader.read()), "rest");
 * assert.equal((await reader.readline()).length, 0); // EOF
 * ```
 */
export class BufferedReader implements AsyncIterable<Uint8Array<ArrayBuffer>> {
  /** The longest line {@linkcode BufferedReader.readline} without a size
   * (and iteration) accepts, in bytes, newline included. */
  maxLineLength: number;
  /** How long one read from the source may wait, in ms; `null` waits for ever. */
  timeout: number | null;
  /** How long a call that finds nothing buffered may wait for its first
   * byte, in ms — the wait between requests; `null` leaves it to `timeout`. */
  idleTimeout: number | null;
  /** How long one `readline()` / `read()` may take once its first byte is
   * in, in ms, however slowly the rest trickles (slowloris); `null` for no
   * limit. */
  requestTimeout: number | null;

  #source: ByteSource | null;
  #buf: Uint8Array<ArrayBuffer>;
  /** The size of a new buffer; a longer line grows one beyond it. */
  #bufferSize: number;
  #start = 0;
  #end = 0;
  /** `#buf[0, #lent)` may be held by the caller: it is never written again. */
  #lent = 0;
  /** The length of the last line lent: a new buffer holds two such. */
  #lastLine = 0;
  /** `#buf[#start, #scanned)` holds no newline (when `#scanned > #start`). */
  #scanned = 0;
  #eof = false;
  #closed = false;
  /** A read that outlived a timeout, with the offset it fills from. */
  #pending: Promise<number | null> | null = null;
  /** When the current call's request began (`performance.now()`), or -1
   * before its first byte: `requestTimeout` counts from it. */
  #began = -1;
  /** A `Uint32Array` over `#wordsOf`'s memory, for `findLF()`: made when a
   * long span is first searched in a buffer. */
  #words: Uint32Array = EMPTY_WORDS;
  #wordsOf: Uint8Array = EMPTY;

  /**
   * Creates a reader over `source`.
   *
   * @param source What to read from, usually a `Deno.Conn`; `null` for a reader
   *   over fixed bytes (see {@linkcode BufferedReader.from}).
   * @param options Buffer size, line limit and timeouts.
   */
  constructor(source: ByteSource | null, options: BufferedReaderOptions = {}) {
    this.#source = source;
    const size = options.bufferSize ?? DEFAULT_BUFFER_SIZE;
    this.#bufferSize = size > 0 ? size : DEFAULT_BUFFER_SIZE;
    this.#buf = new Uint8Array(this.#bufferSize);
    this.maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.timeout = options.timeout ?? null;
    this.idleTimeout = options.idleTimeout ?? null;
    this.requestTimeout = options.requestTimeout ?? null;
    if (source === null) this.#eof = true;
  }

  /**
   * A reader over fixed bytes, at EOF after them: what a datagram handler's
   * `rfile` is. The bytes are not copied.
   *
   * @param bytes The whole input.
   * @param options The line limit (the other options do not apply).
   * @returns A reader that yields `bytes` and then EOF.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([104, 105, 10]));
   * assert.deepEqual(await reader.readline(), new Uint8Array([104, 105, 10]));
   * ```
   */
  static from(bytes: Uint8Array, options: BufferedReaderOptions = {}): BufferedReader {
    const reader = new BufferedReader(null, { ...options, bufferSize: 1 });
    // Typed as the reader's own buffer, which it is not: a reader without a
    // source never lends its bytes, it copies them out (see #take()).
    reader.#buf = bytes as Uint8Array<ArrayBuffer>;
    reader.#end = bytes.length;
    return reader;
  }

  /** How many bytes are buffered, ready to be returned without reading. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Whether {@linkcode BufferedReader.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads one line: the bytes up to and including the next `\n`. At EOF it
   * returns what is left without a newline, then empty arrays.
   *
   * As in Python, `size` bounds the line: with a size, the line is cut after
   * `size` bytes when no newline comes within them (the rest of it is read
   * next), and no error is thrown; `http.server`'s over-long request line
   * check, `readline(65537)` then a length test, works as it does there.
   * `readline(0)` returns an empty array. Without a size (or with a negative
   * one, or `null`: Python's -1 and `None`) the line is not cut but guarded:
   * one longer than {@linkcode BufferedReader.maxLineLength} throws
   * {@linkcode LineTooLongError}, so a client that never sends a newline
   * costs at most that much memory, where Python's would take it all.
   *
   * @param size The most bytes to return, newline included; omitted, `null`
   *   or negative for a whole line within `maxLineLength`.
   * @returns The line, newline included (none when cut); empty at EOF.
   * @throws {LineTooLongError} No size given, and no newline within
   *   `maxLineLength` bytes.
   * @throws {TypeError} `size` is not an integer.
   * @throws {TimeoutError} A read waited longer than `timeout` or
   *   `idleTimeout`, or the line took longer than `requestTimeout`.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new TextEncoder().encode("a\nlong line\nb"));
   * assert.equal((await reader.readline()).length, 2);
   * assert.equal((await reader.readline(4)).length, 4); // "long": cut, as Python cuts it
   * assert.equal((await reader.readline()).length, 6); // " line\n"
   * assert.equal((await reader.readline()).length, 1);
   * assert.equal((await reader.readline()).length, 0);
   * ```
   */
  async readline(size?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    if (size !== undefined && size !== null) {
      if (typeof size !== "number" || !Number.isInteger(size)) {
        throw new TypeError(
          `readline() takes an integer size (-1 or none for a whole line), got ${
            typeof size === "number" ? size : JSON.stringify(size)
          }`,
        );
      }
      if (size >= 0) return size === 0 ? EMPTY.slice() : await this.#readlineUpTo(size);
    }
    const limit = this.maxLineLength;
    this.#began = -1;
    for (;;) {
      const line = this.#takeLine(limit);
      if (line !== null) return line;
      const read = this.#read(this.#end - this.#start + 1, limit);
      if (read === null || !this.#filled(await read)) return this.#takeRest();
    }
  }

  /** `readline(size)`: the line, or its first `size` bytes. */
  async #readlineUpTo(size: number): Promise<Uint8Array<ArrayBuffer>> {
    this.#began = -1;
    for (;;) {
      const start = this.#start;
      const end = this.#end;
      const i = this.#findLF(
        this.#scanned > start ? this.#scanned : start,
        Math.min(end, start + size),
      );
      if (i !== -1 || end - start >= size) return this.#hand(i !== -1 ? i + 1 : start + size);
      this.#scanned = end;
      const read = this.#read(end - start + 1, size);
      if (read === null || !this.#filled(await read)) return this.#takeRest();
    }
  }

  /** `readline()` once the buffer holds no whole line. */
  async #readLine(limit: number): Promise<Uint8Array<ArrayBuffer>> {
    for (;;) {
      const read = this.#read(this.#end - this.#start + 1, limit);
      if (read === null || !this.#filled(await read)) return this.#takeRest();
      const line = this.#takeLine(limit);
      if (line !== null) return line;
    }
  }

  /**
   * Reads `n` bytes, or fewer only at EOF. Without `n` (or with a negative
   * one) it reads everything until EOF, which has no bound: prefer a size or
   * `readline()` for input from an untrusted peer.
   *
   * @param n How many bytes to read.
   * @returns The bytes; empty at EOF.
   * @throws {TimeoutError} A read waited longer than `timeout` or
   *   `idleTimeout`, or the call took longer than `requestTimeout`.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([1, 2, 3, 4, 5]));
   * assert.deepEqual(await reader.read(2), new Uint8Array([1, 2]));
   * assert.deepEqual(await reader.read(), new Uint8Array([3, 4, 5]));
   * ```
   */
  async read(n?: number): Promise<Uint8Array<ArrayBuffer>> {
    this.#began = -1;
    if (n === undefined || n < 0) return await this.#readAll();
    if (n === 0) return EMPTY.slice();
    if (n > this.#buf.length && this.#pending === null) return await this.#readLarge(n);
    while (this.#end - this.#start < n) {
      if (!await this.#fill(n)) break;
    }
    return this.#take(Math.min(this.#start + n, this.#end));
  }

  /**
   * Reads at most `n` bytes with at most one read of the source: what is
   * buffered if anything is, otherwise whatever the next read brings. This is
   * Python's `read1()`, and the way to echo bytes as they arrive.
   *
   * @param n The most bytes to return. Default: the buffer's size.
   * @returns Between 1 and `n` bytes; empty at EOF.
   * @throws {TimeoutError} The read waited longer than `timeout` (or
   *   `idleTimeout`: the call found nothing buffered).
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([1, 2, 3]));
   * assert.deepEqual(await reader.read1(2), new Uint8Array([1, 2]));
   * assert.deepEqual(await reader.read1(), new Uint8Array([3]));
   * assert.equal((await reader.read1()).length, 0);
   * ```
   */
  async read1(n: number = this.#buf.length): Promise<Uint8Array<ArrayBuffer>> {
    if (n <= 0) return EMPTY.slice();
    this.#began = -1;
    if (this.#end === this.#start && !await this.#fill(1)) return EMPTY.slice();
    return this.#take(Math.min(this.#start + n, this.#end));
  }

  /**
   * Yields lines, as `readline()` returns them, until EOF.
   *
   * @returns An iterator over the lines.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new TextEncoder().encode("a\nb\n"));
   * const lines = [];
   * for await (const line of reader) lines.push(new TextDecoder().decode(line));
   * assert.deepEqual(lines, ["a\n", "b\n"]);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    // Not an async generator, nor even an async function: a line already
    // buffered is returned at once, and a read's outcome is turned into the
    // next result by one reaction (#lineRead), a promise and a resumption
    // fewer per line than an async function awaiting the read.
    return {
      next: () => {
        this.#began = -1; // each line is a request of its own, as with readline()
        return this.#nextLine();
      },
    };
  }

  #nextLine(): Promise<IteratorResult<Uint8Array<ArrayBuffer>>> {
    try {
      const line = this.#takeLine(this.maxLineLength);
      if (line !== null) return Promise.resolve({ done: false, value: line });
      const read = this.#read(this.#end - this.#start + 1, this.maxLineLength);
      return read === null ? Promise.resolve(this.#atEnd()) : read.then(this.#lineRead);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #lineRead = (
    n: number | null,
  ): IteratorResult<Uint8Array<ArrayBuffer>> | Promise<IteratorResult<Uint8Array<ArrayBuffer>>> => {
    if (!this.#filled(n)) return this.#atEnd();
    const line = this.#takeLine(this.maxLineLength);
    return line !== null ? { done: false, value: line } : this.#nextLine();
  };

  /** The iterator's result at EOF: what is left, if anything, else done. */
  #atEnd(): IteratorResult<Uint8Array<ArrayBuffer>> {
    const rest = this.#takeRest();
    return rest.length === 0 ? { done: true, value: undefined } : { done: false, value: rest };
  }

  /**
   * Marks the reader closed and drops its buffer. It does not close the
   * source: the server closes the connection.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([1]));
   * reader.close();
   * assert.equal(reader.closed, true);
   * ```
   */
  close(): void {
    this.#closed = true;
    this.#eof = true;
    this.#buf = this.#wordsOf = EMPTY;
    this.#words = EMPTY_WORDS;
    this.#start = this.#end = 0;
    this.#lent = this.#scanned = 0;
  }

  /**
   * Internal: the read from the source still pending, if any (one that
   * outlived a timeout).
   *
   * @ignore
   */
  [kPendingRead](): Promise<number | null> | null {
    return this.#pending;
  }

  /** Hands out `#buf[#start, stop)` for `read()` and `read1()`: lent (see
   * `#lend()`), or copied when the reader does not own its bytes or when it
   * is more than a quarter of `bufferSize` — a `read1()` loop lending whole
   * reads would need a new buffer per read. */
  #take(stop: number): Uint8Array<ArrayBuffer> {
    if (this.#source === null || stop - this.#start > this.#bufferSize >> 2) {
      const start = this.#start;
      this.#start = stop;
      return this.#buf.slice(start, stop);
    }
    return this.#lend(stop);
  }

  /** Hands out `#buf[#start, stop)` as a view of the buffer, whose bytes are
   * then never written again. */
  #lend(stop: number): Uint8Array<ArrayBuffer> {
    const start = this.#start;
    this.#start = this.#lent = stop;
    return this.#buf.subarray(start, stop);
  }

  /** Hands out everything buffered: a fresh empty array when nothing is. */
  #takeRest(): Uint8Array<ArrayBuffer> {
    return this.#start === this.#end ? EMPTY.slice() : this.#take(this.#end);
  }

  /** The next line if a whole one is buffered, else null (and the bytes
   * searched are remembered, so that the next call searches only new ones).
   * Throws {@linkcode LineTooLongError} past `limit`. */
  #takeLine(limit: number): Uint8Array<ArrayBuffer> | null {
    const start = this.#start;
    const end = this.#end;
    const i = this.#findLF(this.#scanned > start ? this.#scanned : start, end);
    if (i !== -1) {
      if (i + 1 - start > limit) throw new LineTooLongError(limit);
      return this.#hand(i + 1);
    }
    if (end - start >= limit) throw new LineTooLongError(limit);
    this.#scanned = end;
    return null;
  }

  /** Hands out the line `#buf[#start, stop)`: a copy when the reader does
   * not own its bytes, else lent (and remembered as the last line's size). */
  #hand(stop: number): Uint8Array<ArrayBuffer> {
    if (this.#source === null) return this.#take(stop);
    this.#lastLine = stop - this.#start;
    return this.#lend(stop);
  }

  /** The index of the first newline in `#buf[from, end)`, or -1: a loop
   * for short spans, `findLF()` on the buffer's words for longer ones. */
  #findLF(from: number, end: number): number {
    const buf = this.#buf;
    if (end - from <= SHORT_SPAN) {
      for (let i = from; i < end; i++) if (buf[i] === LF) return i;
      return -1;
    }
    if (this.#wordsOf !== buf) {
      this.#words = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
      this.#wordsOf = buf;
    }
    return findLF(buf, this.#words, from, end);
  }

  /** Reads once more into the buffer (see `#read()`); resolves to false at
   * EOF. */
  async #fill(need: number): Promise<boolean> {
    const read = this.#read(need);
    return read !== null && this.#filled(await read);
  }

  /** Starts one read of the source into the buffer, first making room so
   * that `need` bytes fit from `#start`, or picks up the read a timeout left
   * pending. Returns null at EOF; hand what the promise resolves to to
   * `#filled()`.
   *
   * Room: bytes before `#lent` may be held by the caller and are never
   * written again; the rest of the buffer is free once read. The read goes
   * after the data when enough room is left there — `need`, and once bytes
   * were lent at least a quarter of the buffer, so reads do not shrink to
   * slivers — else the data moves down to `#lent` when that makes the room,
   * else to a new buffer: room for two lines like the last one (at least
   * `bufferSize`, and no more than `cap`, a line's limit: after a line near
   * the limit a flood must not fill twice the limit), or for a line
   * outgrowing the buffer the old size doubled (but past `cap` only as far
   * as `need`).
   * So lines of any length are lent, and a stream of 64 KiB lines costs one
   * 128 KiB buffer per two lines — less than copying each out. */
  #read(need: number, cap: number = Infinity): Promise<number | null> | null {
    if (this.#eof) return null;
    if (this.#pending === null) {
      let buf = this.#buf;
      const base = this.#lent;
      if (this.#start === this.#end) this.#start = this.#end = this.#scanned = base;
      const live = this.#end - this.#start;
      const want = Math.max(need - live, base === 0 ? 1 : buf.length >> 2);
      if (buf.length - this.#end < want) {
        if (buf.length - base - live >= want) {
          buf.copyWithin(base, this.#start, this.#end);
          this.#rebase(base);
        } else {
          const size = need > buf.length
            ? Math.max(need, Math.min(buf.length * 2, cap))
            : Math.max(this.#bufferSize, need, Math.min(this.#lastLine * 2, cap));
          buf = this.#moveTo(new Uint8Array(size));
        }
      }
      this.#pending = this.#source!.read(this.#end === 0 ? buf : buf.subarray(this.#end));
    }
    return this.#await(this.#pending, this.#end - this.#start);
  }

  /** Copies the buffered bytes to the start of `buf`, which becomes the
   * buffer; returns it. */
  #moveTo(buf: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
    buf.set(this.#buf.subarray(this.#start, this.#end));
    this.#buf = buf;
    this.#lent = 0;
    this.#rebase(0);
    return buf;
  }

  /** Moves the offsets after the buffered bytes moved to `to`. */
  #rebase(to: number): void {
    const shift = this.#start - to;
    this.#scanned = this.#scanned > this.#start ? this.#scanned - shift : to;
    this.#end -= shift;
    this.#start = to;
  }

  /** Records the outcome of a read started by `#read()`: false at EOF. */
  #filled(n: number | null): boolean {
    this.#pending = null;
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /** Waits for a read, bounded by the timeouts; a read that times out stays
   * pending in `#pending` for the next call. `have` is how many bytes the
   * current call already has: none means it waits for a request to begin.
   * Without timeouts this adds nothing to the read. */
  #await(read: Promise<number | null>, have: number): Promise<number | null> {
    if (this.timeout === null && this.idleTimeout === null && this.requestTimeout === null) {
      return read;
    }
    let wait = this.timeout;
    let attribute: TimeoutAttribute = "timeout";
    if (have === 0 && this.#began < 0) {
      if (this.idleTimeout !== null) {
        wait = this.idleTimeout;
        attribute = "idleTimeout";
      }
    } else {
      const now = performance.now();
      if (this.#began < 0) this.#began = now;
      const total = this.requestTimeout;
      if (total !== null) {
        const left = Math.max(0, this.#began + total - now);
        if (wait === null || left < wait) {
          wait = left;
          attribute = "requestTimeout";
        }
      }
    }
    if (wait === null) return read;
    const limit = attribute === "requestTimeout" ? this.requestTimeout! : wait;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new TimeoutError(limit, attribute)), wait);
      read.then(
        (n) => (clearTimeout(timer), resolve(n)),
        (e) => (clearTimeout(timer), reject(e)),
      );
    });
  }

  async #readLarge(n: number): Promise<Uint8Array<ArrayBuffer>> {
    const out = new Uint8Array(n);
    let got = this.#end - this.#start;
    out.set(this.#buf.subarray(this.#start, this.#end));
    this.#start = this.#end;
    while (got < n && !this.#eof) {
      const read = await this.#await(this.#source!.read(out.subarray(got)), got);
      if (read === null) this.#eof = true;
      else got += read;
    }
    return got === n ? out : out.slice(0, got);
  }

  async #readAll(): Promise<Uint8Array<ArrayBuffer>> {
    while (await this.#fill(this.#end - this.#start + 1)) {
      // keep filling: #fill grows the buffer as it goes
    }
    return this.#takeRest();
  }
}

/**
 * Options of a {@linkcode StreamWriter}.
 *
 * @example Writes collected until flush()
 * ```ts
 * import { type ByteSink, StreamWriter, type StreamWriterOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * let sent = 0;
 * const sink: ByteSink = {
 *   write(p) {
 *     sent += p.length;
 *     return Promise.resolve(p.length);
 *   },
 * };
 * const options: StreamWriterOptions = { bufferSize: 1024 };
 * const wfile = new StreamWriter(sink, options);
 * await wfile.write("collected");
 * assert.equal(sent, 0);
 * await wfile.flush();
 * assert.equal(sent, 9);
 * ```
 */
export interface StreamWriterOptions {
  /** `0` (the default, like Python's `wbufsize`) sends every `write()` at
   * once; a positive size collects writes and sends them when that many bytes
   * are waiting, on `flush()`, and when the handler finishes. */
  bufferSize?: number;
  /** How long sending one write's bytes (or one flush's) may take, in ms,
   * from when its turn comes to when the last byte is in the kernel's send
   * buffer; `null` (the default) for ever. See
   * {@linkcode StreamWriter.timeout}. */
  timeout?: number | null;
}

/**
 * The handlers' `wfile`: `write()` sends everything it is given and resolves
 * to the byte count once the bytes are in the kernel's send buffer. Strings
 * are sent as UTF-8. Writes made while another is still being sent go out
 * after it, in call order, never interleaved.
 *
 * With the default `bufferSize` of 0 nothing needs flushing, like Python's
 * unbuffered `wfile`.
 *
 * A client that stops reading fills the kernel's buffers, after which a
 * write waits for it for ever; {@linkcode StreamWriter.timeout} bounds that
 * wait.
 *
 * A send that fails (the client reset the connection) fails its write, the
 * writes queued behind it and every later one with the same error, at once:
 * nothing is sent after a gap in the stream. In a handler's `wfile` a failure
 * that no caller observes — a write the handler did not await — goes to the
 * server's `handleDrop()` (once per connection) instead of ending the
 * process as an unhandled rejection.
 *
 * @example
 * ```ts
 * import { StreamWriter } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const sent: Uint8Array[] = [];
 * const sink = { write: (p: Uint8Array) => (sent.push(p.slice()), Promise.resolve(p.length)) };
 * const wfile = new StreamWriter(sink);
 * assert.equal(await wfile.write("héllo\n"), 7);
 * assert.equal(sent.length, 1);
 * ```
 */
export class StreamWriter {
  /**
   * How long sending one write (or one flush) may take, in ms, from when
   * its turn comes — after the writes before it — to when its last byte is
   * in the kernel's send buffer, however many partial writes that takes (as
   * Python's `sendall()` counts its timeout since 3.5); `null` (the default)
   * waits for ever, and adds no timer to a write. A write that runs out
   * rejects with {@linkcode TimeoutError} (`attribute` `"writeTimeout"`),
   * and, since part of it may be sent and the rest cannot be withdrawn, the
   * writer closes its sink (cancelling the write) and rejects every later
   * write with the same error.
   *
   * @example A client that never reads
   * ```ts
   * import { StreamWriter, TimeoutError } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * let closed = false;
   * let cancel = () => {};
   * const stuck = {
   *   write: () => new Promise<number>((_, reject) => cancel = () => reject(new Error("closed"))),
   *   close: () => (closed = true, cancel()),
   * };
   * const wfile = new StreamWriter(stuck, { timeout: 10 });
   * await assert.rejects(wfile.write("reply\n"), TimeoutError);
   * assert.equal(closed, true);
   * ```
   */
  timeout: number | null;
  #sink: ByteSink;
  #bufferSize: number;
  #buf: Uint8Array | null = null;
  #used = 0;
  #closed = false;
  #inFlight = 0;
  /** The latest send; set whenever `#inFlight` > 0. */
  #last: Promise<unknown> | null = null;
  /** The error of the write that timed out, once one did. */
  #timedOut: TimeoutError | null = null;
  /** The first error a send failed with (a reset, a closed connection) or
   * the timeout's: every later write, and every write queued behind it,
   * rejects with it at once instead of trying the dead connection again. */
  #failure: unknown = null;
  /** Whether {@linkcode stopWrites} stopped it, for a lingering close. */
  #stopped = false;
  #sync: SyncSink | null;
  /**
   * Internal: reports a failure no caller observed; see `kReportLost`.
   *
   * @ignore
   */
  [kReportLost]?: (error: unknown) => void;

  /**
   * Creates a writer to `sink`.
   *
   * @param sink Where to send, usually a `Deno.Conn`.
   * @param options The buffer size (0: unbuffered) and the write timeout.
   */
  constructor(sink: ByteSink, options: StreamWriterOptions = {}) {
    this.#sink = sink;
    this.#sync = kWriteSync in sink ? sink as SyncSink : null;
    this.#bufferSize = Math.max(0, options.bufferSize ?? 0);
    this.timeout = options.timeout ?? null;
  }

  /** Whether {@linkcode StreamWriter.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** How many written bytes wait in the buffer for a flush. */
  get buffered(): number {
    return this.#used;
  }

  /** Whether nothing is buffered and no write is still being sent. */
  get idle(): boolean {
    return this.#used === 0 && this.#inFlight === 0;
  }

  /**
   * Sends `data` (a string is sent as UTF-8).
   *
   * @param data The bytes or text to send.
   * @returns The number of bytes accepted: all of them.
   * @throws {Deno.errors.BadResource} The writer is closed.
   * @throws {TimeoutError} The bytes could not be sent within
   *   {@linkcode StreamWriter.timeout}, or an earlier write could not.
   *
   * @example
   * ```ts
   * import { StreamWriter } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * let total = 0;
   * const wfile = new StreamWriter({ write: (p) => (total += p.length, Promise.resolve(p.length)) });
   * await wfile.write(new Uint8Array(10));
   * assert.equal(total, 10);
   * ```
   */
  write(data: Uint8Array | string): Promise<number> {
    if (this.#closed) {
      return Promise.reject(
        new Deno.errors.BadResource("Cannot write to a closed wfile: write before finish() runs"),
      );
    }
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (this.#bufferSize > 0) return this.#writeBuffered(bytes);
    if (this.#sync !== null && this.#inFlight === 0) {
      return Promise.resolve(this.#sync[kWriteSync](bytes));
    }
    const p = this.#inFlight === 0 ? this.#send(bytes) : this.#after(bytes);
    this.#last = p;
    return p;
  }

  /**
   * Sends whatever waits in the buffer; a no-op when unbuffered.
   *
   * @returns Once the buffered bytes are sent.
   *
   * @example
   * ```ts
   * import { StreamWriter } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * let total = 0;
   * const sink = { write: (p: Uint8Array) => (total += p.length, Promise.resolve(p.length)) };
   * const wfile = new StreamWriter(sink, { bufferSize: 1024 });
   * await wfile.write("abc");
   * assert.equal(total, 0);
   * await wfile.flush();
   * assert.equal(total, 3);
   * ```
   */
  async flush(): Promise<void> {
    if (this.#used > 0) {
      const bytes = this.#buf!.slice(0, this.#used);
      this.#used = 0;
      const p = this.#inFlight === 0 ? this.#send(bytes) : this.#after(bytes);
      this.#last = p;
      await p;
    } else if (this.#inFlight > 0) {
      await this.#last!.catch(() => {});
    }
  }

  /**
   * Marks the writer closed; later writes fail. Does not flush (the handler's
   * `finish()` flushes first) and does not close the sink.
   *
   * @example
   * ```ts
   * import { StreamWriter } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const wfile = new StreamWriter({ write: (p) => Promise.resolve(p.length) });
   * wfile.close();
   * await assert.rejects(wfile.write("late"));
   * ```
   */
  close(): void {
    this.#closed = true;
    this.#buf = null;
    this.#used = 0;
  }

  /**
   * Internal: the end of the writes in flight, if any.
   *
   * @ignore
   */
  [kInFlight](): Promise<void> | null {
    return this.#inFlight > 0 ? this.#last!.then(ignore, ignore) : null;
  }

  /**
   * Internal: see `stopWrites()`.
   *
   * @ignore
   */
  [kStopWrites](error: Error): Promise<void> | null {
    this.#stopped = true;
    this.#fail(error);
    return this.#inFlight > 0 ? this.#last!.then(ignore, ignore) : null;
  }

  async #writeBuffered(bytes: Uint8Array): Promise<number> {
    const size = this.#bufferSize;
    if (this.#used + bytes.length > size) await this.flush();
    if (bytes.length >= size) {
      const p = this.#inFlight === 0 ? this.#send(bytes) : this.#after(bytes);
      this.#last = p;
      return await p;
    }
    this.#buf ??= new Uint8Array(size);
    this.#buf.set(bytes, this.#used);
    this.#used += bytes.length;
    return bytes.length;
  }

  #after(bytes: Uint8Array): Promise<number> {
    this.#inFlight++;
    const go = () => {
      if (this.#failure !== null) {
        // the connection failed under an earlier write: settle at once, so
        // that a long queue of writes nobody awaited ends in one turn
        this.#inFlight--;
        return Promise.reject(this.#failure);
      }
      return this.timeout === null ? this.#start(bytes) : this.#startWithin(bytes);
    };
    return this.#last!.then(go, go);
  }

  #send(bytes: Uint8Array): Promise<number> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    this.#inFlight++;
    return this.timeout === null ? this.#start(bytes) : this.#startWithin(bytes);
  }

  /** Records the failure of a send: later writes reject with it, and it is
   * registered so that, should no caller observe it, the handler's
   * {@linkcode kReportLost} gets it instead of the process dying. */
  #fail(error: unknown): void {
    if (this.#failure === null) this.#failure = error;
    if (this[kReportLost] !== undefined && error !== null && typeof error === "object") {
      lostWrites.set(error, this);
      if (!watchingRejections) {
        watchingRejections = true;
        globalThis.addEventListener("unhandledrejection", onUnhandledRejection);
      }
    }
  }

  /** `#start()` bounded by `timeout`. When it runs out the write rejects
   * with {@linkcode TimeoutError}, and the sink is closed: that cancels the
   * send still in flight, which `#onFailed()` then counts out of `#inFlight`.
   * A write queued behind one that timed out is refused rather than sent
   * (its bytes would go out after a partial write, or overlap it). */
  #startWithin(bytes: Uint8Array): Promise<number> {
    if (this.#timedOut !== null) {
      this.#inFlight--;
      return Promise.reject(this.#timedOut);
    }
    const ms = this.timeout;
    if (ms === null) return this.#start(bytes);
    const { promise, resolve, reject } = Promise.withResolvers<number>();
    const timer = setTimeout(() => {
      const error = new TimeoutError(ms, "writeTimeout");
      this.#timedOut = error;
      this.#fail(error);
      reject(error);
      // once serverClose() lingers on the connection, closing it is its job
      if (this.#stopped) return;
      try {
        this.#sink.close?.();
      } catch {
        // closed already
      }
    }, ms);
    this.#start(bytes).then(
      (n) => (clearTimeout(timer), resolve(n)),
      (e) => (clearTimeout(timer), reject(e)),
    );
    return promise;
  }

  /** Starts sending `bytes`, counted in `#inFlight` by the caller. One write
   * of the sink usually takes them all: `#onWritten()` then settles the write
   * with no async function in between (a promise and a resumption fewer per
   * write, which a line echo feels); only a partial write takes the loop in
   * `#sendRest()`. Sends never overlap, so `#current` is the one in flight. */
  #start(bytes: Uint8Array): Promise<number> {
    this.#current = bytes;
    let p: Promise<number>;
    try {
      p = this.#sink.write(bytes);
    } catch (error) {
      this.#inFlight--;
      this.#fail(error);
      return Promise.reject(error);
    }
    return p.then(
      this.#written ??= this.#onWritten.bind(this),
      this.#failed ??= this.#onFailed.bind(this),
    );
  }

  #current: Uint8Array = EMPTY;

  // Bound on the first send, not per writer: a datagram's writer never sends.
  #written: ((n: number) => number | Promise<number>) | undefined;
  #failed: ((error: unknown) => never) | undefined;

  #onWritten(n: number): number | Promise<number> {
    const bytes = this.#current;
    this.#current = EMPTY;
    if (n < bytes.length) return this.#sendRest(bytes, n);
    this.#inFlight--;
    return n;
  }

  #onFailed(error: unknown): never {
    this.#current = EMPTY;
    this.#inFlight--;
    this.#fail(error);
    throw error;
  }

  async #sendRest(bytes: Uint8Array, n: number): Promise<number> {
    try {
      const sink = this.#sink;
      while (n < bytes.length) n += await sink.write(bytes.subarray(n));
      return n;
    } catch (error) {
      this.#fail(error);
      throw error;
    } finally {
      this.#inFlight--;
    }
  }
}
