/**
 * Attacks on issue 17's framing (`rfile.readExactly()`, `readUntil()`,
 * `frames()`, `wfile.writeFrame()`): two reads of one reader at once, the
 * cost of a protocol that alternates two string delimiters, and the options
 * `writeFrame()` lets through that `readFrame()` refuses. Each test failed
 * when written (branch attack-17): they describe what a fix must make true.
 */
import assert from "node:assert/strict";
import { BufferedReader, StreamWriter } from "../mod.ts";
import { connPair } from "../testing.ts";
import { within } from "./_wait.ts";

const encoder = new TextEncoder();

Deno.test("readExactly() called twice at once, as two tasks of a handler may, returns the 8 bytes sent between them and then EOF, never bytes the client did not send", async () => {
  const [client, server] = connPair();
  try {
    const rfile = new BufferedReader(server);
    // both wait on the one read of the connection the first one started
    const outcomes = Promise.allSettled([rfile.readExactly(4), rfile.readExactly(4)]);
    await client.write(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    await client.closeWrite();
    const got: number[] = [];
    // a fix may refuse the second call (asyncio's readexactly() does, with a
    // RuntimeError) or serve both; either way no byte is invented
    for (const outcome of await within(outcomes, 5_000, "the two reads")) {
      if (outcome.status === "fulfilled") got.push(...outcome.value);
    }
    got.push(...await within(rfile.read(), 5_000, "the rest of the connection"));
    assert.deepEqual(
      got.toSorted((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7, 8],
      `the reader returned ${got.length} bytes for the 8 sent: [${got}]`,
    );
  } finally {
    client.close();
    server.close();
  }
});

Deno.test('readUntil() with two string delimiters in turn, as a "key:value\\r\\n" protocol reads, encodes each delimiter once rather than once per record (which costs 4 to 5 × readline() per byte)', async () => {
  const records = 1000;
  const input = encoder.encode("user-agent:deno/2.9\r\n".repeat(records));
  const rfile = BufferedReader.from(input);
  const encode = TextEncoder.prototype.encode;
  let encodings = 0;
  TextEncoder.prototype.encode = function (this: TextEncoder, text?: string) {
    encodings++;
    return encode.call(this, text);
  };
  let keys = 0;
  try {
    for (;;) {
      if ((await rfile.readUntil(":")).length === 0) break;
      keys++;
      await rfile.readUntil("\r\n");
    }
  } finally {
    TextEncoder.prototype.encode = encode;
  }
  assert.equal(keys, records);
  assert.ok(
    encodings <= 4,
    `${encodings} UTF-8 encodings of the two delimiters for ${2 * records} records`,
  );
});

Deno.test("wfile.writeFrame() refuses with a TypeError, sending nothing, the options readFrame() refuses and a payload that is neither bytes nor text", async () => {
  const sent: Uint8Array[] = [];
  const wfile = new StreamWriter({
    write: (p) => (sent.push(p.slice()), Promise.resolve(p.length)),
  });
  // what readFrame() says of the same options
  await assert.rejects(
    BufferedReader.from(new Uint8Array([0, 0, 0, 2, 104, 105])).readFrame({ maxFrameLength: NaN }),
    TypeError,
  );
  await assert.rejects(
    BufferedReader.from(new Uint8Array([0, 0, 0, 2, 104, 105])).readFrame({
      lengthAdjustment: 0.5,
    }),
    TypeError,
  );
  // writeFrame() sends a frame with maxFrameLength NaN that the peer's
  // readFrame() with the same options refuses
  await assert.rejects(wfile.writeFrame("hi", { maxFrameLength: NaN }), TypeError);
  // and words these as a field too small ("Frame of undefined bytes...")
  await assert.rejects(wfile.writeFrame("hi", { lengthAdjustment: 0.5 }), TypeError);
  await assert.rejects(wfile.writeFrame(42 as unknown as string), TypeError);
  assert.equal(sent.length, 0, `sent: ${sent.map((p) => `[${p}]`)}`);
});
