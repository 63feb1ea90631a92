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
/** Payloads up to this size go out in one write with their length field
 * (one send); a longer one is sent after its field, not copied. */
const COALESCE = 64 * 1024;

/** Whether `n` bytes are buffered, reading as needed: false at EOF with
 * fewer. A buffer too small grows by doubling (as for a long line), so the
 * memory a read takes follows the bytes that came, not the length announced. */
async function ensure(b: ReadBuffer, n: number): Promise<boolean> {
  while (b.end - b.start < n) {
    if (!await b.fill(b.end - b.start + 1, n)) return false;
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
  checkCount("readExactly()", "limit", limit);
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

let lastText = "";
let lastBytes: Uint8Array = EMPTY;

/** `readUntil(delimiter, limit)`: the record, delimiter included. */
export async function readUntil(
  b: ReadBuffer,
  delimiter: string | Uint8Array,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  let delim: Uint8Array;
  if (typeof delimiter === "string") {
    // a protocol uses one delimiter: encode it once, not per record
    if (delimiter !== lastText) [lastText, lastBytes] = [delimiter, encoder.encode(delimiter)];
    delim = lastBytes;
  } else if (delimiter instanceof Uint8Array) delim = delimiter;
  else throw new TypeError(`readUntil() takes a string or a Uint8Array, got ${typeof delimiter}`);
  const size = delim.length;
  if (size === 0) throw new TypeError("readUntil() takes a non-empty delimiter");
  checkCount("readUntil()", "limit", limit);
  b.began = -1;
  let scanned = 0; // relative to b.start: no delimiter starts before it
  for (;;) {
    const start = b.start;
    const end = b.end;
    const last = Math.min(end, start + limit);
    const i = size === 1
      ? b.find(start + scanned, last, delim[0])
      : find(b, delim, start + scanned, last);
    if (i !== -1) return b.hand(i + size);
    if (end - start >= limit) {
      throw new LimitOverrunError(
        limit,
        `No delimiter ${
          show(delimiter)
        } within the limit of ${limit} bytes: pass readUntil() a higher limit if the peer is right to send longer records`,
      );
    }
    scanned = Math.max(0, last - start - size + 1);
    if (!await b.fill(end - start + 1, limit)) {
      if (b.start === b.end) return EMPTY.slice();
      throw new IncompleteReadError(b.takeRest(), null);
    }
  }
}

/** The first `delim` wholly in `b.buf[from, last)`, or -1: its first byte
 * found fast, then the rest compared. */
function find(b: ReadBuffer, delim: Uint8Array, from: number, last: number): number {
  const buf = b.buf;
  const size = delim.length;
  const stop = last - size + 1;
  while (from < stop) {
    const i = b.find(from, stop, delim[0]);
    if (i === -1) return -1;
    let k = 1;
    while (k < size && buf[i + k] === delim[k]) k++;
    if (k === size) return i;
    from = i + 1;
  }
  return -1;
}

function show(delimiter: string | Uint8Array): string {
  return typeof delimiter === "string"
    ? JSON.stringify(delimiter)
    : `"${[...delimiter].map((x) => `\\x${x.toString(16).padStart(2, "0")}`).join("")}"`;
}

/** `readFrame(options)`: the payload, or null at EOF before a frame. */
export async function readFrame(
  b: ReadBuffer,
  options: FrameOptions = {},
): Promise<Uint8Array<ArrayBuffer> | null> {
  const size = fieldSize(options);
  const max = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH;
  const adjustment = options.lengthAdjustment ?? 0;
  if (!Number.isSafeInteger(max) || max < 0 || !Number.isSafeInteger(adjustment)) {
    checkCount("readFrame()", "maxFrameLength", max);
    throw new TypeError(`readFrame() takes an integer "lengthAdjustment", got ${adjustment}`);
  }
  b.began = -1;
  if (b.end - b.start < size && !await ensure(b, size)) {
    if (b.end === b.start) return null;
    throw new IncompleteReadError(b.takeRest(), size);
  }
  const length = lengthAt(b.buf, b.start, size, options.littleEndian === true) + adjustment;
  if (length > max) throw new FrameTooLongError(length, max);
  if (length < 0) {
    throw asDrop(
      new RangeError(
        `Frame length field ${
          length - adjustment
        } with "lengthAdjustment" ${adjustment} gives a negative length: the peer sent a bad frame, or "lengthAdjustment" is wrong`,
      ),
    );
  }
  if (b.end - b.start < size + length && !await ensure(b, size + length)) {
    b.start += size;
    throw new IncompleteReadError(b.takeRest(), length);
  }
  b.start += size;
  return b.hand(b.start + length);
}

/** `frames(options)`: each payload until EOF between frames. */
export async function* frames(
  b: ReadBuffer,
  options?: FrameOptions,
): AsyncGenerator<Uint8Array<ArrayBuffer>, void, undefined> {
  for (;;) {
    const frame = await readFrame(b, options);
    if (frame === null) return;
    yield frame;
  }
}

/** `writeFrame(payload, options)` on `writer`: the bytes sent, field included. */
export function writeFrame(
  writer: { write(p: Uint8Array): Promise<number> },
  payload: Uint8Array | string,
  options: FrameOptions = {},
): Promise<number> {
  try {
    const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
    const size = fieldSize(options);
    const max = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH;
    if (bytes.length > max) {
      throw new RangeError(
        `Frame of ${bytes.length} bytes exceeds "maxFrameLength" ${max}: the peer would refuse it; raise the option on both sides`,
      );
    }
    const field = bytes.length - (options.lengthAdjustment ?? 0);
    if (!Number.isSafeInteger(field) || field < 0 || (size < 8 && field >= 2 ** (8 * size))) {
      throw new RangeError(
        `Frame of ${bytes.length} bytes gives a length field of ${field}, which ${size} bytes cannot hold: use a larger "lengthBytes" or check "lengthAdjustment"`,
      );
    }
    const little = options.littleEndian === true;
    if (bytes.length <= COALESCE) {
      const frame = new Uint8Array(size + bytes.length);
      putLength(frame, field, size, little);
      frame.set(bytes, size);
      return writer.write(frame);
    }
    const head = new Uint8Array(size);
    putLength(head, field, size, little);
    return Promise.all([writer.write(head), writer.write(bytes)]).then(([h, p]) => h + p);
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
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(
      `${method} takes an integer "${name}" of 0 or more, got ${
        typeof value === "number" ? value : JSON.stringify(value)
      }`,
    );
  }
}
