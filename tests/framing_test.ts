/**
 * `rfile.readExactly()`, `readUntil()`, `readFrame()`, `frames()` and
 * `wfile.writeFrame()`: their limits at and past the edge, what they
 * allocate for a length the peer announces, their errors (kin of
 * `LineTooLongError`, routine drops), a timeout mid-record, and real
 * clients: one byte at a time over TCP, and CPython's `struct.pack(">L")`.
 */
import assert from "node:assert/strict";
import {
  BufferedReader,
  type ByteSource,
  DEFAULT_MAX_FRAME_LENGTH,
  type FrameOptions,
  FrameTooLongError,
  IncompleteReadError,
  isRoutineDrop,
  LimitOverrunError,
  LineTooLongError,
  StreamRequestHandler,
  StreamWriter,
  ThreadingTCPServer,
  TimeoutError,
} from "../mod.ts";
import { withServer } from "../testing.ts";
import { hasCommand, runCommand } from "./_process.ts";
import { RecordingServer } from "./_servers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (bytes: Uint8Array | null) => bytes === null ? null : decoder.decode(bytes);

/** A source that hands out `chunks` one per read (cut to the reader's
 * room), then stalls until `release()` gives more, or ends. It records the
 * size of every buffer the reader offered. */
class Scripted implements ByteSource {
  offered: number[] = [];
  #chunks: Uint8Array[];
  #waiting: PromiseWithResolvers<void> | null = null;
  #ended = false;
  constructor(...chunks: (Uint8Array | string)[]) {
    this.#chunks = chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c);
  }
  async read(p: Uint8Array): Promise<number | null> {
    this.offered.push(p.length);
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      this.#waiting = Promise.withResolvers();
      await this.#waiting.promise;
    }
    const chunk = this.#chunks[0];
    const n = Math.min(chunk.length, p.length);
    p.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    return n;
  }
  /** Gives `chunks` to the read waiting, or ends the source when none. */
  release(...chunks: (Uint8Array | string)[]): void {
    if (chunks.length === 0) this.#ended = true;
    this.#chunks.push(...chunks.map((c) => typeof c === "string" ? encoder.encode(c) : c));
    this.#waiting?.resolve();
  }
}

/** A source that is never read from (`read()` fails the test). */
const untouched: ByteSource = {
  read: () => Promise.reject(new Error("the reader read from the source")),
};

function frame(payload: Uint8Array | string): Uint8Array {
  const bytes = typeof payload === "string" ? encoder.encode(payload) : payload;
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

// --- errors ------------------------------------------------------------------------------------

Deno.test("LimitOverrunError is the kin of every limit error, and isRoutineDrop() drops it, IncompleteReadError and FrameTooLongError", () => {
  const line = new LineTooLongError(10);
  const frameError = new FrameTooLongError(11, 10);
  const incomplete = new IncompleteReadError(new Uint8Array(2), 4);
  assert.ok(line instanceof LimitOverrunError && line instanceof RangeError);
  assert.ok(frameError instanceof LimitOverrunError);
  assert.ok(incomplete instanceof Deno.errors.UnexpectedEof);
  for (const error of [new LimitOverrunError(5), line, frameError, incomplete]) {
    assert.equal(isRoutineDrop(error), true, error.name);
  }
  assert.equal(frameError.limit, 10);
  assert.equal(frameError.length, 11);
  assert.match(
    frameError.message,
    /^Frame of 11 bytes exceeds the limit of 10 bytes: raise "maxFrameLength"/,
  );
  assert.match(incomplete.message, /after 2 of 4 bytes/);
});

// --- readExactly() -----------------------------------------------------------------------------

Deno.test("readExactly(n) refuses n over its limit (1 MiB by default) with LimitOverrunError before reading anything", async () => {
  const reader = new BufferedReader(untouched);
  const error = await reader.readExactly(DEFAULT_MAX_FRAME_LENGTH + 1).catch((e) => e);
  assert.ok(error instanceof LimitOverrunError, String(error));
  assert.equal(error.limit, DEFAULT_MAX_FRAME_LENGTH);
  await assert.rejects(reader.readExactly(11, 10), LimitOverrunError);
  await assert.rejects(reader.readExactly(-1), TypeError);
  await assert.rejects(reader.readExactly(1.5), TypeError);
});

Deno.test("readExactly(n) at its limit reads n bytes; at EOF it throws IncompleteReadError with the bytes that came, and an empty partial at a clean end", async () => {
  const reader = new BufferedReader(new Scripted("abc", "de", "fgh"));
  assert.equal(text(await reader.readExactly(5, 5)), "abcde");
  const source = new Scripted("xy");
  source.release();
  const short = new BufferedReader(source);
  const error = await short.readExactly(3).catch((e) => e);
  assert.ok(error instanceof IncompleteReadError);
  assert.equal(text(error.partial), "xy");
  assert.equal(error.expected, 3);
  const empty = await short.readExactly(1).catch((e) => e);
  assert.ok(empty instanceof IncompleteReadError);
  assert.equal(empty.partial.length, 0);
});

// --- readUntil() -------------------------------------------------------------------------------

Deno.test("readUntil(delimiter, limit) accepts a record of exactly limit bytes, delimiter included, and refuses one byte more with the bytes still buffered", async () => {
  const reader = BufferedReader.from(encoder.encode("abc\r\nabcd\r\nrest"));
  assert.equal(text(await reader.readUntil("\r\n", 5)), "abc\r\n");
  const error = await reader.readUntil("\r\n", 5).catch((e) => e);
  assert.ok(error instanceof LimitOverrunError && !(error instanceof LineTooLongError));
  assert.match(error.message, /^No delimiter "\\r\\n" within the limit of 5 bytes/);
  assert.equal(text(await reader.readUntil("\r\n", 6)), "abcd\r\n");
  assert.equal(text(await reader.read()), "rest");
});

Deno.test("readUntil() without a limit is bounded by maxLineLength, and throws where readline(size) cuts", async () => {
  const reader = BufferedReader.from(encoder.encode("x".repeat(100) + "\0"), { maxLineLength: 64 });
  await assert.rejects(reader.readUntil("\0"), LimitOverrunError);
  assert.equal((await reader.readline(64)).length, 64); // the same bytes, cut
  reader.maxLineLength = 101;
  assert.equal((await reader.readUntil(new Uint8Array([0]))).length, 37);
});

Deno.test("readUntil() finds a multi-byte delimiter split across one-byte reads, returns an empty array at a clean EOF and IncompleteReadError with the rest mid-record", async () => {
  const source = new Scripted(..."GET / HTTP/1.0\r\n\r\nbody\r\n".split(""));
  source.release();
  const reader = new BufferedReader(source);
  assert.equal(text(await reader.readUntil("\r\n\r\n")), "GET / HTTP/1.0\r\n\r\n");
  const error = await reader.readUntil("\r\n\r\n").catch((e) => e);
  assert.ok(error instanceof IncompleteReadError);
  assert.equal(text(error.partial), "body\r\n");
  assert.equal(error.expected, null);
  assert.equal((await reader.readUntil("\r\n\r\n")).length, 0);
  await assert.rejects(reader.readUntil(""), TypeError);
});

// --- readFrame() -------------------------------------------------------------------------------

Deno.test("readFrame() refuses a 4 GiB length prefix with FrameTooLongError as soon as the prefix is in, offering no buffer beyond its first", async () => {
  const source = new Scripted(new Uint8Array([0xff, 0xff, 0xff, 0xff])); // then it stalls
  const reader = new BufferedReader(source, { bufferSize: 1024 });
  const error = await reader.readFrame().catch((e) => e);
  assert.ok(error instanceof FrameTooLongError, String(error));
  assert.equal(error.length, 2 ** 32 - 1);
  assert.equal(error.limit, DEFAULT_MAX_FRAME_LENGTH);
  assert.deepEqual(source.offered, [1024]);
  assert.equal(reader.buffered, 4); // the prefix stays buffered
  source.release();
});

Deno.test("readFrame() of a 1 MiB frame whose sender stops after 10 bytes grows no buffer for bytes that never came, and throws IncompleteReadError with them", async () => {
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, DEFAULT_MAX_FRAME_LENGTH);
  const source = new Scripted(head, new Uint8Array(10).fill(7));
  source.release();
  const reader = new BufferedReader(source, { bufferSize: 1024 });
  const error = await reader.readFrame().catch((e) => e);
  assert.ok(error instanceof IncompleteReadError, String(error));
  assert.equal(error.expected, DEFAULT_MAX_FRAME_LENGTH);
  assert.deepEqual(error.partial, new Uint8Array(10).fill(7));
  assert.ok(Math.max(...source.offered) <= 1024, String(source.offered));
});

Deno.test("readFrame() accepts a payload of exactly maxFrameLength and refuses one byte more", async () => {
  const reader = BufferedReader.from(new Uint8Array([...frame("abcd"), ...frame("abcde")]));
  assert.equal(text(await reader.readFrame({ maxFrameLength: 4 })), "abcd");
  const error = await reader.readFrame({ maxFrameLength: 4 }).catch((e) => e);
  assert.ok(error instanceof FrameTooLongError);
  assert.equal(error.length, 5);
  assert.equal(text(await reader.readFrame({ maxFrameLength: 5 })), "abcde");
  assert.equal(await reader.readFrame(), null);
});

Deno.test("readFrame() reads 1-, 2-, 4- and 8-byte fields, either byte order, with Netty's lengthAdjustment, as writeFrame() writes them", async () => {
  const layouts: FrameOptions[] = [];
  for (const lengthBytes of [1, 2, 4, 8] as const) {
    for (const littleEndian of [false, true]) {
      for (const lengthAdjustment of [0, -lengthBytes, 2]) {
        layouts.push({ lengthBytes, littleEndian, lengthAdjustment });
      }
    }
  }
  const payloads = ["", "a", "x".repeat(200), "é".repeat(100)];
  for (const options of layouts) {
    const sent: Uint8Array<ArrayBuffer>[] = [];
    const wfile = new StreamWriter({
      write: (p) => (sent.push(p.slice()), Promise.resolve(p.length)),
    });
    for (const payload of payloads) {
      if (encoder.encode(payload).length - (options.lengthAdjustment ?? 0) < 0) continue;
      const n = await wfile.writeFrame(payload, options);
      assert.equal(n, options.lengthBytes! + encoder.encode(payload).length);
    }
    const all = new Uint8Array(await new Blob(sent).arrayBuffer());
    const reader = BufferedReader.from(all);
    const got = [];
    for await (const f of reader.frames(options)) got.push(text(f));
    assert.deepEqual(
      got,
      payloads.filter((p) => encoder.encode(p).length >= (options.lengthAdjustment ?? 0)),
      JSON.stringify(options),
    );
  }
  // the layouts against a reference: a 2-byte little-endian field that counts itself
  const reader = BufferedReader.from(new Uint8Array([5, 0, 104, 105, 33]));
  assert.equal(
    text(await reader.readFrame({ lengthBytes: 2, littleEndian: true, lengthAdjustment: -2 })),
    "hi!",
  );
  const big = BufferedReader.from(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1, 9]));
  assert.deepEqual(await big.readFrame({ lengthBytes: 8 }), new Uint8Array([9]));
});

Deno.test("readFrame() throws a RangeError, a routine drop, for a length field smaller than a negative lengthAdjustment, and a TypeError for a field size of 3", async () => {
  const reader = BufferedReader.from(new Uint8Array([0, 0, 0, 2, 1, 2]));
  const error = await reader.readFrame({ lengthAdjustment: -4 }).catch((e) => e);
  assert.ok(error instanceof RangeError && !(error instanceof LimitOverrunError), String(error));
  assert.equal(isRoutineDrop(error), true);
  // deno-lint-ignore no-explicit-any
  await assert.rejects(reader.readFrame({ lengthBytes: 3 as any }), TypeError);
});

Deno.test("writeFrame() refuses, as a bug rather than a drop, a payload over maxFrameLength or too long for its field; a payload over 64 KiB goes out in one write with its field", async () => {
  const sent: Uint8Array[] = [];
  const wfile = new StreamWriter({ write: (p) => (sent.push(p), Promise.resolve(p.length)) });
  const tooBig = await wfile.writeFrame(new Uint8Array(11), { maxFrameLength: 10 }).catch((e) => e);
  assert.ok(tooBig instanceof RangeError && isRoutineDrop(tooBig) === false);
  await assert.rejects(wfile.writeFrame(new Uint8Array(256), { lengthBytes: 1 }), RangeError);
  assert.equal(sent.length, 0);
  const payload = new Uint8Array(100_000).fill(1);
  assert.equal(await wfile.writeFrame(payload), 100_004);
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0].subarray(0, 4), new Uint8Array([0, 1, 0x86, 0xa0]));
  assert.deepEqual(sent[0].subarray(4), payload);
});

Deno.test("readFrame() and readUntil() that outlive a timeout mid-record lose nothing: the next call returns the whole record", async () => {
  const source = new Scripted(new Uint8Array([0, 0, 0, 6]), "hal");
  const reader = new BufferedReader(source, { timeout: 20 });
  const error = await reader.readFrame().catch((e) => e);
  assert.ok(error instanceof TimeoutError, String(error));
  source.release("f!", "!pay");
  assert.equal(text(await reader.readFrame()), "half!!");
  const until = await reader.readUntil("\0").catch((e) => e);
  assert.ok(until instanceof TimeoutError, String(until));
  source.release("load\0");
  assert.equal(text(await reader.readUntil("\0")), "payload\0");
  source.release();
  assert.equal(await reader.readFrame(), null);
});

// --- real clients ------------------------------------------------------------------------------

/** Answers each frame with its payload upper-cased, then a NUL-terminated
 * greeting with "ok\0", then `n` raw bytes with their sum in a frame. */
class Framed extends StreamRequestHandler {
  override timeout = 10_000;
  override async handle() {
    for await (const payload of this.rfile.frames()) {
      if (payload.length === 0) break;
      await this.wfile.writeFrame(decoder.decode(payload).toUpperCase());
    }
    const greeting = await this.rfile.readUntil("\0");
    await this.wfile.write(`ok ${decoder.decode(greeting.subarray(0, -1))}\0`);
    const [n] = await this.rfile.readExactly(1);
    const bytes = await this.rfile.readExactly(n);
    await this.wfile.writeFrame(String(bytes.reduce((a, b) => a + b, 0)));
  }
}

Deno.test("readFrame(), readUntil() and readExactly() over TCP from a client that sends one byte per write", async () => {
  await withServer(ThreadingTCPServer, Framed, async (_server, address) => {
    const conn = await Deno.connect(address);
    conn.setNoDelay(true);
    const request = new Uint8Array([
      ...frame("hello"),
      ...frame("é world"),
      ...frame(""),
      ...encoder.encode("name\0"),
      5,
      1,
      2,
      3,
      4,
      5,
    ]);
    for (const byte of request) await conn.write(new Uint8Array([byte]));
    await conn.closeWrite();
    const reply = BufferedReader.from(
      new Uint8Array(await new Response(conn.readable).arrayBuffer()),
    );
    assert.equal(text(await reply.readFrame()), "HELLO");
    assert.equal(text(await reply.readFrame()), "É WORLD");
    assert.equal(text(await reply.readUntil("\0")), "ok name\0");
    assert.equal(text(await reply.readFrame()), "15");
    assert.equal(reply.buffered, 0);
  });
});

Deno.test({
  name:
    "a readFrame() server answers a CPython client that frames with struct.pack('>L', len(data)) and reads the replies with struct.unpack",
  ignore: !hasCommand("python3"),
  async fn() {
    class Json extends StreamRequestHandler {
      override timeout = 10_000;
      override async handle() {
        for await (const payload of this.rfile.frames()) {
          const record = JSON.parse(decoder.decode(payload));
          await this.wfile.writeFrame(JSON.stringify({ echo: record.msg, bytes: payload.length }));
        }
      }
    }
    const script = `
import json, socket, struct, sys
def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("short reply")
        data += chunk
    return data
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as sock:
    for msg in ["hello", "x" * 100000, "caf\\u00e9"]:
        s = json.dumps({"msg": msg}).encode("utf-8")
        sock.sendall(struct.pack(">L", len(s)) + s)
        (n,) = struct.unpack(">L", recv_exactly(sock, 4))
        reply = json.loads(recv_exactly(sock, n))
        print(len(reply["echo"]), reply["bytes"], reply["echo"][:5])
`;
    await withServer(ThreadingTCPServer, Json, async (_server, address) => {
      const { code, stdout, stderr } = await runCommand("python3", [
        "-c",
        script,
        String(address.port),
      ]);
      assert.equal(code, 0, stderr);
      assert.equal(stdout, "5 16 hello\n100000 100011 xxxxx\n4 20 café\n");
    });
  },
});

Deno.test("writeFrame() of a payload over 64 KiB, not awaited on a part-full buffered wfile (wbufsize), arrives whole between the writes before and after it", async () => {
  const sent: Uint8Array<ArrayBuffer>[] = [];
  const slow = {
    write: async (p: Uint8Array) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      sent.push(p.slice());
      return p.length;
    },
  };
  const wfile = new StreamWriter(slow, { bufferSize: 1024 });
  const payload = new Uint8Array(100_000).fill(7);
  await wfile.write(new Uint8Array(1022).fill(1)); // buffered: the field will not fit after it
  const framed = wfile.writeFrame(payload); // not awaited before the next write
  const after = wfile.write("end");
  assert.equal(await framed, 100_004);
  await after;
  await wfile.flush();
  const all = new Uint8Array(await new Blob(sent).arrayBuffer());
  const reader = BufferedReader.from(all);
  assert.equal((await reader.readExactly(1022)).every((b) => b === 1), true);
  assert.deepEqual(await reader.readFrame(), payload);
  assert.equal(text(await reader.read()), "end");
});

Deno.test("read(n) larger than the buffer that outlives a timeout loses nothing: the next read(n) returns the bytes that came before it", async () => {
  const source = new Scripted(new Uint8Array(10).fill(1));
  const reader = new BufferedReader(source, { bufferSize: 16, timeout: 20 });
  const error = await reader.read(100).catch((e) => e);
  assert.ok(error instanceof TimeoutError, String(error));
  source.release(new Uint8Array(90).fill(2));
  const bytes = await reader.read(100);
  assert.equal(bytes.length, 100);
  assert.equal(bytes.filter((b) => b === 1).length, 10);
  assert.equal(bytes.buffer.byteLength, 100); // a buffer of its own, as before
  source.release();
  assert.equal((await reader.read()).length, 0);
});

Deno.test({
  name:
    "frames() in a server: a CPython sender that announces more than maxFrameLength is dropped with FrameTooLongError once its four bytes are in, one that closes mid-frame with IncompleteReadError; handleDrop() gets both, handleError() neither",
  ignore: !hasCommand("python3"),
  async fn() {
    class Receiver extends StreamRequestHandler<RecordingServer> {
      override timeout = 10_000;
      override async handle() {
        for await (const _ of this.rfile.frames({ maxFrameLength: 1024 })) { /* none comes */ }
      }
    }
    // the first client never closes: it sees EOF only if the server drops it
    const script = `
import socket, struct, sys
port = int(sys.argv[1])
with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
    sock.sendall(struct.pack(">L", 2 * 1024 * 1024))
    print("too long:", sock.recv(1) == b"")
with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
    sock.sendall(struct.pack(">L", 10) + b"abc")
    sock.shutdown(socket.SHUT_WR)
    print("cut:", sock.recv(1) == b"")
`;
    await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Receiver);
    server.serveForever();
    const { code, stdout, stderr } = await runCommand("python3", [
      "-c",
      script,
      String(server.serverAddress.port),
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "too long: True\ncut: True\n");
    await server.dropped(2);
    assert.ok(server.drops[0] instanceof FrameTooLongError, String(server.drops[0]));
    assert.ok(server.drops[1] instanceof IncompleteReadError, String(server.drops[1]));
    assert.deepEqual((server.drops[1] as IncompleteReadError).partial, encoder.encode("abc"));
    assert.deepEqual(server.errors, []);
  },
});
