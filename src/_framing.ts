/**
 * The readers behind `rfile.readExactly()`, `readUntil()`, `readFrame()` and
 * `frames()`, working on the reader's {@linkcode ReadBuffer}, and the encoder
 * behind `wfile.writeFrame()`. What they return is handed out as lines are:
 * a view lent by the buffer (a copy for `BufferedReader.from()`).
 *
 * @module
 */

import { asDrop, FrameTooLongError, IncompleteReadError, LimitOverrunError } from "./errors.ts";
import { DEFAULT_MAX_FRAME_LENGTH, type FrameOptions } from "./framing.ts";
import type { ReadBuffer } from "./_read_buffer.ts";

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const TWO_32 = 2 ** 32;
/** Spans up to this many bytes are searched byte by byte. */
const SHORT_SPAN = 64;

/** Whether `n` bytes are buffered, reading as needed: false at EOF with
 * fewer. A buffer too small grows by doubling (as for a long line), so the
 * memory a read takes follows the bytes that came, not the length announced.
 * Each read is awaited here, as `readline()` awaits it, not in `b.fill()`:
 * an async function fewer per read of a record that spans several. */
async function ensure(b: ReadBuffer, n: number): Promise<boolean> {
  while (b.end - b.start < n) {
    const read = b.read(b.end - b.start + 1, n);
    if (read === null) return false;
    let got;
    try {
      got = await read;
    } catch (error) {
      throw b.abandon(error);
    }
    if (!b.filled(got)) return false;
  }
  return true;
}

/** `readExactly(n)`, no more than `limit`. */
export async function readExactly(
  b: ReadBuffer,
  n: number,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  checkCount("readExactly()", "n", n);
  checkLimit("readExactly()", limit);
  if (n > limit) {
    throw new LimitOverrunError(
      limit,
      `readExactly(${n}) exceeds the limit of ${limit} bytes: pass readExactly() a higher limit if the peer is right to send that many`,
    );
  }
  b.began = -1;
  if (b.end - b.start < n && !await ensure(b, n)) throw new IncompleteReadError(b.takeRest(), n);
  return b.hand(b.start + n);
}

/** The delimiters given as strings, encoded: a protocol uses one or two
 * ("key:value\r\n"), and encoding one per record costs more than the read. */
const encoded = new Map<string, Uint8Array>();
/** Delimiters past this many are encoded per call rather than kept. */
const MAX_ENCODED = 32;
// The last two, compared before the map: a key:value protocol alternates
// two, and comparing a string costs less than a lookup per record
let lastText = "";
let lastBytes: Uint8Array = EMPTY;
let otherText = "";
let otherBytes: Uint8Array = EMPTY;

function encodeDelimiter(text: string): Uint8Array {
  let bytes;
  if (text === otherText) bytes = otherBytes;
  else {
    bytes = encoded.get(text);
    if (bytes === undefined) {
      bytes = encoder.encode(text);
      if (encoded.size < MAX_ENCODED) encoded.set(text, bytes);
    }
  }
  otherText = lastText;
  otherBytes = lastBytes;
  lastText = text;
  return lastBytes = bytes;
}

/** `readUntil(delimiter, limit)`: the record, delimiter included. Checks its
 * arguments, then takes the record at once when buffered: a promise, no
 * async function, per record, as `readline()`. */
export function readUntil(
  b: ReadBuffer,
  delimiter: string | Uint8Array,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  let delim: Uint8Array;
  if (delimiter === lastText) delim = lastBytes;
  else if (typeof delimiter === "string") delim = encodeDelimiter(delimiter);
  else if (delimiter instanceof Uint8Array) delim = delimiter;
  else return Promise.reject(badDelimiter(delimiter));
  if (delim.length === 0) return Promise.reject(badDelimiter(delimiter));
  if (!(limit >= 0 && (Number.isSafeInteger(limit) || limit === Infinity))) {
    return Promise.reject(badLimit("readUntil()", limit));
  }
  b.began = -1;
  const start = b.start;
  const end = b.end;
  const last = end - start < limit ? end : start + limit;
  const i = delim.length === 1 ? b.find(start, last, delim[0]) : find(b, delim, start, last);
  if (i !== -1) return Promise.resolve(b.hand(i + delim.length));
  return untilRead(b, delim, limit, delimiter);
}

/** `readUntil()` once the buffer holds no whole record: reads until it does. */
async function untilRead(
  b: ReadBuffer,
  delim: Uint8Array,
  limit: number,
  delimiter: string | Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
  const size = delim.length;
  for (;;) {
    // no delimiter wholly in the buffered bytes, up to the limit
    const have = b.end - b.start;
    if (have >= limit) {
      throw new LimitOverrunError(
        limit,
        `No delimiter ${
          show(delimiter)
        } within the limit of ${limit} bytes: pass readUntil() a higher limit if the peer is right to send longer records`,
      );
    }
    // awaited here rather than in b.fill(), as in ensure()
    const read = b.read(have + 1, limit);
    let n = null;
    if (read !== null) {
      try {
        n = await read;
      } catch (error) {
        throw b.abandon(error);
      }
    }
    if (read === null || !b.filled(n)) {
      if (b.start === b.end) return EMPTY.slice();
      throw new IncompleteReadError(b.takeRest(), null);
    }
    const start = b.start;
    const end = b.end;
    const from = start + Math.max(0, have - size + 1);
    const last = end - start < limit ? end : start + limit;
    const i = size === 1 ? b.find(from, last, delim[0]) : find(b, delim, from, last);
    if (i !== -1) return b.hand(i + size);
  }
}

/** The first `delim` wholly in `b.buf[from, last)`, or -1. */
function find(b: ReadBuffer, delim: Uint8Array, from: number, last: number): number {
  const size = delim.length;
  const stop = last - size + 1;
  if (stop - from > SHORT_SPAN) return b.findSequence(from, stop, delim);
  // the few bytes a small read added: byte by byte, as ReadBuffer.find()
  const buf = b.buf;
  const first = delim[0];
  for (let i = from; i < stop; i++) {
    if (buf[i] !== first) continue;
    let k = 1;
    while (k < size && buf[i + k] === delim[k]) k++;
    if (k === size) return i;
  }
  return -1;
}

function badDelimiter(delimiter: unknown): TypeError {
  return new TypeError(
    `readUntil() takes a non-empty string or Uint8Array, got ${show(delimiter)}`,
  );
}

function show(delimiter: unknown): string {
  if (typeof delimiter === "number") return String(delimiter); // NaN, not JSON's null
  return delimiter instanceof Uint8Array
    ? `"${[...delimiter].map((x) => `\\x${x.toString(16).padStart(2, "0")}`).join("")}"`
    : JSON.stringify(delimiter) ?? String(delimiter);
}

/** A frame's layout, from `FrameOptions`, checked. */
interface Layout {
  readonly size: 1 | 2 | 4 | 8;
  readonly max: number;
  readonly adjustment: number;
  readonly little: boolean;
}

const DEFAULT_LAYOUT: Layout = {
  size: 4,
  max: DEFAULT_MAX_FRAME_LENGTH,
  adjustment: 0,
  little: false,
};

/** The layout `options` describe, or a TypeError naming `method`: the
 * writer checks them as the reader does, so that it sends no frame the
 * peer's reader, given the same options, would refuse. */
function layoutOf(options: FrameOptions | undefined, method: string): Layout {
  if (options === undefined) return DEFAULT_LAYOUT;
  const size = fieldSize(options);
  const max = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH;
  const adjustment = options.lengthAdjustment ?? 0;
  checkCount(method, "maxFrameLength", max);
  if (!Number.isSafeInteger(adjustment)) {
    throw new TypeError(
      `${method} takes an integer "lengthAdjustment", got ${show(adjustment)}`,
    );
  }
  return { size, max, adjustment, little: options.littleEndian === true };
}

/** The payload's length, once the field is buffered (-1 before); throws
 * when it is refused. */
function lengthOf(b: ReadBuffer, layout: Layout): number {
  if (b.end - b.start < layout.size) return -1;
  const field = lengthAt(b.buf, b.start, layout.size, layout.little);
  // an 8-byte field past 2 ** 53 is not a count a number holds exactly
  if (field > Number.MAX_SAFE_INTEGER) throw new FrameTooLongError(field, layout.max);
  const length = field + layout.adjustment;
  if (length > layout.max) throw new FrameTooLongError(length, layout.max);
  if (length < 0) {
    throw asDrop(
      new RangeError(
        `Frame length field ${field} with "lengthAdjustment" ${layout.adjustment} gives a negative length: the peer sent a bad frame, or "lengthAdjustment" is wrong`,
      ),
      "malformed",
    );
  }
  return length;
}

/** The next payload if its whole frame is buffered, else undefined. */
function bufferedFrame(b: ReadBuffer, layout: Layout): Uint8Array<ArrayBuffer> | undefined {
  b.began = -1;
  const length = lengthOf(b, layout);
  if (length === -1 || b.end - b.start < layout.size + length) return undefined;
  b.start += layout.size;
  return b.hand(b.start + length);
}

/** `readFrame(options)`: the payload, or null at EOF before a frame. Takes
 * a buffered frame at once: a promise, no async function, per frame. */
export function readFrame(
  b: ReadBuffer,
  options?: FrameOptions,
): Promise<Uint8Array<ArrayBuffer> | null> {
  try {
    const layout = layoutOf(options, "readFrame()");
    const frame = bufferedFrame(b, layout);
    return frame !== undefined ? Promise.resolve(frame) : frameRead(b, layout);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** `readFrame()` once the buffer holds no whole frame: reads until it does. */
async function frameRead(b: ReadBuffer, layout: Layout): Promise<Uint8Array<ArrayBuffer> | null> {
  const size = layout.size;
  if (b.end - b.start < size && !await ensure(b, size)) {
    if (b.end === b.start) return null;
    throw new IncompleteReadError(b.takeRest(), size);
  }
  const length = lengthOf(b, layout);
  if (b.end - b.start < size + length && !await ensure(b, size + length)) {
    b.start += size;
    throw new IncompleteReadError(b.takeRest(), length);
  }
  b.start += size;
  return b.hand(b.start + length);
}

/** `frames(options)`: each payload until EOF between frames, or an error.
 * Not an async generator: a buffered frame is the next result at once. */
export function frames(
  b: ReadBuffer,
  options?: FrameOptions,
): AsyncIterableIterator<Uint8Array<ArrayBuffer>> {
  const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
  let ended = false;
  const result = (
    frame: Uint8Array<ArrayBuffer> | null,
  ): IteratorResult<Uint8Array<ArrayBuffer>> => {
    if (frame !== null) return { done: false, value: frame };
    ended = true;
    return done;
  };
  const failed = (error: unknown): never => {
    ended = true;
    throw error;
  };
  let layout: Layout | undefined;
  return {
    next() {
      if (ended) return Promise.resolve(done);
      try {
        layout ??= layoutOf(options, "frames()");
        const frame = bufferedFrame(b, layout);
        if (frame !== undefined) return Promise.resolve({ done: false, value: frame });
        return frameRead(b, layout).then(result, failed);
      } catch (error) {
        ended = true;
        return Promise.reject(error);
      }
    },
    return() {
      ended = true;
      return Promise.resolve(done);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** `writeFrame(payload, options)` on `writer`: the bytes sent, field included. */
export function writeFrame(
  writer: { write(p: Uint8Array): Promise<number> },
  payload: Uint8Array | string,
  options?: FrameOptions,
): Promise<number> {
  try {
    const { size, max, adjustment, little } = layoutOf(options, "writeFrame()");
    let bytes: Uint8Array;
    if (typeof payload === "string") bytes = encoder.encode(payload);
    else if (payload instanceof Uint8Array) bytes = payload;
    else {
      throw new TypeError(
        `writeFrame() takes a Uint8Array or a string payload, got ${show(payload)}`,
      );
    }
    if (bytes.length > max) {
      throw new RangeError(
        `Frame of ${bytes.length} bytes exceeds "maxFrameLength" ${max}: the peer would refuse it; raise the option on both sides`,
      );
    }
    const field = bytes.length - adjustment;
    if (!Number.isSafeInteger(field) || field < 0 || (size < 8 && field >= 2 ** (8 * size))) {
      throw new RangeError(
        `Frame of ${bytes.length} bytes gives a length field of ${field}, which ${size} bytes cannot hold: use a larger "lengthBytes" or check "lengthAdjustment"`,
      );
    }
    // one write, field and payload together: two could let another write
    // between them, or (buffered) after a field that had to wait
    const frame = new Uint8Array(size + bytes.length);
    putLength(frame, field, size, little);
    frame.set(bytes, size);
    return writer.write(frame);
  } catch (error) {
    return Promise.reject(error);
  }
}

function fieldSize(options: FrameOptions): 1 | 2 | 4 | 8 {
  const size = options.lengthBytes ?? 4;
  if (size !== 4 && size !== 2 && size !== 1 && size !== 8) {
    throw new TypeError(`"lengthBytes" is 1, 2, 4 or 8, got ${JSON.stringify(size)}`);
  }
  return size;
}

/** The unsigned length field of `size` bytes at `buf[i]`. */
function lengthAt(buf: Uint8Array, i: number, size: 1 | 2 | 4 | 8, little: boolean): number {
  switch (size) {
    case 1:
      return buf[i];
    case 2:
      return little ? buf[i] | (buf[i + 1] << 8) : (buf[i] << 8) | buf[i + 1];
    case 4:
      return little
        ? (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16)) + buf[i + 3] * 0x1000000
        : buf[i] * 0x1000000 + ((buf[i + 1] << 16) | (buf[i + 2] << 8) | buf[i + 3]);
    case 8: {
      const [hi, lo] = little ? [i + 4, i] : [i, i + 4];
      return lengthAt(buf, hi, 4, little) * TWO_32 + lengthAt(buf, lo, 4, little);
    }
  }
}

/** Writes `value` as the `size`-byte length field at the start of `out`. */
function putLength(out: Uint8Array, value: number, size: 1 | 2 | 4 | 8, little: boolean): void {
  const view = new DataView(out.buffer, out.byteOffset, size);
  if (size === 1) view.setUint8(0, value);
  else if (size === 2) view.setUint16(0, value, little);
  else if (size === 4) view.setUint32(0, value, little);
  else view.setBigUint64(0, BigInt(value), little);
}

function checkCount(method: string, name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw badCount(method, name, value);
}

/** A read's limit: a count, or `Infinity` for none (as `maxLineLength` may be). */
function checkLimit(method: string, value: number): void {
  if (!(value >= 0 && (Number.isSafeInteger(value) || value === Infinity))) {
    throw badLimit(method, value);
  }
}

function badLimit(method: string, value: unknown): TypeError {
  return new TypeError(
    `${method} takes an integer "limit" of 0 or more, or Infinity, got ${
      typeof value === "number" ? value : JSON.stringify(value)
    }`,
  );
}

function badCount(method: string, name: string, value: unknown): TypeError {
  return new TypeError(
    `${method} takes an integer "${name}" of 0 or more, got ${
      typeof value === "number" ? value : JSON.stringify(value)
    }`,
  );
}
