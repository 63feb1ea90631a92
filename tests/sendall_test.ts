import assert from "node:assert/strict";
import { BaseRequestHandler, sendall, TCPServer } from "../mod.ts";
import { readToEnd } from "./_net.ts";
import { within } from "./_wait.ts";

const EIGHT_MIB = 8 * 1024 * 1024;

/** The README seed's handler with an 8 MiB reply instead of an echo of at
 * most 1 KiB (a `recv(1024)` cannot bring 8 MiB in): its send line,
 * `sendall(this.request, ...)`, unchanged. */
class EightMiBReply extends BaseRequestHandler {
  override async handle() {
    const buffer = new Uint8Array(1024);
    await this.request.read(buffer);
    const data = new Uint8Array(EIGHT_MIB);
    for (let i = 0; i < data.length; i++) data[i] = 0x41 + i % 26;
    await sendall(this.request, data);
  }
}

Deno.test("sendall() delivers an 8 MiB reply whole, as Python's sendall() does, where one write() sends part", async () => {
  await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, EightMiBReply);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    await sendall(conn, "hello\n");
    const { bytes, error } = await readToEnd(conn, 20_000);
    assert.equal(error, null);
    assert.equal(bytes.length, EIGHT_MIB, "bytes delivered before EOF");
    for (let i = 0; i < bytes.length; i += 4093) {
      assert.equal(bytes[i], 0x41 + i % 26, `byte ${i}`);
    }
  } finally {
    conn.close();
  }
});

Deno.test("sendall() writes again after each partial write, from where the last one stopped", async () => {
  const sent: number[] = [];
  const partial = {
    write(p: Uint8Array) {
      const n = Math.min(p.length, 4);
      sent.push(...p.subarray(0, n));
      return Promise.resolve(n);
    },
  };
  const data = Uint8Array.from({ length: 10 }, (_, i) => i);
  await sendall(partial, data);
  assert.deepEqual(sent, [...data]);
  await sendall(partial, "");
  assert.equal(sent.length, 10, "nothing to send: no write");
});

Deno.test("sendall() sends a string as UTF-8", async () => {
  const chunks: Uint8Array[] = [];
  await sendall({ write: (p) => (chunks.push(p.slice()), Promise.resolve(p.length)) }, "é€\n");
  assert.deepEqual(chunks, [new TextEncoder().encode("é€\n")]);
});

Deno.test("sendall() rejects with WriteZero when a write takes nothing, instead of looping for ever", async () => {
  let writes = 0;
  const stuck = { write: () => (writes++, Promise.resolve(0)) };
  await assert.rejects(
    within(sendall(stuck, "abc"), 1_000, "sendall() to give up"),
    (error) => error instanceof Deno.errors.WriteZero && /took 0 of 3 bytes/.test(error.message),
  );
  assert.equal(writes, 1);
});

Deno.test("sendall() rejects with the write's error when the client has gone", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  listener.close();
  client.close();
  try {
    // the first writes may land in the kernel before the reset comes back
    await assert.rejects(
      within(sendall(conn, new Uint8Array(EIGHT_MIB)), 10_000, "the write to fail"),
      (error) =>
        error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BrokenPipe,
    );
  } finally {
    conn.close();
  }
});

Deno.test("sendall() left un-awaited by a handler is sent in full before the close, a client resetting under it ends nothing, and the server serves on", async () => {
  class Forgetful extends BaseRequestHandler {
    override handle() {
      sendall(this.request, new Uint8Array(EIGHT_MIB)); // no await: the handler returns at once
    }
  }
  await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Forgetful);
  server.serveForever();
  // a client that resets after the first bytes: the sendall() fails, no caller awaits it
  const rude = await Deno.connect(server.serverAddress);
  await rude.read(new Uint8Array(1024));
  rude.close(); // with unread bytes: a reset
  for (let i = 0; i < 2; i++) {
    const conn = await Deno.connect(server.serverAddress);
    try {
      const { bytes, error } = await readToEnd(conn, 20_000);
      assert.equal(error, null);
      assert.equal(bytes.length, EIGHT_MIB, "bytes delivered before EOF");
    } finally {
      conn.close();
    }
  }
  // a rejection nobody handled would have failed this test (and ended a real server)
});

Deno.test("sendall() twice at once on one connection sends the two in call order, never interleaving their parts", async () => {
  const HALF = 4 * 1024 * 1024;
  class TwoAtOnce extends BaseRequestHandler {
    override async handle() {
      await Promise.all([
        sendall(this.request, new Uint8Array(HALF).fill(0x61)),
        sendall(this.request, new Uint8Array(HALF).fill(0x62)),
      ]);
    }
  }
  await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, TwoAtOnce);
  server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    const { bytes, error } = await readToEnd(conn, 20_000);
    assert.equal(error, null);
    assert.equal(bytes.length, 2 * HALF);
    const firstB = bytes.indexOf(0x62);
    assert.equal(firstB, HALF, "the second call's first byte comes after the whole first call");
    assert.equal(bytes.lastIndexOf(0x61), HALF - 1, "no byte of the first call after it");
  } finally {
    conn.close();
  }
});
