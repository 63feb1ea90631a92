/**
 * Attacks on issue 17's Web Streams and unawaited frames: `rfile.readable`
 * cancelled, or its `pipeTo()` aborted, while it waits for the client — then
 * `rfile` used again — and `wfile.writeFrame()` not awaited by a handler
 * that returns before its client resets. Each test failed when written
 * (branch attack-17): they describe what a fix must make true.
 */
import assert from "node:assert/strict";
import { BufferedReader, type ByteSource, sendall, StreamRequestHandler } from "../mod.ts";
import { connPair, runHandler } from "../testing.ts";
import { within } from "./_wait.ts";

const decoder = new TextDecoder();
const text = (bytes: Uint8Array) => decoder.decode(bytes);

/** The server end of a pair as a source that says when its `n`th read starts:
 * the moment a stream's pull waits for the client. */
function watchedSource(conn: Deno.Conn, n: number): { source: ByteSource; waiting: Promise<void> } {
  const { promise, resolve } = Promise.withResolvers<void>();
  let reads = 0;
  return {
    source: {
      read(p) {
        if (++reads === n) resolve();
        return conn.read(p);
      },
    },
    waiting: promise,
  };
}

Deno.test("rfile.readable cancelled while its read waits for the client loses no byte: rfile.readline() after it returns every line the client sends", async () => {
  const [client, server] = connPair();
  try {
    const { source, waiting } = watchedSource(server, 1);
    const rfile = new BufferedReader(source);
    const reader = rfile.readable.getReader();
    const first = reader.read();
    await within(waiting, 5_000, "the stream's first read");
    await reader.cancel(); // e.g. a handler that gives up on a body and reads lines again
    assert.deepEqual(await first, { done: true, value: undefined });
    await sendall(client, "hello\nworld\n");
    await client.closeWrite();
    const lines: string[] = [];
    for (;;) {
      const line = await within(rfile.readline(), 5_000, "a line");
      if (line.length === 0) break;
      lines.push(text(line));
    }
    assert.deepEqual(lines, ["hello\n", "world\n"]);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("rfile.readable.pipeTo() aborted by its signal while it waits for the client loses no byte: rfile.readline() after it returns the next line", async () => {
  const [client, server] = connPair();
  try {
    const { source, waiting } = watchedSource(server, 2);
    const rfile = new BufferedReader(source);
    const body: string[] = [];
    const stop = new AbortController();
    const piping = rfile.readable.pipeTo(
      new WritableStream<Uint8Array>({ write: (chunk) => void body.push(text(chunk)) }),
      { signal: stop.signal },
    );
    await sendall(client, "body");
    await within(waiting, 5_000, "the pipe's second read"); // "body" is through
    stop.abort();
    await assert.rejects(piping, { name: "AbortError" });
    await sendall(client, "trailer\n");
    await client.closeWrite();
    assert.deepEqual(body, ["body"]);
    assert.equal(text(await within(rfile.readline(), 5_000, "the trailer")), "trailer\n");
  } finally {
    client.close();
    server.close();
  }
});

/** Sends a 1 MiB frame it does not await, then returns at once. */
class Careless extends StreamRequestHandler {
  override async handle() {
    await this.rfile.readline();
    this.wfile.writeFrame(new Uint8Array(1 << 20));
  }
}

Deno.test("wfile.writeFrame() not awaited by a handler that returns at once, to a client that resets, is a drop (handleDrop), as docs/hardening.md promises, not lost in silence", async () => {
  await using run = runHandler(Careless);
  await sendall(run.client, "go\n");
  // the frame has begun to arrive; the rest waits for room
  assert.ok((await run.client.read(new Uint8Array(16)))! > 0);
  run.client.reset();
  const { drops } = await within(run.done, 5_000, "the request to end");
  assert.equal(drops.length, 1, `drops: ${drops.map(String)}`);
  assert.ok(
    drops[0] instanceof Deno.errors.ConnectionReset || drops[0] instanceof Deno.errors.BrokenPipe,
    String(drops[0]),
  );
});
