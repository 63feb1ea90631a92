import assert from "node:assert/strict";
import {
  type BaseRequestHandler,
  LineTooLongError,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  TimeoutError,
} from "../mod.ts";
import {
  connectTcp,
  decoder,
  encoder,
  exchange,
  readAllText,
  readExactlyText,
  writeAll,
} from "./_net.ts";

const LOCAL = { hostname: "127.0.0.1", port: 0 };

/** Runs one request through a fresh server with handler `H`; `client` talks. */
async function withServer<T>(
  H: typeof BaseRequestHandler<TCPServer>,
  client: (address: Deno.NetAddr & { transport: "tcp" }) => Promise<T>,
): Promise<T> {
  class Quiet extends TCPServer {
    errors: unknown[] = [];
    override handleError(_r: Deno.TcpConn, _a: Deno.NetAddr, error: unknown) {
      this.errors.push(error);
    }
  }
  await using server = new Quiet(LOCAL, H);
  const handled = server.handleRequest();
  const result = await client(server.serverAddress);
  await handled;
  if (server.errors.length > 0) throw server.errors[0];
  return result;
}

Deno.test("rfile.readline() returns lines with their newline, then the rest at EOF, then empty", async () => {
  const lines: string[] = [];
  class Lines extends StreamRequestHandler {
    override async handle() {
      for (let i = 0; i < 4; i++) lines.push(decoder.decode(await this.rfile.readline()));
    }
  }
  await withServer(Lines, (address) => exchange(address, "one\ntwo\nthree"));
  assert.deepEqual(lines, ["one\n", "two\n", "three", ""]);
});

Deno.test("rfile.read(n) returns n bytes across many small writes, fewer only at EOF; read() reads to EOF", async () => {
  const got: string[] = [];
  class Reads extends StreamRequestHandler {
    override async handle() {
      got.push(decoder.decode(await this.rfile.read(5)));
      got.push(decoder.decode(await this.rfile.read(3)));
      got.push(decoder.decode(await this.rfile.read()));
      got.push(decoder.decode(await this.rfile.read(10)));
    }
  }
  await withServer(Reads, async (address) => {
    const conn = await connectTcp(address);
    for (const piece of ["a", "bc", "de", "fgh", "ijklmnop"]) {
      await conn.write(encoder.encode(piece));
    }
    await conn.closeWrite();
    await readAllText(conn);
    conn.close();
  });
  assert.deepEqual(got, ["abcde", "fgh", "ijklmnop", ""]);
});

Deno.test("rfile.read1() returns what one read brings, at most n bytes", async () => {
  const got: number[] = [];
  class Chunks extends StreamRequestHandler {
    override async handle() {
      for (;;) {
        const chunk = await this.rfile.read1(4096);
        got.push(chunk.length);
        if (chunk.length === 0) return;
        await this.wfile.write(chunk);
      }
    }
  }
  const payload = "x".repeat(10_000);
  const reply = await withServer(Chunks, (address) => exchange(address, payload));
  assert.equal(reply, payload);
  assert.ok(got.every((n) => n <= 4096));
  assert.equal(got.at(-1), 0);
});

Deno.test("rfile's for await yields every line, a line split over many writes included", async () => {
  const lines: string[] = [];
  class Lines extends StreamRequestHandler {
    override async handle() {
      for await (const line of this.rfile) lines.push(decoder.decode(line));
    }
  }
  await withServer(Lines, async (address) => {
    const conn = await connectTcp(address);
    for (const piece of ["he", "llo\nwor", "ld\n", "\n", "last"]) {
      await conn.write(encoder.encode(piece));
    }
    await conn.closeWrite();
    await readAllText(conn);
    conn.close();
  });
  assert.deepEqual(lines, ["hello\n", "world\n", "\n", "last"]);
});

Deno.test("wfile.write() takes bytes or UTF-8 strings and resolves to the byte count", async () => {
  const counts: number[] = [];
  class Writes extends StreamRequestHandler {
    override async handle() {
      counts.push(await this.wfile.write("héllo "));
      counts.push(await this.wfile.write(encoder.encode("wörld")));
    }
  }
  const reply = await withServer(Writes, (address) => exchange(address, ""));
  assert.equal(reply, "héllo wörld");
  assert.deepEqual(counts, [7, 6]);
});

Deno.test("wfile.write(): a multi-megabyte reply reaches a slow reader in full before the connection closes", async () => {
  const size = 8 * 1024 * 1024;
  class Big extends StreamRequestHandler {
    override async handle() {
      const block = new Uint8Array(size);
      for (let i = 0; i < size; i++) block[i] = i % 251;
      await this.wfile.write(block);
    }
  }
  await withServer(Big, async (address) => {
    const conn = await connectTcp(address);
    // read slowly: small reads, yielding between them
    const buf = new Uint8Array(16 * 1024);
    let total = 0;
    let ok = true;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      for (let i = 0; i < n; i++) if (buf[i] !== (total + i) % 251) ok = false;
      total += n;
      if (total % (1024 * 1024) < n) await new Promise((r) => setTimeout(r, 1));
    }
    conn.close();
    assert.equal(total, size);
    assert.ok(ok, "bytes arrived intact and in order");
  });
});

Deno.test("wfile.write(): a slow reader gets a 4 MiB reply intact on the normal close path, though the handler returned long before", async () => {
  const size = 4 * 1024 * 1024;
  let returned = -1;
  class Big extends StreamRequestHandler {
    override handle() {
      const block = new Uint8Array(size);
      for (let i = 0; i < size; i++) block[i] = i % 251;
      this.wfile.write(block); // not awaited: the close must wait for it
      returned = performance.now();
    }
  }
  await withServer(Big, async (address) => {
    const conn = await connectTcp(address);
    const buf = new Uint8Array(16 * 1024);
    let total = 0;
    let bad = -1;
    try {
      for (;;) {
        // 16 KiB every 3 ms: about 750 ms for the whole reply, far slower
        // than the server writes, so most of it waits in the kernel
        const n = await conn.read(buf);
        if (n === null) break;
        for (let i = 0; i < n && bad < 0; i++) if (buf[i] !== (total + i) % 251) bad = total + i;
        total += n;
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    } finally {
      conn.close();
    }
    assert.ok(returned > 0 && performance.now() - returned > 200, "the handler returned early");
    assert.equal(bad, -1, `byte ${bad} is wrong`);
    assert.equal(total, size);
  });
});

Deno.test("wfile.write() calls issued without awaiting go out in call order, unmixed, and all before the close", async () => {
  class Burst extends StreamRequestHandler {
    override handle() {
      // not awaited on purpose: finish() must still deliver them all, in order
      for (let i = 0; i < 50; i++) this.wfile.write(`${i}:${"y".repeat(20_000)}\n`);
    }
  }
  const reply = await withServer(Burst, (address) => exchange(address, ""));
  const lines = reply.split("\n").filter(Boolean);
  assert.equal(lines.length, 50);
  lines.forEach((line, i) => assert.equal(line, `${i}:${"y".repeat(20_000)}`));
});

Deno.test("wbufsize > 0: writes are collected and sent on flush() or at finish()", async () => {
  let beforeFlush = -1;
  class Buffered extends StreamRequestHandler {
    override wbufsize = 1024;
    override async handle() {
      await this.wfile.write("a");
      await this.wfile.write("b");
      beforeFlush = this.wfile.buffered;
      await this.wfile.flush();
      await this.wfile.write("c"); // left for finish()
    }
  }
  const reply = await withServer(Buffered, (address) => exchange(address, ""));
  assert.equal(beforeFlush, 2);
  assert.equal(reply, "abc");
});

Deno.test("rbufsize sets the read buffer, and a line longer than it is still read whole", async () => {
  const lengths: number[] = [];
  class Small extends StreamRequestHandler {
    override rbufsize = 8;
    override async handle() {
      for await (const line of this.rfile) lengths.push(line.length);
    }
  }
  await withServer(Small, (address) => exchange(address, "a".repeat(100) + "\nbb\n"));
  assert.deepEqual(lengths, [101, 3]);
});

Deno.test("rbufsize is the size of rfile's buffer: read1() never returns more than it", async () => {
  const chunks: number[] = [];
  class Small extends StreamRequestHandler {
    override rbufsize = 8;
    override async handle() {
      for (;;) {
        const chunk = await this.rfile.read1(); // default n: the buffer's size
        if (chunk.length === 0) break;
        chunks.push(chunk.length);
      }
    }
  }
  await withServer(Small, (address) => exchange(address, "x".repeat(100)));
  assert.equal(chunks.reduce((a, b) => a + b, 0), 100);
  assert.ok(Math.max(...chunks) <= 8, `chunks of ${chunks.join(", ")} bytes`);
  assert.ok(chunks.length >= 13);
});

Deno.test("rfile.readline(): a line longer than maxLineLength throws LineTooLongError naming the limit", async () => {
  let caught: unknown;
  class Limited extends StreamRequestHandler {
    override maxLineLength = 100;
    override async handle() {
      try {
        await this.rfile.readline();
      } catch (error) {
        caught = error;
      }
      // a size replaces the guard: the newline comes within 1000 bytes
      const line = await this.rfile.readline(1000);
      await this.wfile.write(`${line.length}\n`);
    }
  }
  const reply = await withServer(Limited, (address) => exchange(address, "z".repeat(500) + "\n"));
  assert.ok(caught instanceof LineTooLongError);
  assert.equal(caught.limit, 100);
  assert.match(caught.message, /limit of 100 bytes.*maxLineLength/);
  assert.equal(reply, "501\n"); // the refused bytes stayed buffered
});

Deno.test("timeout bounds each read with TimeoutError, and a read after it loses nothing", async () => {
  let caught: unknown;
  const timedOut = Promise.withResolvers<void>();
  class Impatient extends StreamRequestHandler {
    override timeout = 30;
    override async handle() {
      try {
        await this.rfile.readline();
      } catch (error) {
        caught = error;
        timedOut.resolve();
      }
      this.rfile.timeout = null;
      await this.wfile.write(await this.rfile.readline());
    }
  }
  const reply = await withServer(Impatient, async (address) => {
    const conn = await connectTcp(address);
    await conn.write(encoder.encode("par"));
    await timedOut.promise;
    await conn.write(encoder.encode("tial\n"));
    const text = await readExactlyText(conn, 8);
    conn.close();
    return text;
  });
  assert.ok(caught instanceof TimeoutError);
  assert.ok(caught instanceof Deno.errors.TimedOut);
  assert.match(caught.message, /within 30 ms/);
  assert.equal(reply, "partial\n");
});

Deno.test("disableNagleAlgorithm sets TCP_NODELAY on the connection", async () => {
  const calls: (boolean | undefined)[] = [];
  class NoDelay extends StreamRequestHandler {
    override disableNagleAlgorithm = true;
    override setup() {
      const original = this.request.setNoDelay.bind(this.request);
      this.request.setNoDelay = (v?: boolean) => (calls.push(v), original(v));
      super.setup();
    }
  }
  class Default extends StreamRequestHandler {
    override setup() {
      this.request.setNoDelay = (v?: boolean) => void calls.push(v);
      super.setup();
    }
  }
  await withServer(NoDelay, (address) => exchange(address, ""));
  assert.deepEqual(calls, [true]);
  await withServer(Default, (address) => exchange(address, ""));
  assert.deepEqual(calls, [true]);
});

Deno.test("connection is the request, and rfile/wfile are closed after finish()", async () => {
  let handler: StreamRequestHandler | undefined;
  class Keep extends StreamRequestHandler {
    override handle() {
      handler = this;
      assert.equal(this.connection, this.request);
    }
  }
  await withServer(Keep, (address) => exchange(address, ""));
  assert.equal(handler!.rfile.closed, true);
  assert.equal(handler!.wfile.closed, true);
  await assert.rejects(handler!.wfile.write("late"), Deno.errors.BadResource);
});

Deno.test("ThreadingTCPServer: many clients at once each get their own lines back", async () => {
  class Echo extends StreamRequestHandler {
    override async handle() {
      for await (const line of this.rfile) await this.wfile.write(line);
    }
  }
  await using server = new ThreadingTCPServer(LOCAL, Echo);
  const serving = server.serveForever();
  const replies = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const conn = await connectTcp(server.serverAddress);
    const text = Array.from({ length: 20 }, (_, j) => `client ${i} line ${j}\n`).join("");
    await writeAll(conn, encoder.encode(text));
    await conn.closeWrite();
    const reply = await readAllText(conn);
    conn.close();
    return reply === text;
  }));
  assert.ok(replies.every(Boolean));
  await server.shutdown();
  await serving;
});
