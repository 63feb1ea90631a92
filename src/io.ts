/**
 * Buffered byte I/O for request handlers: {@linkcode BufferedReader} (the
 * handlers' `rfile`) and {@linkcode StreamWriter} (their `wfile`).
 *
 * @module
 */

/** Where a {@linkcode BufferedReader} pulls bytes from: a `Deno.Conn`, or
 * anything with the same `read()`. */
export interface ByteSource {
  /** Reads into `p`; resolves to the number of bytes read, or `null` at EOF. */
  read(p: Uint8Array): Promise<number | null>;
}

/** Where a {@linkcode StreamWriter} sends bytes: a `Deno.Conn`, or anything
 * with the same `write()`. */
export interface ByteSink {
  /** Writes some of `p`; resolves to the number of bytes written. */
  write(p: Uint8Array): Promise<number>;
}

/** The default size of a reader's buffer, in bytes. */
export const DEFAULT_BUFFER_SIZE = 16 * 1024;

/** The default longest line {@linkcode BufferedReader.readline} accepts, in
 * bytes, newline included (the limit `http.server` uses). */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

const LF = 0x0a;
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/**
 * Thrown by {@linkcode BufferedReader.readline} when no newline arrives
 * within the line limit. The bytes read so far stay buffered: `read(n)` still
 * returns them.
 *
 * @example Catching an over-long line
 * ```ts
 * import { BufferedReader, LineTooLongError } from "./io.ts";
 * import assert from "node:assert/strict";
 *
 * const reader = BufferedReader.from(new TextEncoder().encode("x".repeat(100)));
 * await assert.rejects(reader.readline(10), LineTooLongError);
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
      `Line exceeds the limit of ${limit} bytes: raise the handler's "maxLineLength" or pass a larger limit to readline()`,
    );
    this.name = "LineTooLongError";
    this.limit = limit;
  }
}

/** Which of a reader's timeouts ran out: see {@linkcode TimeoutError.attribute}. */
export type TimeoutAttribute = "timeout" | "idleTimeout" | "requestTimeout";

/**
 * Thrown when a read waits longer than one of the reader's timeouts: the
 * stand-in for Python's `socket.timeout`. It extends `Deno.errors.TimedOut`;
 * {@linkcode TimeoutError.attribute} says which timeout ran out. The read
 * that timed out stays pending and the next read picks it up, so nothing is
 * lost if the handler catches the error and reads again.
 *
 * @example Reading with a deadline
 * ```ts
 * import { BufferedReader, TimeoutError } from "./io.ts";
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
   * `"idleTimeout"` (no next request began in time) or `"requestTimeout"`
   * (a started request did not complete in time). */
  readonly attribute: TimeoutAttribute;

  /**
   * Creates the error for a read that waited `timeout` ms.
   *
   * @param timeout The timeout that ran out, in milliseconds.
   * @param attribute Which of the reader's timeouts it is.
   */
  constructor(timeout: number, attribute: TimeoutAttribute = "timeout") {
    super(
      attribute === "timeout"
        ? `No data received within ${timeout} ms: raise the handler's "timeout" or set it to null`
        : attribute === "idleTimeout"
        ? `No request began within ${timeout} ms: raise the handler's "idleTimeout" or set it to null`
        : `The request was not complete within ${timeout} ms of its first byte: raise the handler's "requestTimeout" or set it to null`,
    );
    this.name = "TimeoutError";
    this.timeout = timeout;
    this.attribute = attribute;
  }
}

/** Options of a {@linkcode BufferedReader}. */
export interface BufferedReaderOptions {
  /** The buffer's starting size in bytes. Default {@linkcode DEFAULT_BUFFER_SIZE}. */
  bufferSize?: number;
  /** The default line limit of `readline()`. Default {@linkcode DEFAULT_MAX_LINE_LENGTH}. */
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
 * Every method resolves to a fresh `Uint8Array` the caller owns. Reading
 * never copies the buffer on the way: one `read` of the source fills it, and
 * lines are cut from it with `indexOf`.
 *
 * @example Lines, then the rest
 * ```ts
 * import { BufferedReader } from "./io.ts";
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
export class BufferedReader implements AsyncIterable<Uint8Array> {
  /** The default line limit of {@linkcode BufferedReader.readline}, in bytes, newline included. */
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
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #eof = false;
  #closed = false;
  /** A read that outlived a timeout, with the offset it fills from. */
  #pending: Promise<number | null> | null = null;
  /** When the current call's request began (`performance.now()`), or -1
   * before its first byte: `requestTimeout` counts from it. */
  #began = -1;

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
    this.#buf = new Uint8Array(size > 0 ? size : DEFAULT_BUFFER_SIZE);
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
   * import { BufferedReader } from "./io.ts";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([104, 105, 10]));
   * assert.deepEqual(await reader.readline(), new Uint8Array([104, 105, 10]));
   * ```
   */
  static from(bytes: Uint8Array, options: BufferedReaderOptions = {}): BufferedReader {
    const reader = new BufferedReader(null, { ...options, bufferSize: 1 });
    reader.#buf = bytes;
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
   * Unlike Python, where `readline(size)` cuts the line at `size` bytes, a line
   * longer than `limit` throws {@linkcode LineTooLongError}, so a client that
   * never sends a newline costs at most `limit` bytes of memory.
   *
   * @param limit The longest line accepted, in bytes, newline included.
   *   Default {@linkcode BufferedReader.maxLineLength}.
   * @returns The line, newline included; empty at EOF.
   * @throws {LineTooLongError} No newline within `limit` bytes.
   * @throws {TimeoutError} A read waited longer than `timeout` or
   *   `idleTimeout`, or the line took longer than `requestTimeout`.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "./io.ts";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new TextEncoder().encode("a\nb"));
   * assert.equal((await reader.readline()).length, 2);
   * assert.equal((await reader.readline()).length, 1);
   * assert.equal((await reader.readline()).length, 0);
   * ```
   */
  async readline(limit: number = this.maxLineLength): Promise<Uint8Array> {
    this.#began = -1;
    let from = this.#start;
    for (;;) {
      const buf = this.#buf;
      const start = this.#start;
      const end = this.#end;
      const i = from < end ? buf.indexOf(LF, from) : -1;
      if (i !== -1 && i < end) {
        if (i + 1 - start > limit) throw new LineTooLongError(limit);
        this.#start = i + 1;
        return buf.slice(start, i + 1);
      }
      const have = end - start;
      if (have >= limit) throw new LineTooLongError(limit);
      if (!await this.#fill(have + 1, limit)) {
        // at EOF: the rest, from where #fill left it (it may have compacted)
        const rest = this.#buf.slice(this.#start, this.#end);
        this.#start = this.#end;
        return rest;
      }
      from = this.#start + have;
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
   * import { BufferedReader } from "./io.ts";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([1, 2, 3, 4, 5]));
   * assert.deepEqual(await reader.read(2), new Uint8Array([1, 2]));
   * assert.deepEqual(await reader.read(), new Uint8Array([3, 4, 5]));
   * ```
   */
  async read(n?: number): Promise<Uint8Array> {
    this.#began = -1;
    if (n === undefined || n < 0) return await this.#readAll();
    if (n === 0) return EMPTY.slice();
    if (n > this.#buf.length && this.#pending === null) return await this.#readLarge(n);
    while (this.#end - this.#start < n) {
      if (!await this.#fill(n)) break;
    }
    const start = this.#start;
    const stop = Math.min(start + n, this.#end);
    this.#start = stop;
    return this.#buf.slice(start, stop);
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
   * import { BufferedReader } from "./io.ts";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new Uint8Array([1, 2, 3]));
   * assert.deepEqual(await reader.read1(2), new Uint8Array([1, 2]));
   * assert.deepEqual(await reader.read1(), new Uint8Array([3]));
   * assert.equal((await reader.read1()).length, 0);
   * ```
   */
  async read1(n: number = this.#buf.length): Promise<Uint8Array> {
    if (n <= 0) return EMPTY.slice();
    this.#began = -1;
    if (this.#end === this.#start && !await this.#fill(1)) return EMPTY.slice();
    const start = this.#start;
    const stop = Math.min(start + n, this.#end);
    this.#start = stop;
    return this.#buf.slice(start, stop);
  }

  /**
   * Yields lines, as `readline()` returns them, until EOF.
   *
   * @returns An iterator over the lines.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "./io.ts";
   * import assert from "node:assert/strict";
   *
   * const reader = BufferedReader.from(new TextEncoder().encode("a\nb\n"));
   * const lines = [];
   * for await (const line of reader) lines.push(new TextDecoder().decode(line));
   * assert.deepEqual(lines, ["a\n", "b\n"]);
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const line = await this.readline();
      if (line.length === 0) return;
      yield line;
    }
  }

  /**
   * Marks the reader closed and drops its buffer. It does not close the
   * source: the server closes the connection.
   *
   * @example
   * ```ts
   * import { BufferedReader } from "./io.ts";
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
    this.#start = this.#end = 0;
  }

  /** Reads once more into the buffer, first making room so that `need` bytes
   * fit from `#start` (compacting, or growing by doubling, but past `cap`
   * only as far as `need`). Resolves to false at EOF. */
  async #fill(need: number, cap: number = Infinity): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#pending === null) {
      const start = this.#start;
      const end = this.#end;
      let buf = this.#buf;
      if (start === end) {
        this.#start = this.#end = 0;
      } else if (end === buf.length || buf.length - start < need) {
        const live = end - start;
        if (need > buf.length) {
          const grown = new Uint8Array(Math.max(need, Math.min(buf.length * 2, cap)));
          grown.set(buf.subarray(start, end));
          buf = this.#buf = grown;
        } else {
          buf.copyWithin(0, start, end);
        }
        this.#start = 0;
        this.#end = live;
      }
      this.#pending = this.#source!.read(this.#end === 0 ? buf : buf.subarray(this.#end));
    }
    const n = await this.#await(this.#pending, this.#end - this.#start);
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

  async #readLarge(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let got = this.#end - this.#start;
    out.set(this.#buf.subarray(this.#start, this.#end));
    this.#start = this.#end = 0;
    while (got < n && !this.#eof) {
      const read = await this.#await(this.#source!.read(out.subarray(got)), got);
      if (read === null) this.#eof = true;
      else got += read;
    }
    return got === n ? out : out.slice(0, got);
  }

  async #readAll(): Promise<Uint8Array> {
    while (await this.#fill(this.#end - this.#start + 1)) {
      // keep filling: #fill grows the buffer as it goes
    }
    const out = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end;
    return out;
  }
}

/** Options of a {@linkcode StreamWriter}. */
export interface StreamWriterOptions {
  /** `0` (the default, like Python's `wbufsize`) sends every `write()` at
   * once; a positive size collects writes and sends them when that many bytes
   * are waiting, on `flush()`, and when the handler finishes. */
  bufferSize?: number;
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
 * @example
 * ```ts
 * import { StreamWriter } from "./io.ts";
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
  #sink: ByteSink;
  #bufferSize: number;
  #buf: Uint8Array | null = null;
  #used = 0;
  #closed = false;
  #inFlight = 0;
  #last: Promise<unknown> = Promise.resolve();

  /**
   * Creates a writer to `sink`.
   *
   * @param sink Where to send, usually a `Deno.Conn`.
   * @param options The buffer size (0: unbuffered).
   */
  constructor(sink: ByteSink, options: StreamWriterOptions = {}) {
    this.#sink = sink;
    this.#bufferSize = Math.max(0, options.bufferSize ?? 0);
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
   *
   * @example
   * ```ts
   * import { StreamWriter } from "./io.ts";
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
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (this.#bufferSize > 0) return this.#writeBuffered(bytes);
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
   * import { StreamWriter } from "./io.ts";
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
      await this.#last.catch(() => {});
    }
  }

  /**
   * Marks the writer closed; later writes fail. Does not flush (the handler's
   * `finish()` flushes first) and does not close the sink.
   *
   * @example
   * ```ts
   * import { StreamWriter } from "./io.ts";
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
    const go = () => this.#sendCounted(bytes);
    return this.#last.then(go, go);
  }

  #send(bytes: Uint8Array): Promise<number> {
    this.#inFlight++;
    return this.#sendCounted(bytes);
  }

  async #sendCounted(bytes: Uint8Array): Promise<number> {
    try {
      const sink = this.#sink;
      let n = await sink.write(bytes);
      while (n < bytes.length) n += await sink.write(bytes.subarray(n));
      return n;
    } finally {
      this.#inFlight--;
    }
  }
}
