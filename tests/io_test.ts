import assert from "node:assert/strict";
import { BufferedReader, LineTooLongError, StreamWriter, TimeoutError } from "../mod.ts";
import { decoder, encoder } from "./_net.ts";

/** A source that hands out `chunks` one read at a time, however big the
 * reader's buffer (a read larger than the buffer is split). */
function chunked(chunks: string[]): { read(p: Uint8Array): Promise<number | null>; reads: number } {
  const queue = chunks.map((c) => encoder.encode(c));
  const source = {
    reads: 0,
    read(p: Uint8Array): Promise<number | null> {
      source.reads++;
      const next = queue.shift();
      if (next === undefined) return Promise.resolve(null);
      const n = Math.min(p.length, next.length);
      p.set(next.subarray(0, n));
      if (n < next.length) queue.unshift(next.subarray(n));
      return Promise.resolve(n);
    },
  };
  return source;
}

const text = (b: Uint8Array) => decoder.decode(b);

Deno.test("readline() joins a line split across reads and keeps what follows it", async () => {
  const reader = new BufferedReader(chunked(["ab", "c\nde", "f\n", "g"]), { bufferSize: 4 });
  assert.equal(text(await reader.readline()), "abc\n");
  assert.equal(text(await reader.readline()), "def\n");
  assert.equal(text(await reader.readline()), "g");
  assert.equal((await reader.readline()).length, 0);
  assert.equal((await reader.readline()).length, 0);
});

Deno.test("readline() returns copies: a later read does not change an earlier line", async () => {
  const reader = new BufferedReader(chunked(["one\n", "two\n"]), { bufferSize: 4 });
  const first = await reader.readline();
  const second = await reader.readline();
  assert.equal(text(first), "one\n");
  assert.equal(text(second), "two\n");
});

Deno.test("readline() accepts a line of exactly maxLineLength bytes and refuses one byte more", async () => {
  const options = { bufferSize: 4, maxLineLength: 10 };
  const exact = new BufferedReader(chunked(["x".repeat(9) + "\n"]), options);
  assert.equal((await exact.readline()).length, 10);
  const over = new BufferedReader(chunked(["x".repeat(10) + "\n"]), options);
  await assert.rejects(over.readline(), LineTooLongError);
});

Deno.test("readline() without a newline stops at the limit: memory stays bounded", async () => {
  let served = 0;
  const endless = {
    read(p: Uint8Array): Promise<number> {
      p.fill(0x61);
      served += p.length;
      return Promise.resolve(p.length);
    },
  };
  const reader = new BufferedReader(endless, { bufferSize: 1024, maxLineLength: 64 * 1024 });
  await assert.rejects(reader.readline(), LineTooLongError);
  assert.ok(served <= 64 * 1024 + 1024, `read ${served} bytes for a 64 KiB limit`);
});

Deno.test("BufferedReader's for await without a newline stops at the limit too: its buffer never outgrows it", async () => {
  let served = 0;
  let largest = 0;
  const endless = {
    read(p: Uint8Array): Promise<number> {
      p.fill(0x61);
      served += p.length;
      largest = Math.max(largest, p.buffer.byteLength);
      return Promise.resolve(p.length);
    },
  };
  // 40,000 is no power-of-two multiple of the buffer: doubling 16 KiB
  // without a cap would pass it (64 KiB)
  const reader = new BufferedReader(endless, { bufferSize: 16_384, maxLineLength: 40_000 });
  await assert.rejects(async () => {
    for await (const _ of reader) assert.fail("no line can come");
  }, LineTooLongError);
  assert.ok(largest <= 40_000, `the buffer grew to ${largest} bytes for a 40,000-byte limit`);
  assert.ok(served <= 40_000, `read ${served} bytes for a 40,000-byte limit`);
});

Deno.test("read(n) larger than the buffer reads straight into the result", async () => {
  const source = chunked(["abc", "defgh", "ijklmnopqrstuvwxyz"]);
  const reader = new BufferedReader(source, { bufferSize: 4 });
  assert.equal(text(await reader.read(2)), "ab");
  assert.equal(text(await reader.read(20)), "cdefghijklmnopqrstuv");
  assert.equal(text(await reader.read(20)), "wxyz");
  assert.equal((await reader.read(1)).length, 0);
});

Deno.test("read1() never reads when bytes are buffered", async () => {
  const source = chunked(["hello\nworld"]);
  const reader = new BufferedReader(source);
  await reader.readline();
  const reads = source.reads;
  assert.equal(text(await reader.read1(3)), "wor");
  assert.equal(text(await reader.read1()), "ld");
  assert.equal(source.reads, reads);
});

Deno.test("BufferedReader: mixing readline(), read(n) and read() returns every byte once, in order", async () => {
  const reader = new BufferedReader(chunked(["l1\nabcdef", "gh\nl3\n", "tail"]), { bufferSize: 5 });
  const parts = [
    text(await reader.readline()),
    text(await reader.read(3)),
    text(await reader.readline()),
    text(await reader.read1(1)),
    text(await reader.read()),
  ];
  assert.equal(parts.join(""), "l1\nabcdefgh\nl3\ntail");
  assert.deepEqual(parts.slice(0, 3), ["l1\n", "abc", "defgh\n"]);
});

Deno.test("BufferedReader.from() reads fixed bytes without a source", async () => {
  const reader = BufferedReader.from(encoder.encode("a\nb\n"));
  const lines: string[] = [];
  for await (const line of reader) lines.push(text(line));
  assert.deepEqual(lines, ["a\n", "b\n"]);
  assert.equal(reader.buffered, 0);
});

Deno.test("BufferedReader: a read that times out is picked up by the next read: no byte is lost", async () => {
  let deliver: (n: number | null) => void = () => {};
  let target: Uint8Array | undefined;
  let reads = 0;
  const slow = {
    read(p: Uint8Array): Promise<number | null> {
      reads++;
      target = p;
      return new Promise((resolve) => (deliver = resolve));
    },
  };
  const reader = new BufferedReader(slow, { timeout: 5 });
  await assert.rejects(reader.readline(), TimeoutError);
  reader.timeout = null;
  const line = reader.readline();
  target!.set(encoder.encode("late\n"));
  deliver(5);
  assert.equal(text(await line), "late\n");
  assert.equal(reads, 1, "the pending read was reused, not issued twice");
  const end = reader.readline();
  deliver(null);
  assert.equal((await end).length, 0);
});

Deno.test("StreamWriter retries partial writes until every byte is written", async () => {
  const written: number[] = [];
  const stingy = {
    write(p: Uint8Array): Promise<number> {
      const n = Math.min(3, p.length);
      written.push(...p.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  const wfile = new StreamWriter(stingy);
  assert.equal(await wfile.write("abcdefgh"), 8);
  assert.equal(decoder.decode(new Uint8Array(written)), "abcdefgh");
});

Deno.test("StreamWriter keeps concurrent writes whole and in call order", async () => {
  const out: string[] = [];
  const slowSink = {
    async write(p: Uint8Array): Promise<number> {
      await new Promise((r) => setTimeout(r, 0));
      const n = Math.min(2, p.length); // partial writes force continuations
      out.push(decoder.decode(p.subarray(0, n)));
      return n;
    },
  };
  const wfile = new StreamWriter(slowSink);
  await Promise.all([wfile.write("AAAA"), wfile.write("BBBB"), wfile.write("CCCC")]);
  assert.equal(out.join(""), "AAAABBBBCCCC");
  assert.equal(wfile.idle, true);
});

Deno.test("StreamWriter: a failed send fails the writes queued behind it and later ones with its error, and sends nothing after the gap", async () => {
  let fail = true;
  let attempts = 0;
  const out: string[] = [];
  const sink = {
    write(p: Uint8Array): Promise<number> {
      attempts++;
      if (fail) {
        fail = false;
        return Promise.reject(new Deno.errors.BrokenPipe("gone"));
      }
      out.push(decoder.decode(p));
      return Promise.resolve(p.length);
    },
  };
  const wfile = new StreamWriter(sink);
  const first = wfile.write("lost");
  const queued = wfile.write("queued");
  const error = await first.catch((e) => e);
  assert.ok(error instanceof Deno.errors.BrokenPipe);
  assert.equal(await queued.catch((e) => e), error);
  assert.equal(await wfile.write("later").catch((e) => e), error);
  assert.deepEqual(out, []);
  assert.equal(attempts, 1);
  assert.equal(wfile.idle, true);
});

/** A sink that takes `room` bytes, then none until it is closed, when the
 * write in flight rejects as a closed `Deno.Conn`'s does. */
function stalling(room: number) {
  const sink = {
    sent: [] as string[],
    writes: 0,
    closed: false,
    cancel: () => {},
    write(p: Uint8Array): Promise<number> {
      sink.writes++;
      if (sink.closed) return Promise.reject(new Deno.errors.BadResource("closed"));
      const n = Math.min(room, p.length);
      room -= n;
      if (n > 0) {
        sink.sent.push(decoder.decode(p.subarray(0, n)));
        return Promise.resolve(n);
      }
      return new Promise((_, reject) => {
        sink.cancel = () => reject(new Deno.errors.Interrupted("operation canceled"));
      });
    },
    close() {
      sink.closed = true;
      sink.cancel();
    },
  };
  return sink;
}

Deno.test("StreamWriter({ timeout }): a write that cannot be sent in time rejects with TimeoutError and closes the sink; writes queued behind it, and later ones, are refused unsent", async () => {
  const sink = stalling(3);
  const wfile = new StreamWriter(sink, { timeout: 20 });
  const stuck = wfile.write("abcdef"); // "abc" goes out, then the sink stalls
  const queued = wfile.write("queued");
  const error = await stuck.catch((e) => e);
  assert.ok(error instanceof TimeoutError, `rejected with ${error}`);
  assert.equal(error.attribute, "writeTimeout");
  assert.equal(error.timeout, 20);
  assert.equal(sink.closed, true, "the sink was closed");
  await assert.rejects(queued, (e) => e === error, "the queued write is refused");
  await assert.rejects(wfile.write("later"), (e) => e === error, "a later write is refused");
  await wfile.flush();
  assert.deepEqual(sink.sent, ["abc"], "nothing was sent after the stall");
  assert.equal(sink.writes, 2, "the queued and later writes never reached the sink");
  assert.equal(wfile.idle, true, "the cancelled write is no longer in flight");
});

Deno.test("StreamWriter({ timeout }) counts from a write's turn: writes that each finish in time never time out", async () => {
  const out: string[] = [];
  const slowSink = {
    async write(p: Uint8Array): Promise<number> {
      await new Promise((r) => setTimeout(r, 15));
      out.push(decoder.decode(p));
      return p.length;
    },
  };
  // 5 writes of 15 ms each take 75 ms in all, three times the timeout
  const wfile = new StreamWriter(slowSink, { timeout: 25 });
  await Promise.all(["a", "b", "c", "d", "e"].map((s) => wfile.write(s)));
  assert.deepEqual(out, ["a", "b", "c", "d", "e"]);
});
