/**
 * The rfile / wfile hot paths as the benchmark work made them: lines handed
 * out as views of the reader's buffer (never overwritten afterwards), the
 * bounded newline search, the plain async iterator, and the writer's
 * ordering. Each test compares against the obvious answer computed another
 * way (splitting the whole input).
 */
import { BufferedReader, LineTooLongError, StreamWriter, TimeoutError } from "../mod.ts";
import assert from "node:assert/strict";
import { seededRandom } from "./_random.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A source handing out `input` in reads whose sizes `size()` picks. */
function chunked(input: Uint8Array, size: () => number) {
  let at = 0;
  return {
    reads: 0,
    read(p: Uint8Array): Promise<number | null> {
      if (at >= input.length) return Promise.resolve(null);
      this.reads++;
      const n = Math.min(Math.max(1, size()), p.length, input.length - at);
      p.set(input.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

/** Random text lines (some empty, some long), the last one maybe unterminated. */
function randomLines(rand: () => number, count: number, longest: number): Uint8Array {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = rand() < 0.1 ? 0 : Math.floor(rand() * longest);
    let line = "";
    for (let j = 0; j < length; j++) line += String.fromCharCode(0x21 + Math.floor(rand() * 90));
    parts.push(line + (i < count - 1 || rand() < 0.5 ? "\n" : ""));
  }
  return encoder.encode(parts.join(""));
}

/** What readline() must return: the input cut after every newline. */
function split(input: Uint8Array): string[] {
  const text = decoder.decode(input);
  const lines = text.split(/(?<=\n)/);
  return lines.filter((line) => line.length > 0);
}

Deno.test("BufferedReader.readline() returns the input cut after each newline, for any read sizes and buffer size", async () => {
  const rand = seededRandom(6);
  for (let round = 0; round < 60; round++) {
    const input = randomLines(rand, 40, round % 3 === 0 ? 300 : 40);
    const maxRead = 1 + Math.floor(rand() * 200);
    const bufferSize = [8, 16, 64, 1024, 16384][round % 5];
    const reader = new BufferedReader(chunked(input, () => Math.ceil(rand() * maxRead)), {
      bufferSize,
    });
    const got: Uint8Array[] = [];
    for (;;) {
      const line = await reader.readline();
      if (line.length === 0) break;
      got.push(line);
    }
    // Decoded only at the end: a line handed out earlier must not have
    // changed under later reads.
    assert.deepEqual(got.map((b) => decoder.decode(b)), split(input), `round ${round}`);
  }
});

Deno.test("BufferedReader: lines, read(n) and read1() results keep their bytes while the reader reads on", async () => {
  const rand = seededRandom(7);
  for (let round = 0; round < 40; round++) {
    const input = randomLines(rand, 60, 80);
    const reader = new BufferedReader(chunked(input, () => Math.ceil(rand() * 300)), {
      bufferSize: 256,
    });
    const parts: Uint8Array[] = [];
    for (;;) {
      const pick = rand();
      const part = pick < 0.6
        ? await reader.readline()
        : pick < 0.8
        ? await reader.read(1 + Math.floor(rand() * 100))
        : await reader.read1(1 + Math.floor(rand() * 100));
      if (part.length === 0) break;
      parts.push(part);
    }
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) (joined.set(part, at), at += part.length);
    assert.deepEqual(joined, input, `round ${round}`);
  }
});

Deno.test("BufferedReader.readline() returns an unterminated last line intact after the buffer moved", async () => {
  // "a\n" then 18 bytes without a newline, in a 20-byte buffer: reading the
  // second line must move it; the core's first version returned it shifted.
  const input = encoder.encode("a\n" + "bcdefghijklmnopqrs");
  const reader = new BufferedReader(chunked(input, () => 20), { bufferSize: 20 });
  assert.equal(decoder.decode(await reader.readline()), "a\n");
  assert.equal(decoder.decode(await reader.readline()), "bcdefghijklmnopqrs");
  assert.equal((await reader.readline()).length, 0);
});

Deno.test("BufferedReader's for await yields what readline() returns, the unterminated last line included", async () => {
  const rand = seededRandom(8);
  for (let round = 0; round < 20; round++) {
    const input = randomLines(rand, 30, 50);
    const reader = new BufferedReader(chunked(input, () => Math.ceil(rand() * 64)), {
      bufferSize: 32,
    });
    const got: string[] = [];
    for await (const line of reader) got.push(decoder.decode(line));
    assert.deepEqual(got, split(input), `round ${round}`);
  }
});

Deno.test("BufferedReader.readline(): a line past the limit throws LineTooLongError and its bytes stay readable", async () => {
  const input = encoder.encode("x".repeat(100) + "\nnext\n");
  const reader = new BufferedReader(chunked(input, () => 7), { bufferSize: 16, maxLineLength: 50 });
  await assert.rejects(reader.readline(), LineTooLongError);
  assert.equal((await reader.read(100)).length, 100);
  assert.equal(decoder.decode(await reader.readline()), "\n");
  assert.equal(decoder.decode(await reader.readline()), "next\n");
});

Deno.test("BufferedReader.readline() accepts a line of exactly the limit, newline included", async () => {
  const input = encoder.encode("y".repeat(63) + "\n");
  const reader = new BufferedReader(chunked(input, () => 10), { bufferSize: 8, maxLineLength: 64 });
  assert.equal((await reader.readline()).length, 64);
});

Deno.test("BufferedReader.readline() finds the newline at every position, alignment and neighbouring byte value", async () => {
  // The search tests 16 bytes at a time with a bit trick on 32-bit words:
  // try every line length around the block sizes, every start alignment,
  // and filler bytes that differ from \n by one bit or have the high bit set.
  const fillers = [0x00, 0x0b, 0x08, 0x8a, 0x0e, 0xff, 0x09, 0x2a];
  const memory = new Uint8Array(512);
  for (let offset = 0; offset < 8; offset++) {
    for (
      const length of [...Array(80).keys()].map((n) => n + 1).concat([127, 128, 129, 200, 255])
    ) {
      for (let i = 0; i < length - 1; i++) {
        memory[offset + i] = fillers[(i + offset) % fillers.length];
      }
      memory[offset + length - 1] = 0x0a;
      for (let i = 0; i < 20; i++) memory[offset + length + i] = fillers[i % fillers.length];
      const bytes = memory.subarray(offset, offset + length + 20);
      const line = await BufferedReader.from(bytes).readline();
      assert.equal(line.length, length, `offset ${offset}, length ${length}`);
    }
  }
});

Deno.test("BufferedReader.readline() reads a 64 KiB line arriving a byte at a time whole", async () => {
  const line = "z".repeat(65535) + "\n";
  const input = encoder.encode(line + "next\n");
  const source = chunked(input, () => 1);
  const reader = new BufferedReader(source, { bufferSize: 64 });
  assert.equal((await reader.readline()).length, 65536);
  assert.equal(decoder.decode(await reader.readline()), "next\n");
  assert.equal(source.reads, input.length);
});

Deno.test("BufferedReader.readline(): long lines handed out whole keep their bytes while later lines are read", async () => {
  // Lines of any length are lent, and the reader sizes new buffers from the
  // last line: kept lines must survive every move to a new buffer.
  const rand = seededRandom(9);
  const parts: string[] = [];
  for (let i = 0; i < 12; i++) {
    const length = [65535, 40000, 100, 70000, 5][i % 5];
    parts.push(String.fromCharCode(0x41 + i).repeat(length) + "\n");
  }
  const input = encoder.encode(parts.join(""));
  const reader = new BufferedReader(chunked(input, () => 1 + Math.floor(rand() * 30000)), {
    maxLineLength: 1 << 20,
  });
  const kept: Uint8Array[] = [];
  for await (const line of reader) kept.push(line);
  assert.deepEqual(kept.map((line) => decoder.decode(line)), parts);
});

Deno.test("BufferedReader.from returns copies: changing the input afterwards changes no line", async () => {
  const input = encoder.encode("one\ntwo\n");
  const reader = BufferedReader.from(input);
  const first = await reader.readline();
  input.fill(0x21);
  assert.equal(decoder.decode(first), "one\n");
  assert.equal(decoder.decode(await reader.readline()), "!!!!");
});

Deno.test("BufferedReader.readline(): a read that timed out stays pending and its bytes come with the next readline", async () => {
  const release = Promise.withResolvers<void>();
  let calls = 0;
  const source = {
    async read(p: Uint8Array): Promise<number | null> {
      calls++;
      if (calls > 1) return null;
      await release.promise;
      p.set(encoder.encode("late\n"));
      return 5;
    },
  };
  const reader = new BufferedReader(source, { timeout: 5 });
  await assert.rejects(reader.readline(), TimeoutError);
  release.resolve();
  reader.timeout = null;
  assert.equal(decoder.decode(await reader.readline()), "late\n");
  assert.equal(calls, 1);
});

Deno.test("StreamWriter.write(): writes issued together go out whole and in call order through partial writes", async () => {
  const sent: number[] = [];
  const sink = {
    async write(p: Uint8Array): Promise<number> {
      await Promise.resolve();
      const n = Math.min(p.length, 3);
      for (let i = 0; i < n; i++) sent.push(p[i]);
      return n;
    },
  };
  const wfile = new StreamWriter(sink);
  const messages = Array.from({ length: 20 }, (_, i) => new Uint8Array(1 + (i % 7)).fill(i));
  const counts = await Promise.all(messages.map((m) => wfile.write(m)));
  assert.deepEqual(counts, messages.map((m) => m.length));
  assert.deepEqual(sent, messages.flatMap((m) => [...m]));
  assert.equal(wfile.idle, true);
});
