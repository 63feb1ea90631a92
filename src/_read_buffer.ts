/**
 * {@linkcode ReadBuffer}: the buffer under a `BufferedReader`, its refills and their timeouts;
 * `buffered_reader.ts` and `_framing.ts` read through its fields and `fill()` / `hand()`.
 *
 * @module
 */

import { readWithin } from "./_read_timeouts.ts";
import { type ServerCounters, UNCOUNTED } from "./_counters.ts";
import { ByteFinder } from "./_find_byte.ts";

const LF = 0x0a;
const EMPTY = new Uint8Array(0);

/** A read called while another waits for the source. */
function busy(): Deno.errors.Busy {
  return new Deno.errors.Busy(
    "Cannot read: another read of this rfile is waiting for data; await it before reading again",
  );
}

/** Spans up to this many bytes are searched byte by byte. */
const SHORT_SPAN = 64;

/** The reader's timeouts, read at each refill (a handler may change them). */
interface Timeouts {
  readonly timeout: number | null;
  readonly idleTimeout: number | null;
  readonly requestTimeout: number | null;
}

/** A reader's source: `BufferedReader`'s `ByteSource`. */
interface Source {
  read(p: Uint8Array): Promise<number | null>;
}

/** Bytes `buf[start, end)` are buffered; what was handed out is never written again. */
export class ReadBuffer {
  buf: Uint8Array<ArrayBuffer>;
  start = 0;
  end = 0;
  /** `buf[0, lent)` may be held by the caller: it is never written again. */
  lent = 0;
  /** `buf[start, scanned)` holds no newline (when `scanned > start`). */
  scanned = 0;
  eof = false;
  /** The source read in flight: awaited by one call, or left by one that gave up for the next. */
  pending: Promise<number | null> | null = null;
  /** A call awaits `pending` (until `filled()` or `abandon()`): another that must wait is refused. */
  waiting = false;
  /** When the current call's first byte came, or -1: `requestTimeout` counts from it. */
  began = -1;
  /** Where the bytes read are counted: a server's, in its handlers' `rfile`. */
  counters: ServerCounters = UNCOUNTED;
  /** What a read from the source waits for first, if anything (`wfile`'s backlog). */
  gate: (() => Promise<void> | null) | null = null;
  /** The length of the last record lent: a new buffer holds two such. */
  #lastLine = 0;
  /** The size of a new buffer; a longer record grows one beyond it. */
  readonly bufferSize: number;
  readonly #source: Source | null;
  readonly #timeouts: Timeouts;
  /** Made at the first search of a long span. */
  #finder: ByteFinder | null = null;

  /** A buffer of `bufferSize` bytes over `source` (`null`: bytes set by the reader). */
  constructor(source: Source | null, timeouts: Timeouts, bufferSize: number) {
    this.#source = source;
    this.#timeouts = timeouts;
    this.bufferSize = bufferSize;
    this.buf = new Uint8Array(bufferSize);
    if (source === null) this.eof = true;
  }

  /** `buf[start, stop)` for `read()`: copied past a quarter of `bufferSize`. */
  take(stop: number): Uint8Array<ArrayBuffer> {
    if (this.#source === null || stop - this.start > this.bufferSize >> 2) {
      const start = this.start;
      this.start = stop;
      return this.buf.slice(start, stop);
    }
    return this.lend(stop);
  }

  /** Lends `buf[start, stop)`: a view, never written again. */
  lend(stop: number): Uint8Array<ArrayBuffer> {
    const start = this.start;
    this.start = this.lent = stop;
    return this.buf.subarray(start, stop);
  }

  /** Hands out everything buffered: a fresh empty array when nothing is. */
  takeRest(): Uint8Array<ArrayBuffer> {
    return this.start === this.end ? EMPTY.slice() : this.take(this.end);
  }

  /** Hands out a record: lent (its size remembered), or copied when the bytes are not ours. */
  hand(stop: number): Uint8Array<ArrayBuffer> {
    if (this.#source === null) return this.take(stop);
    this.#lastLine = stop - this.start;
    return this.lend(stop);
  }

  /** The first `byte` (a newline by default) in `buf[from, end)`, or -1. */
  find(from: number, end: number, byte: number = LF): number {
    const buf = this.buf;
    if (end - from <= SHORT_SPAN) {
      for (let i = from; i < end; i++) if (buf[i] === byte) return i;
      return -1;
    }
    return (this.#finder ??= new ByteFinder()).find(buf, from, end, byte);
  }

  /** Where the first `delim` (of 2 bytes or more) starting in `buf[from,
   * stop)` starts, or -1. */
  findSequence(from: number, stop: number, delim: Uint8Array): number {
    return (this.#finder ??= new ByteFinder()).findSequence(this.buf, delim, from, stop);
  }

  /** Reads once more into the buffer (see `read()`); false at EOF. */
  async fill(need: number, cap: number = Infinity): Promise<boolean> {
    const read = this.read(need, cap);
    if (read === null) return false;
    let n;
    try {
      n = await read;
    } catch (error) {
      throw this.abandon(error);
    }
    return this.filled(n);
  }

  /** Starts one read (or picks up a pending one) with room for `need` bytes; null at EOF. Bytes
   * before `lent` are the caller's, so data moves down to `lent` or to a new buffer (≤ `cap`). A
   * second caller before `filled()` / `abandon()` is refused: both would record the same bytes. */
  read(need: number, cap: number = Infinity): Promise<number | null> | null {
    if (this.eof) return null;
    if (this.waiting) throw busy();
    this.waiting = true;
    if (this.pending === null) {
      let buf = this.buf;
      const base = this.lent;
      if (this.start === this.end) this.start = this.end = this.scanned = base;
      const live = this.end - this.start;
      const want = Math.max(need - live, base === 0 ? 1 : buf.length >> 2);
      if (buf.length - this.end < want) {
        if (buf.length - base - live >= want) {
          buf.copyWithin(base, this.start, this.end);
          this.#rebase(base);
        } else {
          const size = need > buf.length
            ? Math.max(need, Math.min(buf.length * 2, cap))
            : Math.max(this.bufferSize, need, Math.min(this.#lastLine * 2, cap));
          buf = this.#moveTo(new Uint8Array(size));
        }
      }
      const into = this.end === 0 ? buf : buf.subarray(this.end);
      const gate = this.gate === null ? null : this.gate();
      this.pending = gate === null
        ? this.#source!.read(into)
        : gate.then(() => this.#source!.read(into));
    }
    return this.wait(this.pending, this.end - this.start);
  }

  /** Moves the buffered bytes to the start of `buf`, the new buffer. */
  #moveTo(buf: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
    buf.set(this.buf.subarray(this.start, this.end));
    this.buf = buf;
    this.lent = 0;
    this.#rebase(0);
    return buf;
  }

  /** Moves the offsets after the buffered bytes moved to `to`. */
  #rebase(to: number): void {
    const shift = this.start - to;
    this.scanned = this.scanned > this.start ? this.scanned - shift : to;
    this.end -= shift;
    this.start = to;
  }

  /** Records the outcome of a read started by `read()`: false at EOF. */
  filled(n: number | null): boolean {
    this.waiting = false;
    this.pending = null;
    if (n === null) {
      this.eof = true;
      return false;
    }
    this.end += n;
    this.counters.bytesRead += n;
    return true;
  }

  /** Gives up the wait on `pending`, leaving its bytes to the next call; returns `error`. */
  abandon<E>(error?: E): E | undefined {
    this.waiting = false;
    return error;
  }

  /** `abandon(error)`, then throws it: a rejection handler, made once. */
  get rethrow(): (error: unknown) => never {
    return this.#rethrow ??= (error) => {
      throw this.abandon(error);
    };
  }
  #rethrow: ((error: unknown) => never) | undefined;

  /** `read1()` for `readable`; a read that settles after `stop` is left to the reader's next call. */
  async streamChunk(stop: AbortSignal): Promise<Uint8Array<ArrayBuffer>> {
    this.began = -1;
    if (this.end === this.start) {
      const read = this.read(1);
      if (read === null) return EMPTY.slice();
      const abandon = () => void this.abandon();
      stop.addEventListener("abort", abandon);
      let n;
      try {
        n = await read;
      } catch (error) {
        if (stop.aborted) return EMPTY.slice();
        throw this.abandon(error);
      } finally {
        stop.removeEventListener("abort", abandon);
      }
      if (stop.aborted || !this.filled(n)) return EMPTY.slice();
    }
    return this.take(this.end);
  }

  /** A read bounded by the timeouts (`have` bytes in: the request has begun). */
  wait(read: Promise<number | null>, have: number): Promise<number | null> {
    const t = this.#timeouts;
    if (t.timeout === null && t.idleTimeout === null && t.requestTimeout === null) return read;
    if (have > 0 && this.began < 0) this.began = performance.now();
    return readWithin(read, t, this.began);
  }

  /** Drops the buffer: the reader was closed. */
  close(): void {
    this.eof = true;
    this.buf = EMPTY;
    this.#finder = null;
    this.start = this.end = 0;
    this.lent = this.scanned = 0;
  }
}
