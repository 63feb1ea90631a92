/**
 * Finding a newline fast: {@linkcode findLF}.
 *
 * @module
 */

const LF = 0x0a;
const LF4 = 0x0a0a0a0a;
const ONES = 0x01010101;
const HIGHS = 0x80808080;

/**
 * The index of the first newline in `buf[from, end)`, or -1, where `words`
 * views the whole memory under `buf`. Past the first word boundary it tests
 * 16 bytes at a time: with `x = word ^ 0x0a0a0a0a`, a word holds a newline
 * iff `(x - 0x01010101) & ~x & 0x80808080` is not 0 (exact, not a
 * heuristic). On a 64 KiB line that is twice as fast as
 * `Uint8Array.prototype.indexOf` (bench/io_bench.ts), which also cannot stop
 * at `end`.
 */
export function findLF(buf: Uint8Array, words: Uint32Array, from: number, end: number): number {
  const offset = buf.byteOffset;
  let i = from;
  while (i < end && ((offset + i) & 3) !== 0) {
    if (buf[i] === LF) return i;
    i++;
  }
  for (; i + 16 <= end; i += 16) {
    const k = (offset + i) >> 2;
    const a = words[k] ^ LF4;
    const b = words[k + 1] ^ LF4;
    const c = words[k + 2] ^ LF4;
    const d = words[k + 3] ^ LF4;
    if ((((a - ONES) & ~a) | ((b - ONES) & ~b) | ((c - ONES) & ~c) | ((d - ONES) & ~d)) & HIGHS) {
      break;
    }
  }
  for (; i < end; i++) if (buf[i] === LF) return i;
  return -1;
}
