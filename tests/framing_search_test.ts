/**
 * `readUntil()`'s search for a multi-byte delimiter reads its buffer a word
 * at a time, aligned to the memory under the view: over views that start at
 * any byte offset (a datagram handler's `rfile` is `BufferedReader.from()`
 * of a part of a larger buffer), with delimiters whose bytes recur in the
 * records, it finds what a byte-by-byte search finds. Seeded and bounded.
 */
import assert from "node:assert/strict";
import { BufferedReader } from "../mod.ts";
import { seededRandom } from "./_random.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261207);
const DELIMITERS = ["\r\n\r\n", "\r\n", "aab", "||", "abcabd", "\0\0"].map((d) =>
  new TextEncoder().encode(d)
);

/** The first `delimiter` in `bytes` at or after `pos`, by brute force. */
function naiveFind(bytes: Uint8Array, delimiter: Uint8Array, pos: number): number {
  outer: for (let i = pos; i + delimiter.length <= bytes.length; i++) {
    for (let k = 0; k < delimiter.length; k++) if (bytes[i + k] !== delimiter[k]) continue outer;
    return i;
  }
  return -1;
}

Deno.test(`readUntil() on BufferedReader.from() views at every byte offset finds each multi-byte delimiter where a byte-by-byte search does, its bytes recurring in the records (seed ${SEED})`, async () => {
  const rng = seededRandom(SEED);
  let found = 0;
  for (let c = 0; c < 2000; c++) {
    const delimiter = DELIMITERS[Math.floor(rng() * DELIMITERS.length)];
    const alphabet = [...delimiter, 0x61, 0x62];
    const length = Math.floor(rng() * 300);
    const offset = c % 8;
    // bytes around the view too: a search past its end would find them
    const whole = new Uint8Array(offset + length + Math.floor(rng() * 8));
    for (let i = 0; i < whole.length; i++) whole[i] = alphabet[Math.floor(rng() * alphabet.length)];
    const view = whole.subarray(offset, offset + length);
    const reader = BufferedReader.from(view, { maxLineLength: Infinity });
    const where = `case ${c} (offset ${offset}, ${length} bytes)`;
    let pos = 0;
    for (let i = naiveFind(view, delimiter, pos); i !== -1; i = naiveFind(view, delimiter, pos)) {
      const record = await reader.readUntil(delimiter);
      assert.deepEqual(record, view.slice(pos, i + delimiter.length), `${where} at ${pos}`);
      pos = i + delimiter.length;
      found++;
    }
    if (pos < length) {
      const error = await reader.readUntil(delimiter).catch((e) => e);
      assert.deepEqual(error.partial, view.slice(pos), `${where}: the rest, no delimiter in it`);
    }
  }
  assert.ok(found > 10_000, `only ${found} records: the inputs hold too few delimiters`);
});
