/**
 * Fuzz: random inputs cut at random chunk boundaries (one byte at a time in
 * a quarter of the cases), read through `BufferedReader` with random buffer
 * sizes and limits by `readUntil()`, `readExactly()`, `readFrame()` and
 * `frames()` — alone and mixed with `readline()` / `read()` on one reader —
 * always give what a reference splitter working on the whole input gives:
 * the same records, or the documented error with the same partial bytes,
 * the refused bytes still buffered. Every record is kept and checked again
 * at the end: the views the reader lends are never written again. Seeded
 * (`FUZZ_SEED` to vary it) and bounded.
 */
import assert from "node:assert/strict";
import {
  BufferedReader,
  type ByteSource,
  type FrameOptions,
  FrameTooLongError,
  IncompleteReadError,
  LimitOverrunError,
  LineTooLongError,
} from "../mod.ts";
import { seededRandom } from "./_random.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20240917);
const CASES = 800;

function pick<T>(rng: () => number, choices: readonly T[]): T {
  return choices[Math.floor(rng() * choices.length)];
}

/** A source handing out `input` in chunks of 1 to `maxChunk` bytes (at most
 * what the reader asked for), then EOF. */
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

function readerOver(input: Uint8Array, rng: () => number, maxLineLength = 1 << 16) {
  return new BufferedReader(new Chunked(input, rng, pick(rng, [1, 1, 3, 64, 4096])), {
    bufferSize: pick(rng, [1, 2, 16, 1024, 16384]),
    maxLineLength,
    // half the cases go through the timed path; no timer ever fires here
    ...(rng() < 0.5 ? { timeout: 60_000, idleTimeout: 60_000, requestTimeout: 60_000 } : {}),
  });
}

function sameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`${what}: byte ${i} is ${actual[i]}, not ${expected[i]}`);
    }
  }
}

/** Random bytes over a small alphabet that includes the delimiter's bytes,
 * so that partial delimiters and near misses are common. */
function delimitedInput(rng: () => number, delimiter: Uint8Array): Uint8Array {
  const length = pick(rng, [0, 1, 2, 10, 100, 1000, 5000]) + Math.floor(rng() * 50);
  const density = pick(rng, [0, 0.01, 0.1, 0.4]);
  const alphabet = [...delimiter, 0x61, 0x62, 0x0a];
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = rng() < density ? pick(rng, alphabet) : 0x61 + Math.floor(rng() * 26);
  }
  // whole delimiters too, not only their bytes
  for (let i = 0; i + delimiter.length <= length; i += 1 + Math.floor(rng() * 400)) {
    if (rng() < density * 2) out.set(delimiter, i);
  }
  return out;
}

/** The first `delimiter` in `input` at or after `pos`, by brute force. */
function naiveFind(input: Uint8Array, delimiter: Uint8Array, pos: number): number {
  outer: for (let i = pos; i + delimiter.length <= input.length; i++) {
    for (let k = 0; k < delimiter.length; k++) if (input[i + k] !== delimiter[k]) continue outer;
    return i;
  }
  return -1;
}

type Expected =
  | { record: Uint8Array }
  | { overrun: true }
  | { incomplete: Uint8Array; expected: number | null };

/** The reference's `readUntil(delimiter, limit)` at `pos`. */
function modelUntil(
  input: Uint8Array,
  pos: number,
  delimiter: Uint8Array,
  limit: number,
): Expected {
  const i = naiveFind(input, delimiter, pos);
  if (i !== -1) {
    const stop = i + delimiter.length;
    return stop - pos <= limit ? { record: input.subarray(pos, stop) } : { overrun: true };
  }
  if (input.length - pos >= limit) return { overrun: true };
  if (input.length === pos) return { record: input.subarray(pos) };
  return { incomplete: input.subarray(pos), expected: null };
}

const DELIMITERS = ["\0", "\r\n", "\n", "abc", "aab", "\r\n\r\n", "||"].map((d) =>
  new TextEncoder().encode(d)
);

Deno.test(`readUntil() over random inputs, delimiters and chunk boundaries gives the records of splitting the whole input, LimitOverrunError or IncompleteReadError (seed ${SEED})`, async () => {
  for (let c = 0; c < CASES; c++) {
    const rng = seededRandom(SEED + c);
    const delimiter = pick(rng, DELIMITERS);
    const input = delimitedInput(rng, delimiter);
    const limit = pick(rng, [1, 2, 3, 7, 64, 500, 1 << 20]);
    const reader = readerOver(input, rng);
    const asString = rng() < 0.5; // the same delimiter given as text
    const given = asString ? new TextDecoder().decode(delimiter) : delimiter;
    const where = `case ${c} (seed ${SEED + c}, ${input.length} bytes, limit ${limit})`;
    const kept: [Uint8Array, Uint8Array][] = [];
    let pos = 0;
    for (let step = 0; step <= input.length + 1; step++) {
      const expected = modelUntil(input, pos, delimiter, limit);
      if ("overrun" in expected) {
        await assert.rejects(reader.readUntil(given, limit), LimitOverrunError, where);
        sameBytes(await reader.read(), input.subarray(pos), `${where}: rest after the error`);
        break;
      }
      if ("incomplete" in expected) {
        const error = await reader.readUntil(given, limit).catch((e) => e);
        assert.ok(error instanceof IncompleteReadError, `${where}: ${error}`);
        assert.equal(error.expected, null);
        sameBytes(error.partial, expected.incomplete, `${where}: partial`);
        assert.equal((await reader.readUntil(given, limit)).length, 0, `${where}: then EOF`);
        break;
      }
      const record = await reader.readUntil(given, limit);
      sameBytes(record, expected.record, `${where}: record ${step}`);
      if (record.length === 0) break;
      kept.push([record, expected.record]);
      pos += record.length;
    }
    for (const [record, model] of kept) sameBytes(record, model, `${where}: a kept record`);
  }
});

Deno.test(`readExactly() over random inputs and chunk boundaries gives the bytes at each offset, IncompleteReadError with the rest at EOF, and refuses n over its limit with nothing read (seed ${SEED})`, async () => {
  for (let c = 0; c < CASES; c++) {
    const rng = seededRandom(SEED + c);
    const input = delimitedInput(rng, DELIMITERS[0]);
    const reader = readerOver(input, rng);
    const limit = pick(rng, [0, 5, 100, 3000, 1 << 20]);
    const where = `case ${c} (seed ${SEED + c}, ${input.length} bytes, limit ${limit})`;
    const kept: [Uint8Array, Uint8Array][] = [];
    let pos = 0;
    for (;;) {
      const n = pick(rng, [0, 1, 2, 5, 64, 100, 3000, 20000]);
      if (n > limit) {
        await assert.rejects(reader.readExactly(n, limit), LimitOverrunError, where);
        continue; // nothing was read: the same bytes follow
      }
      if (pos + n > input.length) {
        const error = await reader.readExactly(n, limit).catch((e) => e);
        assert.ok(error instanceof IncompleteReadError, `${where}: ${error}`);
        assert.equal(error.expected, n);
        sameBytes(error.partial, input.subarray(pos), `${where}: partial`);
        break;
      }
      const bytes = await reader.readExactly(n, limit);
      sameBytes(bytes, input.subarray(pos, pos + n), `${where}: at ${pos}`);
      kept.push([bytes, input.subarray(pos, pos + n)]);
      pos += n;
      if (n === 0 && rng() < 0.2) break;
    }
    for (const [bytes, model] of kept) sameBytes(bytes, model, `${where}: kept bytes`);
  }
});

/** A random layout of the length field. */
function randomOptions(rng: () => number): Required<Omit<FrameOptions, "lengthAdjustment">> & {
  lengthAdjustment: number;
} {
  const lengthBytes = pick(rng, [1, 2, 4, 8] as const);
  return {
    lengthBytes,
    littleEndian: rng() < 0.5,
    lengthAdjustment: pick(rng, [0, 0, -lengthBytes, 3]),
    maxFrameLength: pick(rng, [0, 10, 255, 1000, 1 << 20]),
  };
}

/** The length field of a reference encoder: DataView, as `struct.pack` writes it. */
function field(value: number, size: number, little: boolean): Uint8Array {
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  if (size === 1) view.setUint8(0, value);
  else if (size === 2) view.setUint16(0, value, little);
  else if (size === 4) view.setUint32(0, value, little);
  else view.setBigUint64(0, BigInt(value), little);
  return out;
}

Deno.test(`readFrame() and frames() over random layouts, frames, cuts and chunk boundaries give the frames written, null or the end at a boundary, IncompleteReadError mid-frame, FrameTooLongError past maxFrameLength (seed ${SEED})`, async () => {
  for (let c = 0; c < CASES; c++) {
    const rng = seededRandom(SEED + c);
    const options = randomOptions(rng);
    const size = options.lengthBytes;
    const capacity = size === 1 ? 255 : 6000;
    const payloads: Uint8Array[] = [];
    const parts: Uint8Array[] = [];
    const count = pick(rng, [0, 1, 3, 20]);
    for (let i = 0; i < count; i++) {
      const length = Math.min(pick(rng, [0, 1, 10, 200, 255, 1000, 5000]), capacity);
      if (length - options.lengthAdjustment < 0) continue;
      if (length - options.lengthAdjustment > (size === 1 ? 255 : 2 ** 32)) continue;
      const payload = new Uint8Array(length).map(() => Math.floor(rng() * 256));
      payloads.push(payload);
      parts.push(field(length - options.lengthAdjustment, size, options.littleEndian), payload);
    }
    const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (whole.set(p, at), at + p.length), 0);
    const cut = rng() < 0.4 ? Math.floor(rng() * (whole.length + 1)) : whole.length;
    const input = whole.subarray(0, cut);
    const reader = readerOver(input, rng);
    const iterate = rng() < 0.3;
    const frames = iterate ? reader.frames(options) : null;
    const where = `case ${c} (seed ${SEED + c}, ${
      JSON.stringify(options)
    }, cut ${cut}/${whole.length})`;
    const kept: [Uint8Array, Uint8Array][] = [];
    const next = async () => {
      if (frames === null) return await reader.readFrame(options);
      const { done, value } = await frames.next();
      return done ? null : value;
    };
    let pos = 0;
    for (const payload of [...payloads, null]) {
      if (payload === null || pos === input.length) {
        assert.equal(await next(), null, `${where}: end at a boundary`);
        break;
      }
      if (pos + size > input.length) {
        const error = await next().catch((e) => e);
        assert.ok(error instanceof IncompleteReadError, `${where}: ${error}`);
        assert.equal(error.expected, size);
        sameBytes(error.partial, input.subarray(pos), `${where}: partial field`);
        break;
      }
      // the length is known once its field is whole: a frame too long is refused before its payload
      if (payload.length > options.maxFrameLength) {
        const error = await next().catch((e) => e);
        assert.ok(error instanceof FrameTooLongError, `${where}: ${error}`);
        assert.equal(error.length, payload.length);
        if (!iterate) sameBytes(await reader.read(), input.subarray(pos), `${where}: rest`);
        break;
      }
      if (pos + size + payload.length > input.length) {
        const error = await next().catch((e) => e);
        assert.ok(error instanceof IncompleteReadError, `${where}: ${error}`);
        assert.equal(error.expected, payload.length);
        sameBytes(error.partial, input.subarray(pos + size), `${where}: partial payload`);
        break;
      }
      const frame = await next();
      assert.ok(frame !== null, `${where}: a frame at ${pos}`);
      sameBytes(frame, payload, `${where}: frame at ${pos}`);
      kept.push([frame, payload]);
      pos += size + payload.length;
    }
    for (const [frame, payload] of kept) sameBytes(frame, payload, `${where}: a kept frame`);
  }
});

Deno.test(`readline(), read(n), readUntil(), readExactly() and readFrame() mixed on one reader over random bytes agree with a reference reading the whole input (seed ${SEED})`, async () => {
  for (let c = 0; c < CASES; c++) {
    const rng = seededRandom(SEED + c);
    const input = delimitedInput(rng, pick(rng, DELIMITERS));
    const lineLimit = pick(rng, [4, 64, 1 << 16]);
    const reader = readerOver(input, rng, lineLimit);
    const where = `case ${c} (seed ${SEED + c}, ${input.length} bytes)`;
    const kept: [Uint8Array, Uint8Array][] = [];
    let pos = 0;
    for (let step = 0; step < 200 && pos < input.length; step++) {
      const op = pick(rng, ["readline", "read", "until", "exactly", "frame"] as const);
      const label = `${where}: ${op} at ${pos}`;
      if (op === "readline") {
        const nl = input.indexOf(0x0a, pos);
        const stop = nl === -1 ? input.length : nl + 1;
        if (stop - pos > lineLimit || (nl === -1 && input.length - pos >= lineLimit)) {
          await assert.rejects(reader.readline(), LineTooLongError, label);
          continue;
        }
        const line = await reader.readline();
        sameBytes(line, input.subarray(pos, stop), label);
        kept.push([line, input.subarray(pos, stop)]);
        pos = stop;
      } else if (op === "read") {
        const n = pick(rng, [1, 7, 100]);
        const bytes = await reader.read(n);
        sameBytes(bytes, input.subarray(pos, pos + n), label);
        pos += bytes.length;
      } else if (op === "until") {
        const delimiter = pick(rng, DELIMITERS);
        const limit = pick(rng, [2, 50, 1 << 16]);
        const expected = modelUntil(input, pos, delimiter, limit);
        if ("overrun" in expected) {
          await assert.rejects(reader.readUntil(delimiter, limit), LimitOverrunError, label);
          continue;
        }
        if ("incomplete" in expected) {
          const error = await reader.readUntil(delimiter, limit).catch((e) => e);
          assert.ok(error instanceof IncompleteReadError, `${label}: ${error}`);
          sameBytes(error.partial, expected.incomplete, label);
          pos = input.length;
          break;
        }
        const record = await reader.readUntil(delimiter, limit);
        sameBytes(record, expected.record, label);
        kept.push([record, expected.record]);
        pos += record.length;
      } else if (op === "exactly") {
        const n = pick(rng, [0, 1, 9, 300]);
        if (pos + n > input.length) {
          await assert.rejects(reader.readExactly(n), IncompleteReadError, label);
          pos = input.length;
          break;
        }
        const bytes = await reader.readExactly(n);
        sameBytes(bytes, input.subarray(pos, pos + n), label);
        kept.push([bytes, input.subarray(pos, pos + n)]);
        pos += n;
      } else {
        const options = { lengthBytes: pick(rng, [1, 2] as const), littleEndian: rng() < 0.5 };
        const size = options.lengthBytes;
        if (pos + size > input.length) {
          await assert.rejects(reader.readFrame(options), IncompleteReadError, label);
          pos = input.length;
          break;
        }
        const view = new DataView(input.buffer, input.byteOffset + pos, size);
        const length = size === 1 ? view.getUint8(0) : view.getUint16(0, options.littleEndian);
        if (pos + size + length > input.length) {
          await assert.rejects(reader.readFrame(options), IncompleteReadError, label);
          pos = input.length;
          break;
        }
        const frame = await reader.readFrame(options);
        const expected = input.subarray(pos + size, pos + size + length);
        sameBytes(frame!, expected, label);
        kept.push([frame!, expected]);
        pos += size + length;
      }
    }
    if (pos === input.length) assert.equal((await reader.read()).length, 0, `${where}: EOF`);
    for (const [got, model] of kept) sameBytes(got, model, `${where}: kept`);
  }
});
