/**
 * One read of `rfile` at a time: a call that must wait for the connection
 * while another waits is refused with `Deno.errors.Busy` (asyncio's
 * `StreamReader` refuses it too), since both would record the one read's
 * bytes; a call the buffer answers is served. A wait given up — a timeout,
 * a read that failed, a cancelled `readable` — leaves the reader free, and
 * the bytes of its read to the next call.
 */
import assert from "node:assert/strict";
import { BufferedReader, type ByteSource, sendall, TimeoutError } from "../mod.ts";
import { connPair } from "../testing.ts";
import { within } from "./_wait.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (bytes: Uint8Array) => decoder.decode(bytes);

Deno.test("rfile.readline() called while readExactly() waits for the client rejects with Busy at once, and the waiting call gets the bytes", async () => {
  const [client, server] = connPair();
  try {
    const rfile = new BufferedReader(server);
    const exact = rfile.readExactly(3);
    await assert.rejects(rfile.readline(), Deno.errors.Busy);
    await assert.rejects(rfile.readline(10), Deno.errors.Busy);
    await assert.rejects(rfile.read(1), Deno.errors.Busy);
    await assert.rejects(rfile.read1(), Deno.errors.Busy);
    await assert.rejects(rfile.readUntil("\0"), Deno.errors.Busy);
    await assert.rejects(rfile.readFrame(), Deno.errors.Busy);
    await assert.rejects(rfile[Symbol.asyncIterator]().next(), Deno.errors.Busy);
    await sendall(client, "abc\ndef\n");
    assert.equal(text(await within(exact, 5_000, "readExactly(3)")), "abc");
    assert.equal(text(await rfile.readline()), "\n");
    assert.equal(text(await rfile.readline()), "def\n");
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("rfile.frames().next() called twice at once: the second rejects with Busy, the first returns the frame, and no byte is invented", async () => {
  const [client, server] = connPair();
  try {
    const rfile = new BufferedReader(server);
    const frames = rfile.frames({ lengthBytes: 1 });
    const first = frames.next();
    await assert.rejects(frames.next(), Deno.errors.Busy);
    await sendall(client, new Uint8Array([2, 104, 105, 1, 33]));
    await client.closeWrite();
    assert.deepEqual(await within(first, 5_000, "the first frame"), {
      done: false,
      value: new Uint8Array([104, 105]),
    });
    // the refusal ended the iterator, as any error does; the reader goes on
    assert.deepEqual(await rfile.readFrame({ lengthBytes: 1 }), new Uint8Array([33]));
    assert.equal(await rfile.readFrame({ lengthBytes: 1 }), null);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("rfile.readline() served from the buffer while another call waits is not refused", async () => {
  const [client, server] = connPair();
  try {
    const rfile = new BufferedReader(server);
    await sendall(client, "one\ntw");
    assert.equal(text(await rfile.readline()), "one\n");
    const rest = rfile.readExactly(4); // "tw" buffered, waits for 2 more
    await sendall(client, "o\n");
    assert.equal(text(await within(rest, 5_000, "readExactly(4)")), "two\n");
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("a read of rfile that failed leaves no wait behind: every later call, by any method, gets the connection's error, not Busy", async () => {
  const reset = new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)");
  const source: ByteSource = { read: () => Promise.reject(reset) };
  const rfile = new BufferedReader(source);
  const calls = [
    () => rfile.readline(),
    () => rfile.readline(5),
    () => rfile[Symbol.asyncIterator]().next(),
    () => rfile.read(4),
    () => rfile.read1(),
    () => rfile.readExactly(2),
    () => rfile.readUntil("\r\n"),
    () => rfile.readFrame(),
    () => rfile.readable.getReader().read(),
  ];
  for (const call of calls) {
    await assert.rejects(call(), (error) => error === reset);
  }
});

Deno.test("rfile.readline() that timed out leaves the reader free: the next readline() takes the line the pending read brings", async () => {
  const [client, server] = connPair();
  try {
    const rfile = new BufferedReader(server, { timeout: 20 });
    await assert.rejects(rfile.readline(), TimeoutError);
    await assert.rejects(rfile.readExactly(1), TimeoutError);
    rfile.timeout = null;
    const line = rfile.readline();
    await sendall(client, "late\n");
    assert.equal(text(await within(line, 5_000, "the late line")), "late\n");
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("rfile.readable cancelled while it waits leaves the reader free for readExactly(), and a read that failed after the cancel is the next call's error", async () => {
  const [client, server] = connPair();
  try {
    const reading = Promise.withResolvers<void>();
    const rfile = new BufferedReader({
      read: (p) => (reading.resolve(), server.read(p)),
    });
    const reader = rfile.readable.getReader();
    const chunk = reader.read();
    await within(reading.promise, 5_000, "the stream's read");
    await reader.cancel();
    assert.deepEqual(await chunk, { done: true, value: undefined });
    const exact = rfile.readExactly(4);
    await sendall(client, encoder.encode("data"));
    assert.equal(text(await within(exact, 5_000, "readExactly(4)")), "data");
    await sendall(client, "more\n");
    await client.closeWrite();
    assert.equal(text(await within(rfile.read(), 5_000, "the rest")), "more\n");
  } finally {
    client.close();
    server.close();
  }
  const reset = new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)");
  const { promise, reject } = Promise.withResolvers<number | null>();
  const reading = Promise.withResolvers<void>();
  const rfile = new BufferedReader({ read: () => (reading.resolve(), promise) });
  const reader = rfile.readable.getReader();
  const chunk = reader.read();
  await within(reading.promise, 5_000, "the stream's read");
  await reader.cancel();
  assert.deepEqual(await chunk, { done: true, value: undefined });
  reject(reset);
  await assert.rejects(rfile.readline(), (error) => error === reset);
});
