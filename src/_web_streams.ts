/**
 * `rfile.readable` and `wfile.writable`: Web Streams over a handler's files
 * rather than over the connection, whose own `readable` closes it at its end
 * (see docs/streams.md).
 *
 * @module
 */

import { kStreamRead } from "./_symbols.ts";

/** What the readable pulls from: `BufferedReader`'s `read1()`, given up
 * when the stream is cancelled. */
interface Reader {
  [kStreamRead](stop: AbortSignal): Promise<Uint8Array<ArrayBuffer>>;
}

/** What the writable writes to: a `StreamWriter`. */
interface Writer {
  write(data: Uint8Array): Promise<number>;
  flush(): Promise<void>;
}

const readables = new WeakMap<Reader, ReadableStream<Uint8Array<ArrayBuffer>>>();
const writables = new WeakMap<Writer, WritableStream<Uint8Array>>();
const ignore = () => {};

/**
 * The reader's one stream: what it has buffered, then each read of the
 * source, as `read1()` returns them. A high-water mark of 0 reads only when
 * a consumer asks, so a slow consumer holds the client back. Ending or
 * cancelling it leaves the connection open: the server closes it. Cancelling
 * it while it waits leaves the read to the reader's next call, bytes and all.
 */
export function readableOf(reader: Reader): ReadableStream<Uint8Array<ArrayBuffer>> {
  let stream = readables.get(reader);
  if (stream === undefined) {
    const cancelled = new AbortController();
    stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
      async pull(controller) {
        const chunk = await reader[kStreamRead](cancelled.signal);
        if (cancelled.signal.aborted) return;
        if (chunk.length === 0) controller.close();
        else controller.enqueue(chunk);
      },
      cancel() {
        cancelled.abort();
      },
    }, { highWaterMark: 0 });
    readables.set(reader, stream);
  }
  return stream;
}

/**
 * The writer's one stream: each chunk a `write()` (so under its timeout),
 * the next taken once it is sent; closing it flushes the writer and leaves
 * the connection open, aborting it leaves both as they are.
 */
export function writableOf(writer: Writer): WritableStream<Uint8Array> {
  let stream = writables.get(writer);
  if (stream === undefined) {
    stream = new WritableStream<Uint8Array>({
      write: (chunk) => writer.write(chunk).then(ignore),
      close: () => writer.flush(),
    });
    writables.set(writer, stream);
  }
  return stream;
}
