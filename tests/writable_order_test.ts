/**
 * `wfile.writable` and the handler's other writes: a chunk becomes a
 * `wfile.write()` when the stream takes it, so one still queued in the
 * stream goes after a `wfile.write()` called meanwhile, and one awaited
 * goes before it (docs/streams.md).
 */
import assert from "node:assert/strict";
import { StreamWriter } from "../mod.ts";

const encoder = new TextEncoder();

/** A sink that takes each write a timer turn later, as a busy socket does. */
function slowSink(sent: string[]) {
  return {
    write: async (p: Uint8Array) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      sent.push(new TextDecoder().decode(p));
      return p.length;
    },
  };
}

Deno.test("wfile.writable: a chunk still queued in the stream goes out after a wfile.write() called meanwhile; awaiting the stream's write keeps call order", async () => {
  const sent: string[] = [];
  const wfile = new StreamWriter(slowSink(sent));
  const writer = wfile.writable.getWriter();
  await writer.ready;
  const a = writer.write(encoder.encode("a")); // taken at once: a wfile.write()
  const b = writer.write(encoder.encode("b")); // queued in the stream behind "a"
  const c = wfile.write("c");
  await Promise.all([a, b, c]);
  assert.deepEqual(sent, ["a", "c", "b"]);
  await writer.write(encoder.encode("d"));
  await writer.write(encoder.encode("e"));
  await wfile.write("f");
  writer.releaseLock();
  assert.deepEqual(sent.slice(3), ["d", "e", "f"]);
});
