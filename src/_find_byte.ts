/**
 * Finding a byte fast — a newline for `readline()`, a delimiter for
 * `readUntil()`: {@linkcode ByteFinder}.
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

/** Whether the first byte of a word is its lowest: then a word's match
 * mask says which of its bytes matched first. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The first `i` in `[from, stop)` where `buf` holds `delim` (`buf[i +
 * delim.length - 1]` must exist for every such `i`), or -1. As `findByte()`
 * for its first byte, but each candidate is compared here and the search
 * goes on in the same 16 bytes: in an HTTP head a `\r` ends every line, and
 * a call per candidate cost more than the search (bench/README.md).
 */
function findSequence(
  buf: Uint8Array,
  words: Uint32Array,
  delim: Uint8Array,
  from: number,
  stop: number,
): number {
  const offset = buf.byteOffset;
  const first = delim[0];
  const size = delim.length;
  const pattern = (first * ONES) | 0;
  let i = from;
  for (;;) {
    for (; i < stop && ((offset + i) & 3) !== 0; i++) {
      if (buf[i] === first && rest(buf, i, delim, size)) return i;
    }
    for (; i + 16 <= stop; i += 16) {
      const k = (offset + i) >> 2;
      const a = words[k] ^ pattern;
      const b = words[k + 1] ^ pattern;
      const c = words[k + 2] ^ pattern;
      const d = words[k + 3] ^ pattern;
      if ((((a - ONES) & ~a) | ((b - ONES) & ~b) | ((c - ONES) & ~c) | ((d - ONES) & ~d)) & HIGHS) {
        break;
      }
    }
    if (i + 16 > stop) break;
    // these 16 bytes hold `first`: each of its candidates compared in turn
    for (const end = i + 16; i < end; i += 4) {
      if (!LITTLE_ENDIAN) {
        for (let at = i; at < i + 4; at++) {
          if (buf[at] === first && rest(buf, at, delim, size)) return at;
        }
        continue;
      }
      // flagged: every byte that matches, perhaps a byte above one; the
      // lowest flag is the first byte in memory
      const x = words[(offset + i) >> 2] ^ pattern;
      let hits = (x - ONES) & ~x & HIGHS;
      while (hits !== 0) {
        const at = i + ((31 - Math.clz32(hits & -hits)) >> 3);
        if (buf[at] === first && rest(buf, at, delim, size)) return at;
        hits &= hits - 1;
      }
    }
  }
  for (; i < stop; i++) if (buf[i] === first && rest(buf, i, delim, size)) return i;
  return -1;
}

/** Whether `buf[i + 1, i + size)` is `delim[1, size)`. */
function rest(buf: Uint8Array, i: number, delim: Uint8Array, size: number): boolean {
  for (let k = 1; k < size; k++) if (buf[i + k] !== delim[k]) return false;
  return true;
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

  /** The first `delim` (2 bytes or more) starting in `buf[from, stop)`,
   * wholly before `stop + delim.length - 1`, or -1. */
  findSequence(buf: Uint8Array, delim: Uint8Array, from: number, stop: number): number {
    if (this.#of !== buf) {
      this.#words = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
      this.#of = buf;
    }
    return findSequence(buf, this.#words, delim, from, stop);
  }
}
