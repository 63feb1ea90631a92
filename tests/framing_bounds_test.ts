/**
 * The framing readers' bounds at their extremes: a reader whose
 * `maxLineLength` is `Infinity` (no bound, as `readline()` takes it), an
 * 8-byte length field past what a number holds exactly, and the limit
 * arguments that are refused.
 */
import assert from "node:assert/strict";
import { BufferedReader, FrameTooLongError } from "../mod.ts";

const encoder = new TextEncoder();

Deno.test("readUntil() without a limit on a reader whose maxLineLength is Infinity reads a record past 64 KiB, as readline() does, instead of a TypeError about a limit the caller never passed", async () => {
  const record = "x".repeat(100_000) + "\0";
  const input = encoder.encode(record + record.replace("\0", "\n"));
  const reader = BufferedReader.from(input, { maxLineLength: Infinity });
  assert.equal((await reader.readUntil("\0")).length, 100_001);
  assert.equal((await reader.readline()).length, 100_001);
});

Deno.test("readUntil() and readExactly() take Infinity as their limit, and refuse a negative, fractional or NaN limit with a TypeError that names it", async () => {
  const reader = BufferedReader.from(encoder.encode("abc\0def"));
  assert.equal((await reader.readUntil("\0", Infinity)).length, 4);
  assert.equal((await reader.readExactly(3, Infinity)).length, 3);
  for (const limit of [-1, 1.5, NaN]) {
    await assert.rejects(reader.readUntil("\0", limit), { name: "TypeError", message: /"limit"/ });
    await assert.rejects(reader.readExactly(1, limit), { name: "TypeError", message: /"limit"/ });
  }
});

Deno.test("readFrame() refuses an 8-byte length field above Number.MAX_SAFE_INTEGER with FrameTooLongError, even when a negative lengthAdjustment would bring the rounded length under maxFrameLength", async () => {
  // 2 ** 53 + 1: as a number it rounds to 2 ** 53, and 2 ** 53 - 2 passes the limit
  const field = new Uint8Array(8);
  new DataView(field.buffer).setBigUint64(0, 2n ** 53n + 1n);
  const options = {
    lengthBytes: 8,
    lengthAdjustment: -2,
    maxFrameLength: Number.MAX_SAFE_INTEGER,
  } as const;
  await assert.rejects(BufferedReader.from(field).readFrame(options), FrameTooLongError);
  // the largest exact length still reads as a length
  new DataView(field.buffer).setBigUint64(0, BigInt(Number.MAX_SAFE_INTEGER));
  const error = await BufferedReader.from(field).readFrame({ lengthBytes: 8 }).catch((e) => e);
  assert.ok(error instanceof FrameTooLongError);
  assert.equal(error.length, Number.MAX_SAFE_INTEGER);
});
