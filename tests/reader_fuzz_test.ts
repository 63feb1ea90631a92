/**
 * Fuzz: random byte streams, cut at random chunk boundaries, read through
 * `BufferedReader` with random buffer sizes, line limits and mixes of
 * `readline()` / `readline(size)` / `read(n)` / `read1(n)`, always give what a model working on
 * the whole input gives — the same lines as splitting it at `\n`, the same
 * bytes — or the documented `LineTooLongError`, after which the refused
 * bytes are still there. Seeded (`FUZZ_SEED` to vary it) and bounded.
 */
import assert from "node:assert/strict";
import { BufferedReader, type ByteSource, LineTooLongError } from "../mod.ts";
import { seededRandom } from "./_random.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20240605);
const CASES = 1500;
const LF = 0x0a;

function pick<T>(rng: () => number, choices: readonly T[]): T {
  return choices[Math.floor(rng() * choices.length)];
}

/** A source handing out `input` in chunks of random size (at least one
 * byte, at most what the reader asked for), then EOF. */
class Chunked implements ByteSource {
  #pos = 0;
  constructor(readonly input: Uint8Array, readonly rng: () => number, readonly maxChunk: number) {}
  read(p: Uint8Array): Promise<number | null> {
    if (this.#pos >= this.input.length) return Promise.resolve(null);
    const want = 1 + Math.floor(this.rng() * this.maxChunk);
    const n = Math.min(want, p.length, this.input.length - this.#pos);
    p.set(this.input.subarray(this.#pos, this.#pos + n));
    this.#pos += n;
    return Promise.resolve(n);
  }
}

function makeInput(rng: () => number): Uint8Array {
  const length = pick(rng, [0, 1, 2, 10, 100, 1000, 5000]) + Math.floor(rng() * 50);
  const newline = pick(rng, [0, 0.005, 0.05, 0.3, 0.9]);
  const input = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    input[i] = rng() < newline ? LF : Math.floor(rng() * 256);
  }
  return input;
}

/** The model's answer to `readline()` under a `maxLineLength` of `limit` at `pos`. */
function modelLine(
  input: Uint8Array,
  pos: number,
  limit: number,
): { line: Uint8Array } | { tooLong: true } {
  const nl = input.indexOf(LF, pos);
  if (nl !== -1) {
    return nl + 1 - pos <= limit ? { line: input.subarray(pos, nl + 1) } : { tooLong: true };
  }
  // the last line, without a newline: shorter than the limit, or no newline
  // could have come within it
  const rest = input.length - pos;
  return rest === 0 || rest < limit ? { line: input.subarray(pos) } : { tooLong: true };
}

/** The model's answer to `readline(size)` at `pos`: up to and including
 * the first newline within `size` bytes, else the first `size` bytes. */
function modelCut(input: Uint8Array, pos: number, size: number): Uint8Array {
  const stop = Math.min(pos + size, input.length);
  const nl = input.subarray(pos, stop).indexOf(LF);
  return input.subarray(pos, nl === -1 ? stop : pos + nl + 1);
}

function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`${what}: byte ${i} is ${actual[i]}, not ${expected[i]}`);
    }
  }
}

Deno.test(`readline() over random inputs and chunk boundaries yields the lines of splitting the whole input, or LineTooLongError (seed ${SEED})`, async () => {
  for (let c = 0; c < CASES; c++) {
    const rng = seededRandom(SEED + c);
    const input = makeInput(rng);
    const limit = pick(rng, [1, 2, 7, 64, 500, 1 << 20]);
    const reader = new BufferedReader(new Chunked(input, rng, pick(rng, [1, 3, 64, 4096])), {
      bufferSize: pick(rng, [1, 2, 16, 1024, 16384]),
      maxLineLength: limit,
      // half the cases go through the timed path; no timer ever fires here
      ...(rng() < 0.5 ? { timeout: 60_000, idleTimeout: 60_000, requestTimeout: 60_000 } : {}),
    });
    const where = `case ${c} (seed ${SEED + c}, ${input.length} bytes, limit ${limit})`;
    let pos = 0;
    for (let step = 0; step <= input.length + 1; step++) {
      const expected = modelLine(input, pos, limit);
      if ("tooLong" in expected) {
        await assert.rejects(reader.readline(), LineTooLongError, where);
        // the refused bytes are still there
        sameBytes(await reader.read(), input.subarray(pos), `${where}: rest after the error`);
        break;
      }
      const line = await reader.readline();
      sameBytes(line, expected.line, `${where}: line ${step}`);
      if (line.length === 0) break;
      pos += line.length;
    }
  }
});

Deno.test(`BufferedReader's for await yields the lines of splitting the whole input, or throws LineTooLongError, over random inputs and chunk boundaries (seed ${SEED})`, async () => {
  for (let c = 0; c < CASES; c++) {
    const rng = seededRandom(SEED + c);
    const input = makeInput(rng);
    const limit = pick(rng, [1, 2, 7, 64, 500, 1 << 20]);
    const reader = new BufferedReader(new Chunked(input, rng, pick(rng, [1, 3, 64, 4096])), {
      bufferSize: pick(rng, [1, 2, 16, 1024, 16384]),
      maxLineLength: limit,
      ...(rng() < 0.5 ? { timeout: 60_000, idleTimeout: 60_000, requestTimeout: 60_000 } : {}),
    });
    const where = `case ${c} (seed ${SEED + c}, ${input.length} bytes, limit ${limit})`;
    const expected: Uint8Array[] = [];
    let tooLong = false;
    for (let pos = 0; pos < input.length;) {
      const model = modelLine(input, pos, limit);
      if ("tooLong" in model) {
        tooLong = true;
        break;
      }
      expected.push(model.line);
      pos += model.line.length;
    }
    const lines: Uint8Array[] = [];
    const iterate = async () => {
      for await (const line of reader) lines.push(line);
    };
    if (tooLong) await assert.rejects(iterate(), LineTooLongError, where);
    else await iterate();
    assert.equal(lines.length, expected.length, `${where}: lines`);
    lines.forEach((line, i) => sameBytes(line, expected[i], `${where}: line ${i}`));
  }
});

Deno.test(`readline() / readline(size) / read(n) / read1(n) mixed at random read the input exactly as a model does (seed ${SEED})`, async () => {
  for (let c = 0; c < CASES; c++) {
    const rng = seededRandom(SEED * 7 + c);
    const input = makeInput(rng);
    const bufferSize = pick(rng, [1, 3, 16, 1024, 16384]);
    const reader = new BufferedReader(new Chunked(input, rng, pick(rng, [1, 5, 100, 8192])), {
      bufferSize,
      ...(rng() < 0.5 ? { timeout: 60_000, requestTimeout: 60_000 } : {}),
    });
    const where = `case ${c} (seed ${SEED * 7 + c}, ${input.length} bytes, buffer ${bufferSize})`;
    let pos = 0;
    for (let step = 0; step < 400 && pos <= input.length; step++) {
      const op = rng();
      if (op < 0.2) {
        const limit = pick(rng, [1, 4, 50, 1 << 20]);
        const expected = modelLine(input, pos, limit);
        reader.maxLineLength = limit;
        if ("tooLong" in expected) {
          await assert.rejects(reader.readline(), LineTooLongError, `${where}: step ${step}`);
          continue;
        }
        const line = await reader.readline();
        sameBytes(line, expected.line, `${where}: readline at ${pos}`);
        pos += line.length;
        if (line.length === 0) break;
      } else if (op < 0.4) {
        const size = pick(rng, [1, 4, 50, 1 << 20]);
        const line = await reader.readline(size);
        sameBytes(line, modelCut(input, pos, size), `${where}: readline(${size}) at ${pos}`);
        pos += line.length;
        if (line.length === 0) break;
      } else if (op < 0.75) {
        const n = pick(rng, [0, 1, 2, 9, 100, bufferSize + 1, 3000]);
        const got = await reader.read(n);
        sameBytes(
          got,
          input.subarray(pos, Math.min(pos + n, input.length)),
          `${where}: read(${n})`,
        );
        pos += got.length;
      } else {
        const n = pick(rng, [1, 2, 33, 5000]);
        const got = await reader.read1(n);
        if (pos === input.length) {
          assert.equal(got.length, 0, `${where}: read1 at EOF`);
          break;
        }
        assert.ok(got.length >= 1 && got.length <= n, `${where}: read1(${n}) gave ${got.length}`);
        sameBytes(got, input.subarray(pos, pos + got.length), `${where}: read1 at ${pos}`);
        pos += got.length;
      }
    }
    sameBytes(await reader.read(), input.subarray(pos), `${where}: the rest`);
  }
});

Deno.test("readline() at EOF returns the last line intact after the buffer was compacted (found by the fuzz, seed 141685719)", async () => {
  const input = new Uint8Array([24, 105, 227]);
  const reader = new BufferedReader(new Chunked(input, () => 0.99, 3), { bufferSize: 3 });
  assert.deepEqual(await reader.read(1), new Uint8Array([24]));
  // no newline: readline() compacts the buffer to make room, then meets EOF
  assert.deepEqual(await reader.readline(), new Uint8Array([105, 227]));
  assert.equal((await reader.readline()).length, 0);
});
