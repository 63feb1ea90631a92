/**
 * {@linkcode BufferedReader}: the handlers' `rfile`.
 *
 * @module
 */

import { LineTooLongError, type TimeoutAttribute, TimeoutError } from "./errors.ts";
import { deadline } from "./_deadline.ts";
import { findLF } from "./_find_lf.ts";
import { kPendingRead } from "./_symbols.ts";

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

const EMPTY_WORDS = new Uint32Array(0);

/** Spans up to this many bytes are searched byte by byte. */
const SHORT_SPAN = 64;

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
    return deadline(read, wait, () => {
      throw new TimeoutError(limit, attribute);
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
