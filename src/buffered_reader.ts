/**
 * {@linkcode BufferedReader}: the handlers' `rfile`.
 *
 * @module
 */

import { LineTooLongError } from "./errors.ts";
import { ReadBuffer } from "./_read_buffer.ts";
import { DEFAULT_MAX_FRAME_LENGTH, type FrameOptions } from "./framing.ts";
import { frames, readExactly, readFrame, readUntil } from "./_framing.ts";
import { readableOf } from "./_web_streams.ts";
import { kCounters, kPendingRead, kReadGate, kStreamRead } from "./_symbols.ts";
import type { ServerCounters } from "./_counters.ts";

/**
 * Where a {@linkcode BufferedReader} pulls bytes from: a `Deno.Conn`, or anything with its `read()`.
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
 * The default size of a reader's buffer, in bytes: what `rbufsize` -1 means.
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
 * The default longest line {@linkcode BufferedReader.readline} accepts, newline included (as
 * `http.server`).
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

const EMPTY = new Uint8Array(0);

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
 * A buffered reader over a connection, the handlers' `rfile`: Python's buffered socket file
 * (`readline()`, `read()`, `read1()`) and async iteration over lines. What it returns is never
 * written again but may be a view of its buffer (`slice()` to keep it); every search for an end is
 * bounded; a second call waiting on the source rejects with `Deno.errors.Busy`. See
 * docs/request-flow.md.
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

  /** The buffer, its refills and timeouts (`_read_buffer.ts`). */
  readonly #b: ReadBuffer;
  #closed = false;

  /** Creates a reader over `source`, usually a `Deno.Conn` (`null`: see `from()`). */
  constructor(source: ByteSource | null, options: BufferedReaderOptions = {}) {
    const size = options.bufferSize ?? DEFAULT_BUFFER_SIZE;
    this.#b = new ReadBuffer(source, this, size > 0 ? size : DEFAULT_BUFFER_SIZE);
    this.maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
    this.timeout = options.timeout ?? null;
    this.idleTimeout = options.idleTimeout ?? null;
    this.requestTimeout = options.requestTimeout ?? null;
  }

  /**
   * A reader over fixed bytes (not copied), at EOF after them: a datagram handler's `rfile`. Only
   * `maxLineLength` of the options applies.
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
    // typed as its own buffer, which it is not: a sourceless reader copies out, never lends
    reader.#b.buf = bytes as Uint8Array<ArrayBuffer>;
    reader.#b.end = bytes.length;
    return reader;
  }

  /** How many bytes are buffered, returned without reading. */
  get buffered(): number {
    return this.#b.end - this.#b.start;
  }

  /** Whether {@linkcode BufferedReader.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The rest of the connection as a `ReadableStream` of `read1()` chunks, pulled as consumed. Unlike
   * the connection's own `readable`, its end does not close the connection, so the handler may still
   * write. The same stream at every access.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new TextEncoder().encode("head\nbody"));
   * await reader.readline();
   * const body = reader.readable.pipeThrough(new TextDecoderStream());
   * assert.equal(await Array.fromAsync(body).then((parts) => parts.join("")), "body");
   * ```
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return readableOf(this);
  }

  /**
   * Reads one line, up to and including the next `\n`; at EOF what is left, then empty arrays. With
   * a `size` a longer line is cut, as in Python; without one, a line over `maxLineLength` throws.
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
      checkSize("readline()", size, "a whole line");
      if (size >= 0) return size === 0 ? EMPTY.slice() : await this.#readlineUpTo(size);
    }
    const limit = this.maxLineLength;
    const b = this.#b;
    b.began = -1;
    for (;;) {
      const line = this.#takeLine(limit);
      if (line !== null) return line;
      const read = b.read(b.end - b.start + 1, limit);
      if (read === null) return b.takeRest();
      let n;
      try {
        n = await read;
      } catch (error) {
        throw b.abandon(error);
      }
      if (!b.filled(n)) return b.takeRest();
    }
  }

  /** `readline(size)`: the line, or its first `size` bytes. */
  async #readlineUpTo(size: number): Promise<Uint8Array<ArrayBuffer>> {
    const b = this.#b;
    b.began = -1;
    for (;;) {
      const start = b.start;
      const end = b.end;
      const i = b.find(b.scanned > start ? b.scanned : start, Math.min(end, start + size));
      if (i !== -1 || end - start >= size) return b.hand(i !== -1 ? i + 1 : start + size);
      b.scanned = end;
      const read = b.read(end - start + 1, size);
      if (read === null) return b.takeRest();
      let n;
      try {
        n = await read;
      } catch (error) {
        throw b.abandon(error);
      }
      if (!b.filled(n)) return b.takeRest();
    }
  }

  /**
   * Reads `n` bytes, fewer only at EOF; without `n` (or with `null` or a negative `n`, as in
   * Python), everything until EOF (unbounded: not for an untrusted peer).
   *
   * @throws {TypeError} `n` is not an integer (`NaN`, `2.5`, `Infinity`), as in Python.
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
  async read(n?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    if (n !== undefined && n !== null) checkSize("read()", n);
    const b = this.#b;
    b.began = -1;
    if (n === undefined || n === null || n < 0) {
      while (await b.fill(b.end - b.start + 1)); // it grows the buffer
      return b.takeRest();
    }
    if (n === 0) return EMPTY.slice();
    // larger than the buffer: read in place into n bytes handed out whole; bytes that came
    // before a timeout wait there for the next call
    const large = n > b.bufferSize;
    while (b.end - b.start < n) {
      if (!await b.fill(n, large ? n : Infinity)) break;
    }
    const stop = Math.min(b.start + n, b.end);
    return large && b.start === 0 && stop === b.buf.length ? b.lend(stop) : b.take(stop);
  }

  /**
   * Reads at most `n` bytes with at most one read of the source, Python's `read1()`; without `n`
   * (or with `null`), at most a buffer's worth.
   *
   * @throws {TypeError} `n` is not an integer (`NaN`, `2.5`, `Infinity`), as in Python.
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
  async read1(n?: number | null): Promise<Uint8Array<ArrayBuffer>> {
    if (n === undefined || n === null) n = this.#b.buf.length;
    else checkSize("read1()", n);
    if (n <= 0) return EMPTY.slice();
    const b = this.#b;
    b.began = -1;
    if (b.end === b.start && !await b.fill(1)) return EMPTY.slice();
    return b.take(Math.min(b.start + n, b.end));
  }

  /**
   * Reads exactly `n` bytes, asyncio's `readexactly()`; `n` over `limit` is refused before reading.
   *
   * @throws {IncompleteReadError} The connection ended first (its `partial`: the bytes that came).
   * @throws {LimitOverrunError} `n` is over `limit`.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([0, 3, 1, 2, 3]));
   * const [, size] = await reader.readExactly(2);
   * assert.deepEqual(await reader.readExactly(size), new Uint8Array([1, 2, 3]));
   * ```
   */
  readExactly(
    n: number,
    limit: number = DEFAULT_MAX_FRAME_LENGTH,
  ): Promise<Uint8Array<ArrayBuffer>> {
    return readExactly(this.#b, n, limit);
  }

  /**
   * Reads up to and including the next `delimiter` (a string as UTF-8), asyncio's `readuntil()`; an
   * empty array at EOF. A record over `limit` throws and stays buffered (`Infinity`: no limit).
   *
   * @throws {LimitOverrunError} No delimiter within `limit` bytes.
   * @throws {IncompleteReadError} The connection ended mid-record.
   *
   * @example A NUL-terminated record
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new TextEncoder().encode("user\0pass\0"));
   * assert.equal(new TextDecoder().decode(await reader.readUntil("\0")), "user\0");
   * ```
   */
  readUntil(
    delimiter: string | Uint8Array,
    limit: number = this.maxLineLength,
  ): Promise<Uint8Array<ArrayBuffer>> {
    return readUntil(this.#b, delimiter, limit);
  }

  /**
   * Reads one length-prefixed frame and returns its payload; `null` at EOF between frames. The
   * default prefix is Python's `struct.pack(">L", len(data))`.
   *
   * @throws {FrameTooLongError} The prefix announces over `maxFrameLength`.
   * @throws {IncompleteReadError} The connection ended mid-frame.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([0, 0, 0, 2, 104, 105]));
   * assert.equal(new TextDecoder().decode((await reader.readFrame())!), "hi");
   * assert.equal(await reader.readFrame(), null);
   * ```
   */
  readFrame(options?: FrameOptions): Promise<Uint8Array<ArrayBuffer> | null> {
    return readFrame(this.#b, options);
  }

  /**
   * Yields length-prefixed frames, as `readFrame()` returns them, until EOF between frames.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([1, 97, 2, 98, 99]));
   * const sizes = [];
   * for await (const frame of reader.frames({ lengthBytes: 1 })) sizes.push(frame.length);
   * assert.deepEqual(sizes, [1, 2]);
   * ```
   */
  frames(options?: FrameOptions): AsyncIterableIterator<Uint8Array<ArrayBuffer>> {
    return frames(this.#b, options);
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
    // not an async generator: a buffered line returns at once, a read in one reaction
    return {
      next: () => {
        this.#b.began = -1; // each line is a request of its own, as with readline()
        return this.#nextLine();
      },
    };
  }

  #nextLine(): Promise<IteratorResult<Uint8Array<ArrayBuffer>>> {
    try {
      const line = this.#takeLine(this.maxLineLength);
      if (line !== null) return Promise.resolve({ done: false, value: line });
      const b = this.#b;
      const read = b.read(b.end - b.start + 1, this.maxLineLength);
      return read === null ? Promise.resolve(this.#atEnd()) : read.then(this.#lineRead, b.rethrow);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #lineRead = (
    n: number | null,
  ): IteratorResult<Uint8Array<ArrayBuffer>> | Promise<IteratorResult<Uint8Array<ArrayBuffer>>> => {
    if (!this.#b.filled(n)) return this.#atEnd();
    const line = this.#takeLine(this.maxLineLength);
    return line !== null ? { done: false, value: line } : this.#nextLine();
  };

  /** The iterator's result at EOF: what is left, if anything, else done. */
  #atEnd(): IteratorResult<Uint8Array<ArrayBuffer>> {
    const rest = this.#b.takeRest();
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
    this.#b.close();
  }

  /** @ignore Internal: where the bytes read are counted (a server's `stats()`). */
  set [kCounters](counters: ServerCounters) {
    this.#b.counters = counters;
  }

  /** @ignore Internal: what each read from the source waits for first (`wfile`'s backlog). */
  set [kReadGate](gate: (() => Promise<void> | null) | null) {
    this.#b.gate = gate;
  }

  /** @ignore Internal: the read a timeout left pending, if any. */
  [kPendingRead](): Promise<number | null> | null {
    return this.#b.pending;
  }

  /** @ignore Internal: `read1()` for `readable`, given up when it is cancelled. */
  [kStreamRead](stop: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
    return this.#b.streamChunk(stop);
  }

  /** The next line if a whole one is buffered, else null; throws past `limit`. Exactly `limit`
   * bytes with no newline are refused before EOF (a read to look further would outgrow the limit),
   * accepted at a known EOF (a datagram's `rfile`): that last line is not longer than `limit`. */
  #takeLine(limit: number): Uint8Array<ArrayBuffer> | null {
    const b = this.#b;
    const start = b.start;
    const end = b.end;
    const i = b.find(b.scanned > start ? b.scanned : start, end);
    if (i !== -1) {
      if (i + 1 - start > limit) throw new LineTooLongError(limit);
      return b.hand(i + 1);
    }
    if (end - start >= limit && !(b.eof && end - start === limit)) {
      throw new LineTooLongError(limit);
    }
    b.scanned = end;
    return null;
  }
}

/** Checks a size given to `read()`, `read1()` or `readline()`: an integer, as Python's files take
 * (`None` is handled by the caller); `NaN`, `2.5` or `Infinity` would read a guess. */
function checkSize(method: string, size: unknown, none = "everything until EOF"): void {
  if (typeof size !== "number" || !Number.isInteger(size)) {
    throw new TypeError(
      `${method} takes an integer size (-1 or none for ${none}), got ${
        typeof size === "number" ? size : JSON.stringify(size)
      }`,
    );
  }
}
