/**
 * Micro-benchmarks of the `rfile` / `wfile` hot paths, over in-memory
 * sources and sinks so that only the library's own work is timed:
 *
 *     deno bench bench/io_bench.ts
 *
 * Each iteration reads a whole 256 KiB input (4,096 lines of 64 bytes, 64
 * lines of 4 KiB, or 4 lines of 64 KiB) delivered in chunks of a given size,
 * or writes 4,096 messages.
 *
 * @module
 */
import { BufferedReader, StreamWriter } from "../mod.ts";

const INPUT = 256 * 1024;

function lines(lineLength: number): Uint8Array {
  const bytes = new Uint8Array(INPUT);
  for (let i = 0; i < INPUT; i++) bytes[i] = (i + 1) % lineLength === 0 ? 0x0a : 0x61 + (i % 26);
  return bytes;
}

const SHORT = lines(64);
const LONG = lines(4096);
const HUGE = lines(65536);

/** A source that hands out `input` in `chunk`-byte reads, resolving at once
 * (like a socket whose data is already in the kernel). */
function source(input: Uint8Array, chunk: number) {
  let at = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (at >= input.length) return Promise.resolve(null);
      const n = Math.min(chunk, p.length, input.length - at);
      p.set(input.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

async function readlines(input: Uint8Array, chunk: number, expect: number): Promise<void> {
  const reader = new BufferedReader(source(input, chunk));
  let count = 0;
  while ((await reader.readline()).length > 0) count++;
  if (count !== expect) throw new Error(`read ${count} lines, expected ${expect}`);
}

/** One benchmark per read size, reading `input`'s lines of `lineLength`. */
function readlineBenches(group: string, input: Uint8Array, lineLength: number, chunks: number[]) {
  for (const chunk of chunks) {
    Deno.bench({
      name: `${group}, ${chunk}-byte reads`,
      group,
      baseline: chunk === 16384,
      fn: async () => await readlines(input, chunk, INPUT / lineLength),
    });
  }
}

readlineBenches("readline 64-byte lines", SHORT, 64, [16, 64, 100, 1024, 4096, 16384, 65536]);
readlineBenches("readline 4 KiB lines", LONG, 4096, [1024, 16384, 65536]);
readlineBenches("readline 64 KiB lines", HUGE, 65536, [16384, 65536]);

Deno.bench({
  name: "Uint8Array indexOf over a 64 KiB line (what the search replaced)",
  group: "readline 64 KiB lines",
  fn() {
    if (HUGE.indexOf(0x0a) !== 65535) throw new Error("no newline");
  },
});

Deno.bench({
  name: "for await (const line of rfile), 64-byte lines, 16 KiB reads",
  group: "readline 64-byte lines",
  async fn() {
    const reader = new BufferedReader(source(SHORT, 16384));
    let count = 0;
    for await (const _ of reader) count++;
    if (count !== INPUT / 64) throw new Error(`read ${count} lines`);
  },
});

Deno.bench({
  name: "read(64), 16 KiB reads",
  group: "read",
  async fn() {
    const reader = new BufferedReader(source(SHORT, 16384));
    while ((await reader.read(64)).length > 0) {
      // drain
    }
  },
});

Deno.bench({
  name: "read1(), 64-byte reads",
  group: "read",
  async fn() {
    const reader = new BufferedReader(source(SHORT, 64));
    while ((await reader.read1()).length > 0) {
      // drain
    }
  },
});

/** A sink that takes everything at once. */
const sink = { write: (p: Uint8Array) => Promise.resolve(p.length) };
const MESSAGE = SHORT.subarray(0, 64);
const BIG = new Uint8Array(64 * 1024);

Deno.bench({
  name: "wfile.write(64 bytes) × 4096, awaited",
  group: "wfile",
  baseline: true,
  async fn() {
    const wfile = new StreamWriter(sink);
    for (let i = 0; i < 4096; i++) await wfile.write(MESSAGE);
  },
});

Deno.bench({
  name: "wfile.write(64-char string) × 4096, awaited",
  group: "wfile",
  async fn() {
    const wfile = new StreamWriter(sink);
    const text = "x".repeat(63) + "\n";
    for (let i = 0; i < 4096; i++) await wfile.write(text);
  },
});

Deno.bench({
  name: "wfile.write(64 bytes) × 4096, not awaited, then flush()",
  group: "wfile",
  async fn() {
    const wfile = new StreamWriter(sink);
    for (let i = 0; i < 4096; i++) wfile.write(MESSAGE);
    await wfile.flush();
  },
});

Deno.bench({
  name: "wfile.write(64 bytes) × 4096, wbufsize 8192",
  group: "wfile",
  async fn() {
    const wfile = new StreamWriter(sink, { bufferSize: 8192 });
    for (let i = 0; i < 4096; i++) await wfile.write(MESSAGE);
    await wfile.flush();
  },
});

Deno.bench({
  name: "wfile.write(64 KiB) × 64, awaited",
  group: "wfile big",
  async fn() {
    const wfile = new StreamWriter(sink);
    for (let i = 0; i < 64; i++) await wfile.write(BIG);
  },
});
