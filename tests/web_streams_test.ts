/**
 * `rfile.readable` and `wfile.writable`: Web Streams inside a handler that
 * start with what the reader buffered, hold the client back when not read,
 * honour `writeTimeout`, leave the connection to the server to close — and
 * the raw `this.request.readable` trap, which they avoid. The memory bound
 * of a 64 MiB upload through `TextDecoderStream` is measured in a
 * subprocess, with a control that buffers the whole upload.
 */
import assert from "node:assert/strict";
import {
  BufferedReader,
  type ByteSource,
  sendall,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  TimeoutError,
} from "../mod.ts";
import { runHandler, withServer } from "../testing.ts";
import { readLineWithin } from "./_net.ts";
import { hasCommand, runCommand, Subprocess } from "./_process.ts";
import { within } from "./_wait.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Sends `request`, half-closes, and reads the reply to its end: the end
 * proves the server closed the connection. */
async function exchange(
  address: Deno.ConnectOptions,
  request: Uint8Array | string,
): Promise<string> {
  const conn = await Deno.connect(address);
  await sendall(conn, request);
  await conn.closeWrite();
  return await new Response(conn.readable).text();
}

Deno.test("rfile.readable yields what readline() left buffered, then the socket, through TextDecoderStream; the handler writes after its end and the server closes the connection after finish()", async () => {
  class Body extends StreamRequestHandler {
    override timeout = 10_000;
    override async handle() {
      const head = decoder.decode(await this.rfile.readline()).trim();
      const parts = await Array.fromAsync(this.rfile.readable.pipeThrough(new TextDecoderStream()));
      await this.wfile.write(`${head}: ${parts.join("").length} characters\n`);
    }
  }
  await withServer(ThreadingTCPServer, Body, async (_server, address) => {
    // "ééé" straddles reads: the head and the start of the body come in one segment
    const body = "é".repeat(100_000);
    assert.equal(await exchange(address, `upload\n${body}`), "upload: 100000 characters\n");
  });
});

Deno.test("rfile.readable.pipeTo(wfile.writable) echoes a 4 MiB upload whole, the handler writes after it, and the server closes the connection after finish()", async () => {
  class Echo extends StreamRequestHandler {
    override timeout = 10_000;
    override async handle() {
      await this.rfile.readable.pipeTo(this.wfile.writable);
      await this.wfile.write("end\n");
    }
  }
  await withServer(ThreadingTCPServer, Echo, async (_server, address) => {
    const upload = new Uint8Array(4 << 20).map((_, i) => 0x61 + (i % 26));
    const conn = await Deno.connect(address);
    const [, reply] = await Promise.all([
      sendall(conn, upload).then(() => conn.closeWrite()),
      new Response(conn.readable).arrayBuffer(),
    ]);
    assert.equal(reply.byteLength, upload.length + 4);
    assert.deepEqual(new Uint8Array(reply, 0, upload.length), upload);
    assert.equal(decoder.decode(new Uint8Array(reply, upload.length)), "end\n");
  });
});

Deno.test("rfile.readable reads the source only when its consumer asks: one read per chunk taken, none ahead", async () => {
  let reads = 0;
  const endless: ByteSource = {
    read(p) {
      reads++;
      p.fill(0x61, 0, 100);
      return Promise.resolve(100);
    },
  };
  const reader = new BufferedReader(endless);
  const stream = reader.readable;
  assert.equal(reader.readable, stream); // one stream per reader
  await new Promise((resolve) => setTimeout(resolve, 0)); // a turn: nothing pulls by itself
  assert.equal(reads, 0);
  const chunks = stream.getReader();
  for (let i = 1; i <= 3; i++) {
    assert.equal((await chunks.read()).value?.length, 100);
    assert.equal(reads, i);
  }
  await chunks.cancel();
});

Deno.test("wfile.writable honours writeTimeout: piping into a client that reads nothing ends in a TimeoutError, a drop, and the client sees the connection closed", async () => {
  class Flood extends StreamRequestHandler {
    override writeTimeout = 50;
    override async handle() {
      let sent = 0;
      const source = new ReadableStream<Uint8Array>({
        pull(controller) {
          if ((sent += 65536) > 64 << 20) controller.close(); // bounded: 64 MiB at most
          else controller.enqueue(new Uint8Array(65536));
        },
      });
      await source.pipeTo(this.wfile.writable);
    }
  }
  await using run = runHandler(Flood);
  const { drops } = await run.done;
  assert.ok(drops[0] instanceof TimeoutError, String(drops[0]));
  assert.equal(drops[0].attribute, "writeTimeout");
  const received = await new Response(run.client.readable).arrayBuffer(); // then EOF
  assert.ok(received.byteLength < 64 << 20, String(received.byteLength));
});

Deno.test("the raw this.request.readable trap: a write after reading it to its end fails with a BadResource that says to read this.rfile.readable, and the server serves on", async () => {
  const errors: unknown[] = [];
  class Recording extends ThreadingTCPServer {
    override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error?: unknown) {
      errors.push(error);
    }
  }
  class Raw extends StreamRequestHandler {
    override async handle() {
      const text = await new Response(this.request.readable).text(); // closes the connection
      await this.wfile.write(text.toUpperCase());
    }
  }
  await withServer(Recording, Raw, async (_server, address) => {
    assert.equal(await exchange(address, "one"), "");
    assert.equal(await exchange(address, "two"), "");
  });
  assert.equal(errors.length, 2);
  for (const error of errors) {
    assert.ok(error instanceof Deno.errors.BadResource, String(error));
    assert.match(error.message, /read this\.rfile\.readable rather than this\.request\.readable/);
  }
});

Deno.test("the raw this.request.readable read to its end by a handler that writes nothing: the server's close path takes the closed connection without an error or a drop, and frees its maxConnections slot", async () => {
  const reported: unknown[] = [];
  class Recording extends ThreadingTCPServer {
    override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error?: unknown) {
      reported.push(error);
    }
    override handleDrop(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
      reported.push(error);
    }
  }
  const lengths: number[] = [];
  class Sink extends StreamRequestHandler {
    override async handle() {
      lengths.push((await new Response(this.request.readable).arrayBuffer()).byteLength);
    }
  }
  await withServer(
    Recording,
    Sink,
    { serverOptions: { maxConnections: 1 } },
    async (_server, address) => {
      for (let i = 0; i < 3; i++) assert.equal(await exchange(address, "x".repeat(i + 1)), "");
    },
  );
  assert.deepEqual(lengths, [1, 2, 3]);
  assert.deepEqual(reported, []);
});

Deno.test({
  name:
    "a handler piping a 64 MiB upload through rfile.readable and TextDecoderStream grows the server's peak RSS by less than 32 MiB; buffering it whole grows it by more than 64 MiB (the control)",
  ignore: !hasCommand("python3"),
  async fn() {
    const growth = async (flags: string[]) => {
      await using server = new Subprocess("deno", [
        "run",
        "--allow-net=127.0.0.1",
        new URL("./fixtures/streams_upload_server.ts", import.meta.url).pathname,
        ...flags,
      ]);
      const port = Number((await server.waitFor(/"port":(\d+)/))[1]);
      const address = { transport: "tcp" as const, hostname: "127.0.0.1", port };
      const chunk = encoder.encode("héllo wörld\n".repeat(5000)); // 70,000 bytes
      const upload = async (bytes: number) => {
        const conn = await Deno.connect(address);
        let chars = 0;
        for (let sent = 0; sent < bytes; sent += chunk.length) {
          await sendall(conn, chunk);
          chars += 60_000;
        }
        await conn.closeWrite();
        assert.equal(await new Response(conn.readable).text(), `${chars}\n`);
      };
      await upload(1 << 20); // warm up: the code paths compiled, the buffers made
      // The peak RSS (VmHWM) reset to the current RSS, read by python3: Deno
      // lets only --allow-all read /proc
      const proc = (action: string) =>
        runCommand("python3", [
          "-c",
          `import re, sys
pid = sys.argv[1]
if sys.argv[2] == "reset":
    open(f"/proc/{pid}/clear_refs", "w").write("5")
status = open(f"/proc/{pid}/status").read()
print(re.search(r"VmHWM:\\s+(\\d+)", status).group(1))`,
          String(server.child.pid),
          action,
        ]);
      const before = await proc("reset");
      assert.equal(before.code, 0, before.stderr);
      await upload(64 << 20);
      const after = await proc("peak");
      assert.equal(after.code, 0, after.stderr);
      server.child.stdin.close();
      return (Number(after.stdout) - Number(before.stdout)) / 1024; // MiB
    };
    const streamed = await growth([]);
    const buffered = await growth(["--buffer"]);
    console.log(
      `peak RSS growth over a 64 MiB upload: ${streamed.toFixed(1)} MiB streamed, ${
        buffered.toFixed(1)
      } MiB buffered`,
    );
    assert.ok(streamed < 32, `streamed: ${streamed.toFixed(1)} MiB`);
    assert.ok(buffered > 64, `the control: ${buffered.toFixed(1)} MiB`);
  },
});

Deno.test("rfile.readable under timeout: a client that sends nothing errors the stream with TimeoutError, which pipeTo() passes on; uncaught, the request ends through handleDrop(), not handleError()", async () => {
  const seen = { drops: [] as unknown[], errors: [] as unknown[], piped: null as unknown };
  class Pipe extends StreamRequestHandler {
    override timeout = 50;
    override async handle() {
      await this.wfile.write("ready\n");
      try {
        await this.rfile.readable.pipeTo(new WritableStream());
      } catch (error) {
        seen.piped = error;
        throw error;
      }
    }
  }
  class Server extends TCPServer {
    override handleDrop(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
      seen.drops.push(error);
    }
    override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
      seen.errors.push(error);
    }
  }
  const server = new Server({ hostname: "127.0.0.1", port: 0 }, Pipe);
  const serving = server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    const reply = await within(new Response(conn.readable).text(), 5_000, "the server's close");
    assert.equal(reply, "ready\n"); // then EOF: the request ended
  } finally {
    try {
      conn.close();
    } catch { /* the readable closed it */ }
  }
  await within(server.shutdown(), 5_000, "shutdown()");
  await serving;
  await within(server.serverClose(), 5_000, "serverClose()");
  assert.ok(seen.piped instanceof TimeoutError, String(seen.piped));
  assert.equal(seen.drops.length, 1);
  assert.ok(seen.drops[0] instanceof TimeoutError, String(seen.drops[0]));
  assert.deepEqual(seen.errors, []);
});

Deno.test("wfile.writable closed, as pipeTo() does when its source ends, flushes a buffered wfile (wbufsize > 0): the client has the bytes while the handler still runs; the stream is the same at every access", async () => {
  class Buffered extends StreamRequestHandler {
    override wbufsize = 1 << 16;
    override async handle() {
      const writable = this.wfile.writable;
      assert.equal(this.wfile.writable, writable); // one stream per file
      await ReadableStream.from([encoder.encode("piped\n")]).pipeTo(writable);
      // the client answers only once it has the piped line: no flush, no answer
      const ack = decoder.decode(await this.rfile.readline()).trim();
      await this.wfile.write(`after ${ack}\n`);
    }
  }
  const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Buffered);
  const serving = server.serveForever();
  const conn = await Deno.connect(server.serverAddress);
  try {
    assert.equal(await readLineWithin(conn, 5_000), "piped");
    await sendall(conn, "ack\n");
    assert.equal(await readLineWithin(conn, 5_000), "after ack");
    assert.equal(await readLineWithin(conn, 5_000), null); // the server closed after finish()
  } finally {
    conn.close();
  }
  await within(server.shutdown(), 5_000, "shutdown()");
  await serving;
  await within(server.serverClose(), 5_000, "serverClose()");
});

Deno.test("the raw streams' other ways to close the connection: this.request.readable cancelled, this.request.writable closed or aborted; the handler's next wfile.write() fails with a BadResource, the client gets no reply, and the server serves on", async () => {
  const errors: unknown[] = [];
  class Recording extends ThreadingTCPServer {
    override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error?: unknown) {
      errors.push(error);
    }
  }
  class Raw extends StreamRequestHandler {
    override async handle() {
      const how = decoder.decode(await this.rfile.readline()).trim();
      if (how === "cancel") await this.request.readable.cancel();
      else if (how === "close") await this.request.writable.close();
      else await this.request.writable.abort();
      await this.wfile.write(`${how} done\n`);
    }
  }
  await withServer(Recording, Raw, async (_server, address) => {
    for (const how of ["cancel", "close", "abort"]) {
      assert.equal(await exchange(address, `${how}\n`), "", how);
    }
  });
  assert.equal(errors.length, 3);
  for (const error of errors) assert.ok(error instanceof Deno.errors.BadResource, String(error));
});
