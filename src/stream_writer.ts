/**
 * {@linkcode StreamWriter}: the handlers' `wfile`.
 *
 * @module
 */

import { TimeoutError } from "./errors.ts";
import { type ServerCounters, UNCOUNTED } from "./_counters.ts";
import { Backlog } from "./_backlog.ts";
import { deadline } from "./_deadline.ts";
import { notBytesError } from "./_format.ts";
import {
  kBacklog,
  kCounters,
  kFinishWrites,
  kHoldOpen,
  kInFlight,
  kReportLost,
  kStopWrites,
  kWriteSync,
} from "./_symbols.ts";
import type { FrameOptions } from "./framing.ts";
import { writeFrame } from "./_framing.ts";
import { writableOf } from "./_web_streams.ts";

/**
 * Where a {@linkcode StreamWriter} sends bytes: a `Deno.Conn`, or anything with its `write()`.
 *
 * @example A sink that takes everything
 * ```ts
 * import { type ByteSink, StreamWriter } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const sink: ByteSink = { write: (p) => Promise.resolve(p.length) };
 * assert.equal(await new StreamWriter(sink).write("hello"), 5);
 * ```
 */
export interface ByteSink {
  /** Writes some of `p`; resolves to the number of bytes written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the sink, cancelling a write in flight (after a write timeout). */
  close?(): void;
}

const EMPTY = new Uint8Array(0);
const ignore = () => {};
const encoder = new TextEncoder();

/** A write to a closed writer: rejected but marked handled, so an unawaited one (a broadcast to a
 * member who just left) does not end the process. */
function closedWrite(): Promise<never> {
  const error = new Deno.errors.BadResource(
    "Cannot write to a closed wfile: write before finish() runs",
  );
  lostWrites.set(error, null);
  watchRejections();
  return Promise.reject(error);
}

/** Deno says only "Bad resource ID": this says what closes a handler's connection unasked. */
function explained(error: unknown): unknown {
  if (!(error instanceof Deno.errors.BadResource) || error.message !== "Bad resource ID") {
    return error;
  }
  return new Deno.errors.BadResource(
    "Cannot write: the connection is closed, by a close() or by its readable stream, which Deno closes at its end: read this.rfile.readable rather than this.request.readable",
    { cause: error },
  );
}

/** A sink with {@linkcode kWriteSync}. */
interface SyncSink extends ByteSink {
  [kWriteSync](p: Uint8Array): number;
}

/** Failed writes' errors to their writer (for `kReportLost`), or `null` for a closed writer's
 * refusals, which nobody needs told. */
const lostWrites = new WeakMap<object, StreamWriter | null>();
let watchingRejections = false;

function watchRejections(): void {
  if (watchingRejections) return;
  watchingRejections = true;
  globalThis.addEventListener("unhandledrejection", onUnhandledRejection);
}

/** Takes the unhandled rejections of unawaited writes, which would end the process. */
function onUnhandledRejection(event: PromiseRejectionEvent): void {
  const reason = event.reason;
  if (reason === null || typeof reason !== "object") return;
  const writer = lostWrites.get(reason);
  if (writer === undefined) return;
  event.preventDefault();
  if (writer !== null) reportLost(writer, reason);
}

/** Gives `writer`'s `kReportLost` a failure no caller observed, once per connection. */
function reportLost(writer: StreamWriter, error: unknown): void {
  const report = writer[kReportLost];
  if (report === undefined || reportedWriters.has(writer)) return;
  reportedWriters.add(writer);
  report(error);
}
const reportedWriters = new WeakSet<StreamWriter>();

/** Closes `sink` to cancel a send that timed out; it may be closed already. */
function closeSink(sink: ByteSink): void {
  try {
    sink.close?.();
  } catch {
    // closed already
  }
}

/**
 * Options of a {@linkcode StreamWriter}.
 *
 * @example
 * ```ts
 * import { StreamWriter } from "@x/socketserver";
 *
 * const wfile = new StreamWriter({ write: (p) => Promise.resolve(p.length) }, { bufferSize: 1024 });
 * await wfile.write("collected until flush()");
 * await wfile.flush();
 * ```
 */
export interface StreamWriterOptions {
  /** Python's `wbufsize`: 0 sends every `write()` at once; more collects writes until that many
   * bytes wait, `flush()`, or the handler's end.
   * @default {0} */
  bufferSize?: number;
  /** {@linkcode StreamWriter.timeout}.
   * @default {null} */
  timeout?: number | null;
}

/**
 * The handlers' `wfile`: `write()` sends all it is given, in call order, and resolves once the
 * kernel has the bytes. A failed send fails every later write at once; in a handler, a failure no
 * caller awaited goes to `handleDrop()` instead of ending the process.
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
   * How long one write (or flush) may take, in ms, as Python's `sendall()` counts; `null`: for ever.
   * One that runs out rejects with {@linkcode TimeoutError} and closes the sink, as part may be sent.
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
  /** The first send's error (or the timeout's): every later or queued write
   * rejects with it at once instead of trying the dead connection again. */
  #failure: unknown = null;
  /** `serverClose()` owns the connection: a timed-out write leaves closing it to the lingering close. */
  #stopped = false;
  /** The latest buffered write waiting for a flush: later ones queue behind it. */
  #queued: Promise<unknown> | null = null;
  #queuedCount = 0;
  #backlog = new Backlog(); // the writes waiting their turn, which hold `rfile` back
  /** Deno's send under a timed-out write: the descriptor is busy until it ends. */
  #abandoned: Promise<void> | null = null;
  #sync: SyncSink | null;
  /** @ignore Internal: reports a failure no caller observed. */
  [kReportLost]?: (error: unknown) => void;
  /** Where the bytes the sink took are counted: a server's, in its handlers' `wfile`. */
  #counters: ServerCounters = UNCOUNTED;
  /** The bytes `#start()` sends, for `#onWritten()`. */
  #current: Uint8Array = EMPTY;
  // Bound on the first send, not per writer: a datagram's writer never sends.
  #written: ((n: number) => number | Promise<number>) | undefined;
  #failed: ((error: unknown) => never) | undefined;

  /** Creates a writer to `sink`, usually a `Deno.Conn`. */
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
    return this.#used === 0 && this.#inFlight === 0 && this.#queued === null;
  }

  /**
   * Sends `data` (a string is sent as UTF-8).
   *
   * @throws {Deno.errors.BadResource} The writer is closed.
   * @throws {TimeoutError} This write, or an earlier one, ran out of `timeout`.
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
    if (this.#closed) return closedWrite();
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (!(bytes instanceof Uint8Array)) return Promise.reject(notBytesError("wfile.write()", data));
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
    while (this.#queued !== null) await this.#queued.then(ignore, ignore);
    await this.#flushNow();
  }

  async #flushNow(): Promise<void> {
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
   * Sends `payload` as one length-prefixed frame, as `rfile.readFrame(options)` reads it; resolves
   * to the bytes sent, length field included.
   *
   * @throws {RangeError} The payload is over `maxFrameLength`, or its length does not fit the field.
   * @throws {TypeError} The options are ones `readFrame()` refuses, or the payload is neither bytes nor a string.
   *
   * @example
   * ```ts
   * import { StreamWriter } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const sent: number[] = [];
   * const wfile = new StreamWriter({ write: (p) => (sent.push(...p), Promise.resolve(p.length)) });
   * await wfile.writeFrame("hi", { lengthBytes: 2 });
   * assert.deepEqual(sent, [0, 2, 104, 105]);
   * ```
   */
  writeFrame(payload: Uint8Array | string, options?: FrameOptions): Promise<number> {
    return writeFrame(this, payload, options);
  }

  /**
   * The writer as a `WritableStream` of `write()`s, each taken once the last is sent. Closing it
   * flushes but leaves the connection open, as `pipeTo()` does at its end. The same stream at every
   * access.
   *
   * @example
   * ```ts
   * import { StreamWriter } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * let text = "";
   * const sink = { write: (p: Uint8Array) => (text += new TextDecoder().decode(p), Promise.resolve(p.length)) };
   * await ReadableStream.from(["a", "b"]).pipeThrough(new TextEncoderStream())
   *   .pipeTo(new StreamWriter(sink).writable);
   * assert.equal(text, "ab");
   * ```
   */
  get writable(): WritableStream<Uint8Array> {
    return writableOf(this);
  }

  /**
   * Marks the writer closed; later writes fail. Neither flushes nor closes the sink.
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

  /** @ignore Internal: `finish()`'s flush, failure ignored as Python's; a failure of writes left in
   * flight is reported, since waiting here hides it. */
  async [kFinishWrites](): Promise<void> {
    if (this.#inFlight > 0 || this.#queued !== null) {
      while (this.#queued !== null) await this.#queued.then(ignore, ignore);
      await this.#last?.then(ignore, ignore);
      if (this.#failure !== null) reportLost(this, this.#failure);
    }
    await this.#flushNow().catch(ignore);
  }

  /** @ignore Internal: where the bytes written are counted (a server's `stats()`). */
  set [kCounters](counters: ServerCounters) {
    this.#counters = counters;
  }

  /** @ignore Internal: the end of the writes in flight, if any. */
  [kInFlight](): Promise<void> | null {
    const last = this.#inFlight > 0 ? this.#last!.then(ignore, ignore) : null;
    const abandoned = this.#abandoned;
    if (abandoned === null) return last;
    return last === null ? abandoned : Promise.all([last, abandoned]).then(ignore);
  }

  /** @ignore Internal: settles once the writes waiting their turn fit in `BACKLOG_LIMIT` bytes;
   * `null` if they do: `rfile` waits for it before reading on, as Python's blocking write holds
   * the handler back. */
  [kBacklog](): Promise<void> | null {
    return this.#backlog.wait();
  }

  /** @ignore Internal: see `holdOpen()`. */
  [kHoldOpen](): void {
    this.#stopped = true;
  }

  /** @ignore Internal: see `stopWrites()`; buffered writes that resolved still go out. */
  [kStopWrites](error: Error): Promise<void> | null {
    this.#stopped = true;
    if (this.#used > 0 && this.#failure === null) {
      const bytes = this.#buf!.slice(0, this.#used);
      this.#used = 0;
      this.#inFlight++;
      const go = () => this.timeout === null ? this.#start(bytes) : this.#startWithin(bytes);
      this.#last = this.#inFlight > 1 ? this.#last!.then(go, go) : go();
    }
    this.#fail(error);
    return this[kInFlight]();
  }

  /** Copied at once when nothing waits and it fits; else queued, so none is reordered. */
  #writeBuffered(bytes: Uint8Array): Promise<number> {
    const size = this.#bufferSize;
    const queued = this.#queued;
    if (queued === null && bytes.length < size && this.#used + bytes.length <= size) {
      (this.#buf ??= new Uint8Array(size)).set(bytes, this.#used);
      this.#used += bytes.length;
      return Promise.resolve(bytes.length);
    }
    const run = () => {
      this.#backlog.took(bytes.length);
      return this.#writeBufferedInTurn(bytes);
    };
    this.#queuedCount++;
    this.#backlog.add(bytes.length);
    // no handler: an unawaited failure is reported as an unbuffered write's
    return this.#queued = queued === null ? run() : queued.then(run, run);
  }

  async #writeBufferedInTurn(bytes: Uint8Array): Promise<number> {
    try {
      if (this.#closed) return await closedWrite();
      if (this.#failure !== null) throw this.#failure;
      const size = this.#bufferSize;
      if (this.#used + bytes.length > size) await this.#flushNow();
      if (bytes.length >= size) {
        const p = this.#inFlight === 0 ? this.#send(bytes) : this.#after(bytes);
        this.#last = p;
        return await p;
      }
      // the writer may have been closed or stopped while the flush went out
      if (this.#closed) return await closedWrite();
      if (this.#failure !== null) throw this.#failure;
      (this.#buf ??= new Uint8Array(size)).set(bytes, this.#used);
      this.#used += bytes.length;
      return bytes.length;
    } finally {
      if (--this.#queuedCount === 0) this.#queued = null;
    }
  }

  #after(bytes: Uint8Array): Promise<number> {
    this.#inFlight++;
    this.#backlog.add(bytes.length);
    const go = () => {
      this.#backlog.took(bytes.length);
      if (this.#failure !== null) {
        // failed under an earlier write: settle at once, so a long unawaited queue ends in one turn
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

  /** Records a send's failure for later writes, and for `kReportLost` should no caller observe it. */
  #fail(error: unknown): void {
    if (this.#failure === null) this.#failure = error;
    if (this[kReportLost] !== undefined && error !== null && typeof error === "object") {
      lostWrites.set(error, this);
      watchRejections();
    }
  }

  /** `#start()` within `timeout`: then the sink is closed, and later writes, which would follow a
   * partial one, are refused. */
  #startWithin(bytes: Uint8Array): Promise<number> {
    if (this.#timedOut !== null) {
      this.#inFlight--;
      return Promise.reject(this.#timedOut);
    }
    const ms = this.timeout!; // its callers checked
    const started = this.#start(bytes);
    return deadline(started, ms, () => {
      this.#abandoned = started.then(ignore, ignore);
      const error = new TimeoutError(ms, "writeTimeout");
      this.#timedOut = error;
      this.#fail(error);
      if (!this.#stopped) closeSink(this.#sink); // once serverClose() lingers, closing is its job
      throw error;
    });
  }

  /** Starts sending `bytes` (counted in `#inFlight` by the caller): one write settled by
   * `#onWritten()` with no async frame, usually, else `#sendRest()` loops. */
  #start(bytes: Uint8Array): Promise<number> {
    this.#current = bytes;
    let p: Promise<number>;
    try {
      p = this.#sink.write(bytes);
    } catch (failure) {
      return new Promise<number>(() => this.#onFailed(failure)); // rejected with what it throws
    }
    return p.then(
      this.#written ??= this.#onWritten.bind(this),
      this.#failed ??= this.#onFailed.bind(this),
    );
  }

  #onWritten(n: number): number | Promise<number> {
    const bytes = this.#current;
    this.#current = EMPTY;
    this.#counters.bytesWritten += n;
    if (n < bytes.length) return this.#sendRest(bytes, n);
    this.#inFlight--;
    return n;
  }

  #onFailed(failure: unknown): never {
    const error = explained(failure);
    this.#current = EMPTY;
    this.#inFlight--;
    this.#fail(error);
    throw error;
  }

  async #sendRest(bytes: Uint8Array, n: number): Promise<number> {
    try {
      const sink = this.#sink;
      while (n < bytes.length) {
        const wrote = await sink.write(bytes.subarray(n));
        this.#counters.bytesWritten += wrote;
        n += wrote;
      }
      return n;
    } catch (error) {
      this.#fail(error);
      throw error;
    } finally {
      this.#inFlight--;
    }
  }
}
