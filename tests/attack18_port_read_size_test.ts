/**
 * `rfile.read(n)` and `rfile.read1(n)` given a size Python would not take, as a line-by-line port
 * passes it: `self.rfile.read(None)` (to EOF in Python), a length parsed from a header that came
 * out `NaN`, a computed `2.5` or `Infinity`. Python's buffered file reads to EOF for `None` and
 * raises `TypeError` for the others; `readline()` and `readExactly()` here check their size too.
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, TCPServer } from "../mod.ts";
import { connectTcp, decoder, readAllText, writeAll } from "./_net.ts";

/** What one call gave: the bytes as text, or the error's name. */
type Outcome = { text: string } | { error: string };

/** Serves one connection that sends `input` and closes its write side; the handler makes `call`
 * on its `rfile`, then reads the rest: what the call gave, and what was left. */
async function serveOne(
  input: string,
  call: (handler: StreamRequestHandler) => Promise<Uint8Array>,
): Promise<{ outcome: Outcome; rest: string }> {
  let outcome: Outcome | undefined;
  let rest = "";
  class Reader extends StreamRequestHandler {
    override async handle() {
      try {
        outcome = { text: decoder.decode(await call(this)) };
      } catch (error) {
        outcome = { error: (error as Error).name };
      }
      rest = decoder.decode(await this.rfile.read());
    }
  }
  await using server = new TCPServer(["127.0.0.1", 0], Reader);
  const client = await connectTcp(server.serverAddress);
  try {
    await writeAll(client, new TextEncoder().encode(input));
    await client.closeWrite();
    await server.handleRequest();
    await readAllText(client);
  } finally {
    client.close();
  }
  return { outcome: outcome!, rest };
}

Deno.test("rfile.read(null) reads to EOF, as Python's read(None) and this rfile's readline(null) do", async () => {
  const { outcome, rest } = await serveOne("hello\nworld\n", (h) => h.rfile.read(null as never));
  assert.deepEqual(outcome, { text: "hello\nworld\n" });
  assert.equal(rest, "");
});

for (const size of [NaN, 2.5, Infinity]) {
  Deno.test(`rfile.read(${size}) throws TypeError, as Python's read() does, instead of reading a guess`, async () => {
    const { outcome, rest } = await serveOne("abc", (h) => h.rfile.read(size));
    assert.deepEqual(outcome, { error: "TypeError" });
    assert.equal(rest, "abc"); // nothing taken
  });

  Deno.test(`rfile.read1(${size}) throws TypeError, as Python's read1() does`, async () => {
    const { outcome, rest } = await serveOne("abc", (h) => h.rfile.read1(size));
    assert.deepEqual(outcome, { error: "TypeError" });
    assert.equal(rest, "abc");
  });
}
