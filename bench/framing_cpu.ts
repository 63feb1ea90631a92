/**
 * The same comparison as bench/framing_bench.ts — `rfile`'s framing readers
 * against `readline()` on 256 KiB of records of one length — timed in CPU
 * time rather than wall time, and interleaved: each round runs every reader
 * in turn, in a new order each round, and the median round is reported. On a
 * shared machine `deno bench`'s wall-clock means swing by 50 % between runs
 * (the process waits for a core); CPU time per round does not.
 *
 *     deno run -R bench/framing_cpu.ts [record length: 64 | 4096] [rounds: 40] [read size: 16384] [baseline]
 *
 * The read size is how many bytes each read of the source gives: 16384
 * (the buffer's size), 1460 (a TCP segment), 1 (a client that sends one
 * byte at a time). Besides the records of one length, it reads HTTP-like
 * header blocks of `record` bytes (32-byte lines ending in `\r\n`, the block
 * in `\r\n\r\n`) with `readUntil("\r\n\r\n")`, and `key:value\r\n` pairs
 * with two delimiters in turn. In a head a `\r` ends every line, and each
 * one is compared with the delimiter: the same delimiter over records where
 * `\r` comes only at their end, as `\n` does in readline()'s, is its fair
 * match against `readline()`.
 *
 * A baseline, the path of another copy's `mod.ts` (`/work/main/mod.ts`),
 * runs each reader of that copy too, next to this one's in the same process
 * ("[base]", its ratio against the baseline's `readline()`): an A/B of a
 * change in one session.
 *
 * Figures in bench/README.md.
 *
 * @module
 */
import process from "node:process";
import { BufferedReader } from "../mod.ts";

const INPUT = 256 * 1024;
const record = Number(Deno.args[0] ?? 64);
const rounds = Number(Deno.args[1] ?? 40);
const CHUNK = Number(Deno.args[2] ?? 16 * 1024);
// passes over the input per reader and round: fewer for small reads, each
// of which costs a promise
const REPS = CHUNK >= 1024 ? 20 : CHUNK >= 64 ? 4 : 1;
const HEADER_LINE = 32;

function delimited(end: number[]): Uint8Array {
  const bytes = new Uint8Array(INPUT);
  for (let at = 0; at < INPUT; at += record) {
    for (let i = 0; i < record - end.length; i++) bytes[at + i] = 0x61 + (i % 26);
    bytes.set(end, at + record - end.length);
  }
  return bytes;
}

function framed(): Uint8Array {
  const bytes = delimited([]);
  const view = new DataView(bytes.buffer);
  for (let at = 0; at < INPUT; at += record) view.setUint32(at, record - 4);
  return bytes;
}

/** Blocks of `record` bytes: lines of `HEADER_LINE` bytes ending in CRLF,
 * the block ending in an empty line, as an HTTP request's head. */
function headerBlocks(): Uint8Array {
  const bytes = new Uint8Array(INPUT);
  for (let at = 0; at < INPUT; at += record) {
    for (let i = 0; i < record - 4; i++) {
      const k = i % HEADER_LINE;
      bytes[at + i] = k === HEADER_LINE - 2 ? 0x0d : k === HEADER_LINE - 1 ? 0x0a : 0x61 + (i % 26);
    }
    bytes.set([0x0d, 0x0a, 0x0d, 0x0a], at + record - 4);
  }
  return bytes;
}

/** Records of `record` bytes alternating "key:" and "value\r\n". */
function pairs(): Uint8Array {
  const bytes = new Uint8Array(INPUT);
  for (let at = 0, k = 0; at < INPUT; at += record, k++) {
    const end = k % 2 === 0 ? [0x3a] : [0x0d, 0x0a];
    for (let i = 0; i < record - end.length; i++) bytes[at + i] = 0x61 + (i % 26);
    bytes.set(end, at + record - end.length);
  }
  return bytes;
}

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

const lines = delimited([0x0a]);
const nul = delimited([0]);
const crlf = delimited([0x0d, 0x0a]);
const crlf2 = delimited([0x0d, 0x0a, 0x0d, 0x0a]);
const frames = framed();
const heads = headerBlocks();
const keyValues = pairs();
const count = INPUT / record;

type Reader = typeof BufferedReader;

function readersOf(Reader: Reader, tag: string): Record<string, () => Promise<number>> {
  return {
    [`readline()${tag}`]: async () => {
      const r = new Reader(source(lines));
      let n = 0;
      while ((await r.readline()).length > 0) n++;
      return n;
    },
    [`readUntil("\\0")${tag}`]: async () => {
      const r = new Reader(source(nul));
      let n = 0;
      while ((await r.readUntil("\0")).length > 0) n++;
      return n;
    },
    [`readUntil("\\r\\n")${tag}`]: async () => {
      const r = new Reader(source(crlf));
      let n = 0;
      while ((await r.readUntil("\r\n")).length > 0) n++;
      return n;
    },
    [`readUntil(":"), ("\\r\\n")${tag}`]: async () => {
      const r = new Reader(source(keyValues));
      let n = 0;
      while ((await r.readUntil(n % 2 === 0 ? ":" : "\r\n")).length > 0) n++;
      return n;
    },
    [`readUntil("\\r\\n\\r\\n")${tag}`]: async () => {
      // its first byte only where it ends, as "\0" and "\n" are in theirs
      const r = new Reader(source(crlf2));
      let n = 0;
      while ((await r.readUntil("\r\n\r\n")).length > 0) n++;
      return n;
    },
    [`readUntil("\\r\\n\\r\\n") heads${tag}`]: async () => {
      const r = new Reader(source(heads), { maxLineLength: Math.max(record, 65536) });
      let n = 0;
      while ((await r.readUntil("\r\n\r\n")).length > 0) n++;
      return n;
    },
    [`readline() heads, line by line${tag}`]: async () => {
      // what http.server does: a line at a time, to the empty one
      const r = new Reader(source(heads));
      let n = 0;
      for (;;) {
        const line = await r.readline();
        if (line.length === 0) break;
        if (line.length === 2) n++;
      }
      return n;
    },
    [`readFrame()${tag}`]: async () => {
      const r = new Reader(source(frames));
      let n = 0;
      while (await r.readFrame() !== null) n++;
      return n;
    },
    [`for await (frames())${tag}`]: async () => {
      const r = new Reader(source(frames));
      let n = 0;
      for await (const _ of r.frames()) n++;
      return n;
    },
    [`readExactly(${record})${tag}`]: async () => {
      const r = new Reader(source(lines));
      for (let i = 0; i < count; i++) await r.readExactly(record);
      return count;
    },
  };
}

const baseline = Deno.args[3];
// each group runs together: a reader, and next to it its baseline
const groups: [string, () => Promise<number>][][] = Object.entries(
  readersOf(BufferedReader, ""),
).map((entry) => [entry]);
if (baseline !== undefined) {
  const { BufferedReader: Base } = await import(baseline);
  Object.entries(readersOf(Base, " [base]")).forEach((entry, i) => groups[i].push(entry));
}

// The groups run in a new order each round (a fixed seed): the heap's
// collections come every few rounds, and in a fixed order they land on the
// same reader each time, which then reads 2-4 × slower in the median
let seed = 17;
const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const names = groups.flat().map(([name]) => name);
const times: Record<string, number[]> = {};
const order = groups.map((_, i) => i);
for (let round = 0; round < rounds + 5; round++) {
  for (let i = order.length - 1; i > 0; i--) {
    const k = Math.floor(random() * (i + 1));
    [order[i], order[k]] = [order[k], order[i]];
  }
  for (const g of order) {
    if (random() < 0.5) groups[g].reverse(); // nor one of a pair always first
    for (const [name, read] of groups[g]) {
      const start = process.cpuUsage();
      for (let i = 0; i < REPS; i++) {
        if (await read() !== count) throw new Error(`${name}: wrong record count`);
      }
      const used = process.cpuUsage(start);
      if (round >= 5) (times[name] ??= []).push((used.user + used.system) / REPS); // µs
    }
  }
}

const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];
console.log(
  `${record}-byte records, 256 KiB in ${CHUNK}-byte reads: CPU µs per pass, median of ${rounds}`,
);
for (const name of names) {
  const m = median(times[name]);
  // a baseline's reader against the baseline's readline()
  const base = median(times[name.endsWith(" [base]") ? "readline() [base]" : "readline()"]);
  console.log(
    `${name.padEnd(38)} ${m.toFixed(0).padStart(7)} µs  ${(m / base).toFixed(2)} × readline()  (${
      (m * 1000 / INPUT).toFixed(2)
    } ns/byte)`,
  );
}
