/**
 * Nothing is kept for finished requests: the heap of a ThreadingTCPServer
 * (in a subprocess, measured after full garbage collections) is the same
 * after 20,000 connection-per-request requests as after the first 2,000 —
 * and the same measure does see a server that keeps one object per request.
 */
import assert from "node:assert/strict";
import { decoder, encoder } from "./_net.ts";
import { Fixture } from "./_process.ts";
import { within } from "./_wait.ts";

const PROGRAM = new URL("./fixtures/heap_server.ts", import.meta.url).pathname;
const CLIENTS = 16;

/** `count` requests from `CLIENTS` clients at once, each on a connection
 * of its own, numbered from `from`; every reply is checked. */
async function load(port: number, from: number, count: number): Promise<void> {
  let next = from;
  const end = from + count;
  const client = async () => {
    const buffer = new Uint8Array(64);
    while (next < end) {
      const i = next++;
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await conn.write(encoder.encode(`${i}\n`));
        let reply = "";
        for (let n; (n = await conn.read(buffer)) !== null;) {
          reply += decoder.decode(buffer.subarray(0, n));
        }
        assert.equal(reply, `ok ${i}\n`);
      } finally {
        conn.close();
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
}

/** Runs the heap server (`--leak`: the control) and hands `check` its heap
 * after the first 2,000 requests and after 20,000, then closes it. */
async function heapAfter(
  flags: string[],
  check: (first: number, last: number) => void,
): Promise<void> {
  await using fixture = new Fixture([
    "run",
    "--v8-flags=--expose-gc",
    "--allow-net=127.0.0.1",
    PROGRAM,
    ...flags,
  ]);
  const { port } = await fixture.next((e) => e.event === "listening");
  const heap = async (served: number) => {
    const from = fixture.events.length;
    await fixture.send("heap");
    const event = await fixture.next((e) => e.event === "heap", 20_000, from);
    assert.equal(event.served, served);
    assert.equal(event.active, 0);
    return event.heapUsed as number;
  };
  await within(load(port, 0, 2_000), 60_000, "the first 2,000 requests");
  const first = await heap(2_000);
  await within(load(port, 2_000, 18_000), 120_000, "18,000 more requests");
  const last = await heap(20_000);
  check(first, last);
  await fixture.send("close");
  await fixture.next((e) => e.event === "closed");
  assert.equal((await fixture.exited()).code, 0, fixture.output.join(""));
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => (bytes / MiB).toFixed(2);

Deno.test("ThreadingTCPServer's heap after 20,000 requests is within 10% of its heap after the first 2,000", async () => {
  await heapAfter([], (first, last) => {
    console.log(`heap: ${mib(first)} MiB after 2,000 requests, ${mib(last)} MiB after 20,000`);
    assert.ok(
      last <= first * 1.1,
      `the heap grew from ${mib(first)} to ${mib(last)} MiB: something is kept per request`,
    );
  });
});

Deno.test("ThreadingTCPServer's heap measure sees a leak: a server that keeps every connection grows past 10%", async () => {
  await heapAfter(["--leak"], (first, last) => {
    console.log(`leaking: ${mib(first)} MiB after 2,000 requests, ${mib(last)} MiB after 20,000`);
    assert.ok(
      last > first * 1.1,
      `a leak of 18,000 connections went unseen: ${mib(first)} → ${mib(last)} MiB`,
    );
  });
});
