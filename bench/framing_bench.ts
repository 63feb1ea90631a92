/**
 * Micro-benchmarks of `rfile`'s framing readers against `readline()` on
 * inputs of the same size and record length, over an in-memory source so
 * that only the library's own work is timed:
 *
 *     deno bench bench/framing_bench.ts
 *
 * Each iteration reads a whole 256 KiB input of 64-byte or 4 KiB records,
 * delivered in 16 KiB reads: lines ending in `\n` for `readline()`, records
 * ending in `\0` or `\r\n` for `readUntil()`, frames of a 4-byte big-endian
 * length and the rest of the record for `readFrame()` / `frames()`, and
 * fixed records for `readExactly()`. Figures in bench/README.md.
 *
 * @module
 */
import { BufferedReader } from "../mod.ts";

const INPUT = 256 * 1024;
const CHUNK = 16 * 1024;

/** `INPUT` bytes of `record`-byte records, each ending in `end`. */
function delimited(record: number, end: number[]): Uint8Array {
  const bytes = new Uint8Array(INPUT);
  for (let at = 0; at < INPUT; at += record) {
    for (let i = 0; i < record - end.length; i++) bytes[at + i] = 0x61 + (i % 26);
    bytes.set(end, at + record - end.length);
  }
  return bytes;
}

/** `INPUT` bytes of `record`-byte frames: a 4-byte length, then the payload. */
function framed(record: number): Uint8Array {
  const bytes = delimited(record, []);
  const view = new DataView(bytes.buffer);
  for (let at = 0; at < INPUT; at += record) view.setUint32(at, record - 4);
  return bytes;
}

/** A source that hands out `input` in `CHUNK`-byte reads, resolving at once
 * (like a socket whose data is already in the kernel). */
function source(input: Uint8Array) {
  let at = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (at >= input.length) return Promise.resolve(null);
      const n = Math.min(CHUNK, p.length, input.length - at);
      p.set(input.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

function check(count: number, record: number): void {
  if (count !== INPUT / record) {
    throw new Error(`read ${count} records, expected ${INPUT / record}`);
  }
}

for (const record of [64, 4096]) {
  const group = `${record === 64 ? "64-byte" : "4 KiB"} records, 16 KiB reads`;
  const lines = delimited(record, [0x0a]);
  const nul = delimited(record, [0]);
  const crlf = delimited(record, [0x0d, 0x0a]);
  const frames = framed(record);

  Deno.bench({
    name: `readline(), ${group}`,
    group,
    baseline: true,
    async fn() {
      const reader = new BufferedReader(source(lines));
      let count = 0;
      while ((await reader.readline()).length > 0) count++;
      check(count, record);
    },
  });
  Deno.bench({
    name: `readUntil("\\0"), ${group}`,
    group,
    async fn() {
      const reader = new BufferedReader(source(nul));
      let count = 0;
      while ((await reader.readUntil("\0")).length > 0) count++;
      check(count, record);
    },
  });
  Deno.bench({
    name: `readUntil("\\r\\n"), ${group}`,
    group,
    async fn() {
      const reader = new BufferedReader(source(crlf));
      let count = 0;
      while ((await reader.readUntil("\r\n")).length > 0) count++;
      check(count, record);
    },
  });
  Deno.bench({
    name: `readFrame(), ${group}`,
    group,
    async fn() {
      const reader = new BufferedReader(source(frames));
      let count = 0;
      while (await reader.readFrame() !== null) count++;
      check(count, record);
    },
  });
  Deno.bench({
    name: `for await (frames()), ${group}`,
    group,
    async fn() {
      const reader = new BufferedReader(source(frames));
      let count = 0;
      for await (const _ of reader.frames()) count++;
      check(count, record);
    },
  });
  Deno.bench({
    name: `readExactly(${record}), ${group}`,
    group,
    async fn() {
      const reader = new BufferedReader(source(lines));
      let count = 0;
      while (reader.buffered > 0 || count < INPUT / record) {
        await reader.readExactly(record);
        count++;
      }
      check(count, record);
    },
  });
}
