/**
 * {@linkcode BufferedReader}: the handlers' `rfile`.
 *
 * @module
 */

import { LineTooLongError } from "./errors.ts";
import { readWithin } from "./_read_timeouts.ts";
import { type ServerCounters, UNCOUNTED } from "./_counters.ts";
import { NewlineFinder } from "./_find_lf.ts";
import { kCounters, kPendingRead } from "./_symbols.ts";

/**
 * Where a {@linkcode BufferedReader} pulls bytes from: a `Deno.Conn`, or
 * anything with the same `read()`.
 *
 * @example A source that is always at its end
 * ```ts
 * import { BufferedReader, type ByteSource } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const empty: ByteSource = { read: () => Promise.resolve(null) };
 * assert.equal((await new BufferedReader(empty).readline()).length, 0);
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
  /** The buffer's starting size in bytes.
   * @default {DEFAULT_BUFFER_SIZE} */
  bufferSize?: number;
  /** {@linkcode BufferedReader.maxLineLength}.
   * @default {DEFAULT_MAX_LINE_LENGTH} */
  maxLineLength?: number;
  /** {@linkcode BufferedReader.timeout}.
   * @default {null} */
  timeout?: number | null;
  /** {@linkcode BufferedReader.idleTimeout}.
   * @default {null} */
  idleTimeout?: number | null;
  /** {@linkcode BufferedReader.requestTimeout}.
   * @default {null} */
  requestTimeout?: number | null;
}

/**
 * A buffered reader over a connection, the handlers' `rfile`: Python's
 * buffered socket file (`readline()`, `read()`, `read1()`) and async
 * iteration over lines.
 *
 * What it returns is the caller's: the reader never writes those bytes
 * again. Lines, and short `read()` / `read1()` results, are views of its
 * buffer rather than copies, so their `.buffer` holds other data of the
 * connection: `slice()` one to keep it for long or to transfer its buffer.
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
  /** The longest line `readline()` without a size accepts, newline included. */
  maxLineLength: number;
  /** How long one read from the source may wait, in ms; `null` waits for ever. */
  timeout: number | null;
  /** How long a call with nothing buffered waits for a first byte, in ms, instead of `timeout`. */
  idleTimeout: number | null;
  /** How long one `readline()` / `read()` may take once begun, in ms; `null`: no limit. */
  requestTimeout: number | null;
  /** @ignore Internal: counts the bytes read. */ [kCounters]: ServerCounters = UNCOUNTED;

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
  /** When the current call's first byte came, or -1: `requestTimeout` counts from it. */
  #began = -1;
  /** Made at the first search of a long span. */
  #finder: NewlineFinder | null = null;

  /** Creates a reader over `source`, usually a `Deno.Conn` (`null`: see `from()`). */
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
   * A reader over fixed bytes, not copied, at EOF after them: a datagram
   * handler's `rfile`. Only `maxLineLength` of the options applies.
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

  /** How many bytes are buffered, returned without reading. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Whether {@linkcode BufferedReader.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Reads one line, up to and including the next `\n`; at EOF what is left,
   * then empty arrays. With a `size`, as in Python, a longer line is cut
   * after `size` bytes; without one, a line over `maxLineLength` throws.
   *
   * @throws {LineTooLongError} No size, and no newline within `maxLineLength`.
   * @throws {TypeError} `size` is not an integer.
   * @throws {TimeoutError} A timeout ran out.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new TextEncoder().encode("long line\nb"));
   * assert.equal((await reader.readline(4)).length, 4); // "long": cut, as Python cuts it
   * assert.equal((await reader.readline()).length, 6); // " line\n"
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

  /**
   * Reads `n` bytes, fewer only at EOF; without `n`, everything until EOF
   * (unbounded: not for an untrusted peer).
   *
   * @throws {TimeoutError} A timeout ran out.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([1, 2, 3]));
   * assert.deepEqual(await reader.read(2), new Uint8Array([1, 2]));
   * ```
   */
  async read(n?: number): Promise<Uint8Array<ArrayBuffer>> {
    this.#began = -1;
    if (n === undefined || n < 0) {
      while (await this.#fill(this.#end - this.#start + 1)); // it grows the buffer
      return this.#takeRest();
    }
    if (n === 0) return EMPTY.slice();
    if (n > this.#buf.length && this.#pending === null) return await this.#readLarge(n);
    while (this.#end - this.#start < n) {
      if (!await this.#fill(n)) break;
    }
    return this.#take(Math.min(this.#start + n, this.#end));
  }

  /**
   * Reads at most `n` bytes with at most one read of the source, Python's
   * `read1()`: the way to echo bytes as they arrive.
   *
   * @throws {TimeoutError} A timeout ran out.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([1, 2, 3]));
   * assert.deepEqual(await reader.read1(2), new Uint8Array([1, 2]));
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
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const lines = [];
   * for await (const line of BufferedReader.from(new TextEncoder().encode("a\nb\n"))) {
   *   lines.push(line.length);
   * }
   * assert.deepEqual(lines, [2, 2]);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array<ArrayBuffer>> {
    // Not an async generator: a buffered line returns at once, and a read
    // becomes the next result in one reaction (#lineRead), a promise fewer
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
   * Marks the reader closed and drops its buffer; the source stays open.
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
    this.#buf = EMPTY;
    this.#finder = null;
    this.#start = this.#end = 0;
    this.#lent = this.#scanned = 0;
  }

  /** @ignore Internal: the read a timeout left pending, if any. */
  [kPendingRead](): Promise<number | null> | null {
    return this.#pending;
  }

  /** `#buf[#start, stop)` for `read()`: copied past a quarter of `bufferSize`. */
  #take(stop: number): Uint8Array<ArrayBuffer> {
    if (this.#source === null || stop - this.#start > this.#bufferSize >> 2) {
      const start = this.#start;
      this.#start = stop;
      return this.#buf.slice(start, stop);
    }
    return this.#lend(stop);
  }

  /** Lends `#buf[#start, stop)`: a view, never written again. */
  #lend(stop: number): Uint8Array<ArrayBuffer> {
    const start = this.#start;
    this.#start = this.#lent = stop;
    return this.#buf.subarray(start, stop);
  }

  /** Hands out everything buffered: a fresh empty array when nothing is. */
  #takeRest(): Uint8Array<ArrayBuffer> {
    return this.#start === this.#end ? EMPTY.slice() : this.#take(this.#end);
  }

  /** The next line if a whole one is buffered, else null; throws past `limit`. */
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

  /** Hands out the line `#buf[#start, stop)`: lent (its size remembered), or copied. */
  #hand(stop: number): Uint8Array<ArrayBuffer> {
    if (this.#source === null) return this.#take(stop);
    this.#lastLine = stop - this.#start;
    return this.#lend(stop);
  }

  /** The first newline in `#buf[from, end)`, or -1; words at a time when long. */
  #findLF(from: number, end: number): number {
    const buf = this.#buf;
    if (end - from <= SHORT_SPAN) {
      for (let i = from; i < end; i++) if (buf[i] === LF) return i;
      return -1;
    }
    return (this.#finder ??= new NewlineFinder()).find(buf, from, end);
  }

  /** Reads once more into the buffer (see `#read()`); false at EOF. */
  async #fill(need: number): Promise<boolean> {
    const read = this.#read(need);
    return read !== null && this.#filled(await read);
  }

  /** Starts one read (or picks up a pending one) with room for `need` bytes
   * from `#start`; null at EOF. Bytes before `#lent` are the caller's: the data
   * moves down to `#lent`, or to a buffer for two lines like the last (≤ `cap`). */
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

  /** Moves the buffered bytes to the start of `buf`, the new buffer. */
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
    if (n === null) this.#eof = true;
    else {
      this.#end += n;
      this[kCounters].bytesRead += n;
    }
    return n !== null;
  }

  /** A read bounded by the timeouts (`have` bytes in: the request has begun). */
  #await(read: Promise<number | null>, have: number): Promise<number | null> {
    if (this.timeout === null && this.idleTimeout === null && this.requestTimeout === null) {
      return read;
    }
    if (have > 0 && this.#began < 0) this.#began = performance.now();
    return readWithin(read, this, this.#began);
  }

  async #readLarge(n: number): Promise<Uint8Array<ArrayBuffer>> {
    const out = new Uint8Array(n);
    let got = this.#end - this.#start;
    out.set(this.#buf.subarray(this.#start, this.#end));
    this.#start = this.#end;
    while (got < n && !this.#eof) {
      const read = await this.#await(this.#source!.read(out.subarray(got)), got);
      if (read === null) this.#eof = true;
      else this[kCounters].bytesRead += read;
      got += read ?? 0;
    }
    return got === n ? out : out.slice(0, got);
  }
}
