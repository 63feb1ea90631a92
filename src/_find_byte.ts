/**
 * Finding a byte fast — a newline for `readline()`, a delimiter's first byte
 * for `readUntil()`: {@linkcode ByteFinder}.
 *
 * @module
 */

const LF = 0x0a;
const ONES = 0x01010101;
const HIGHS = 0x80808080;

/**
 * The index of the first `byte` in `buf[from, end)`, or -1, where `words`
 * views the whole memory under `buf`. Past the first word boundary it tests
 * 16 bytes at a time: with `x = word ^ (byte * 0x01010101)`, a word holds the
 * byte iff `(x - 0x01010101) & ~x & 0x80808080` is not 0 (exact, not a
 * heuristic); `indexOf()` is slower and cannot stop at `end` (figures in
 * bench/README.md).
 */
function findByte(
  buf: Uint8Array,
  words: Uint32Array,
  byte: number,
  from: number,
  end: number,
): number {
  const offset = buf.byteOffset;
  const pattern = (byte * ONES) | 0;
  let i = from;
  while (i < end && ((offset + i) & 3) !== 0) {
    if (buf[i] === byte) return i;
    i++;
  }
  for (; i + 16 <= end; i += 16) {
    const k = (offset + i) >> 2;
    const a = words[k] ^ pattern;
    const b = words[k + 1] ^ pattern;
    const c = words[k + 2] ^ pattern;
    const d = words[k + 3] ^ pattern;
    if ((((a - ONES) & ~a) | ((b - ONES) & ~b) | ((c - ONES) & ~c) | ((d - ONES) & ~d)) & HIGHS) {
      break;
    }
  }
  for (; i < end; i++) if (buf[i] === byte) return i;
  return -1;
}

/** Searches buffers words at a time, keeping the word view of the last one:
 * a reader makes one at its first search of a long span. */
export class ByteFinder {
  #words: Uint32Array = new Uint32Array(0);
  #of: Uint8Array | null = null;

  /** The index of the first `byte` (a newline by default) in `buf[from, end)`, or -1. */
  find(buf: Uint8Array, from: number, end: number, byte: number = LF): number {
    if (this.#of !== buf) {
      this.#words = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
      this.#of = buf;
    }
    return findByte(buf, this.#words, byte, from, end);
  }
}
