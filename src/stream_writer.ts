/**
 * {@linkcode StreamWriter}: the handlers' `wfile`.
 *
 * @module
 */

import { TimeoutError } from "./errors.ts";
import { deadline } from "./_deadline.ts";
import { kInFlight, kReportLost, kStopWrites, kWriteSync } from "./_symbols.ts";

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

const EMPTY = new Uint8Array(0);
const ignore = () => {};
const encoder = new TextEncoder();

/** A sink with {@linkcode kWriteSync}. */
interface SyncSink extends ByteSink {
  [kWriteSync](p: Uint8Array): number;
}

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
    return deadline(this.#start(bytes), ms, () => {
      const error = new TimeoutError(ms, "writeTimeout");
      this.#timedOut = error;
      this.#fail(error);
      // once serverClose() lingers on the connection, closing it is its job
      if (!this.#stopped) {
        try {
          this.#sink.close?.();
        } catch {
          // closed already
        }
      }
      throw error;
    });
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
