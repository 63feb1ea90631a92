/**
 * The same comparison as bench/framing_bench.ts — `rfile`'s framing readers
 * against `readline()` on 256 KiB of records of one length, in 16 KiB reads
 * — timed in CPU time rather than wall time, and interleaved: each round
 * runs every reader in turn, and the median round is reported. On a shared
 * machine `deno bench`'s wall-clock means swing by 50 % between runs (the
 * process waits for a core); CPU time per round does not.
 *
 *     deno run bench/framing_cpu.ts [record length: 64 | 4096] [rounds: 40]
 *
 * Figures in bench/README.md.
 *
 * @module
 */
import process from "node:process";
import { BufferedReader } from "../mod.ts";

const INPUT = 256 * 1024;
const CHUNK = 16 * 1024;
const record = Number(Deno.args[0] ?? 64);
const rounds = Number(Deno.args[1] ?? 40);
const REPS = 20; // passes over the input per reader and round

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
const frames = framed();
const count = INPUT / record;

const readers: Record<string, () => Promise<number>> = {
  "readline()": async () => {
    const r = new BufferedReader(source(lines));
    let n = 0;
    while ((await r.readline()).length > 0) n++;
    return n;
  },
  'readUntil("\\0")': async () => {
    const r = new BufferedReader(source(nul));
    let n = 0;
    while ((await r.readUntil("\0")).length > 0) n++;
    return n;
  },
  'readUntil("\\r\\n")': async () => {
    const r = new BufferedReader(source(crlf));
    let n = 0;
    while ((await r.readUntil("\r\n")).length > 0) n++;
    return n;
  },
  "readFrame()": async () => {
    const r = new BufferedReader(source(frames));
    let n = 0;
    while (await r.readFrame() !== null) n++;
    return n;
  },
  "for await (frames())": async () => {
    const r = new BufferedReader(source(frames));
    let n = 0;
    for await (const _ of r.frames()) n++;
    return n;
  },
  [`readExactly(${record})`]: async () => {
    const r = new BufferedReader(source(lines));
    for (let i = 0; i < count; i++) await r.readExactly(record);
    return count;
  },
};

const times: Record<string, number[]> = {};
for (let round = 0; round < rounds + 5; round++) {
  for (const [name, read] of Object.entries(readers)) {
    const start = process.cpuUsage();
    for (let i = 0; i < REPS; i++) {
      if (await read() !== count) throw new Error(`${name}: wrong record count`);
    }
    const used = process.cpuUsage(start);
    if (round >= 5) (times[name] ??= []).push((used.user + used.system) / REPS); // µs
  }
}

const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1];
const base = median(times["readline()"]);
console.log(
  `${record}-byte records, 256 KiB in 16 KiB reads: CPU µs per pass, median of ${rounds}`,
);
for (const [name, values] of Object.entries(times)) {
  const m = median(values);
  console.log(
    `${name.padEnd(22)} ${m.toFixed(0).padStart(6)} µs  ${(m / base).toFixed(2)} × readline()  (${
      (m * 1000 / INPUT).toFixed(2)
    } ns/byte)`,
  );
}
