/**
 * The two sides of back-pressure on an echo handler that does not await its replies: a client
 * that sends without reading is held back (`assertHeldBack()`), and one that reads while it sends
 * gets everything back (`assertEchoedWhileReading()`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { StreamRequestHandler } from "../mod.ts";
import { RecordingServer } from "./_servers.ts";
import { within } from "./_wait.ts";

const MIB = 1024 * 1024;
/** What the client tries to send: far beyond any kernel's socket buffers. */
const TOTAL = 128 * MIB;
/** What the server may take in while its replies go unread: the kernel's buffers (a few MiB on
 * loopback each way) and a bounded queue of replies. */
const BOUND = 48 * MIB;

type EchoClass = new (...args: never[]) => StreamRequestHandler;

/** Resolves once the server's bytes read grew by less than 64 KiB in 100 ms: it has stopped
 * reading (polled: no event says so). */
async function stoppedReading(server: RecordingServer, done: () => boolean): Promise<void> {
  let last = -Infinity;
  for (;;) {
    const read = server.stats().bytesRead;
    if (done() || (read > 0 && read - last < 64 * 1024)) return;
    last = read;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A client pipelines 1 KiB lines and never reads: the server must stop taking them in within
 * `BOUND` bytes. */
export async function assertHeldBack(Handler: EchoClass): Promise<void> {
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Handler as never);
  server.serveForever();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
  const line = new TextEncoder().encode("x".repeat(1023) + "\n");
  const batch = new Uint8Array(MIB);
  for (let i = 0; i < MIB / line.length; i++) batch.set(line, i * line.length);
  let sent = 0;
  let finished = false;
  const sender = (async () => {
    try {
      while (sent < TOTAL) {
        for (let n = 0; n < batch.length;) n += await conn.write(batch.subarray(n));
        sent += batch.length;
      }
    } catch {
      // closed below while it waits for the server to read
    } finally {
      finished = true;
    }
  })();
  try {
    await within(stoppedReading(server, () => finished), 60_000, "the server to stop reading");
    const read = server.stats().bytesRead;
    assert.ok(
      read <= BOUND,
      `the server took in ${Math.round(read / MIB)} MiB of the ${
        Math.round(sent / MIB)
      } MiB sent by a client that reads nothing (bound: ${BOUND / MIB} MiB)`,
    );
  } finally {
    conn.close();
    await sender;
  }
}

/** A client sends 16 MiB of lines while it reads: every byte must come back, in order. */
export async function assertEchoedWhileReading(Handler: EchoClass): Promise<void> {
  await using server = new RecordingServer({ hostname: "127.0.0.1", port: 0 }, Handler as never);
  server.serveForever();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
  const total = 16 * MIB;
  const sent = new Uint8Array(total);
  for (let i = 0; i < total; i++) {
    sent[i] = i % 1024 === 1023 ? 10 : 97 + (Math.floor(i / 1024) % 26);
  }
  const writing = (async () => {
    for (let n = 0; n < total;) n += await conn.write(sent.subarray(n, n + MIB));
    await conn.closeWrite();
  })();
  const received = new Uint8Array(total);
  let got = 0;
  const reading = (async () => {
    const buf = new Uint8Array(256 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      received.set(buf.subarray(0, n), got);
      got += n;
    }
  })();
  try {
    await within(Promise.all([writing, reading]), 60_000, "the echo of 16 MiB");
    assert.equal(got, total);
    assert.ok(received.every((b, i) => b === sent[i]), "every byte back, in order");
  } finally {
    conn.close();
  }
}
