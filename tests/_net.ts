/**
 * Client-side socket helpers: connecting, writing, and the ways of reading a
 * reply (to EOF, exactly n bytes, one line). Each read says in its name what
 * it returns and where it stops.
 *
 * @module
 */
import net from "node:net";
import { within } from "./_wait.ts";

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/** A port free right now on `hostname` (bound, then released) for a tool
 * that cannot be asked for port 0. */
export function freePort(hostname = "127.0.0.1"): number {
  using listener = Deno.listen({ hostname, port: 0 });
  return listener.addr.port;
}

/** Connects to a TCP address (the server's `serverAddress`). */
export function connectTcp(address: { hostname: string; port: number }): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: address.hostname, port: address.port });
}

/** Writes all of `bytes`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let n = 0;
  while (n < bytes.length) n += await conn.write(bytes.subarray(n));
}

/**
 * Reads a connection until EOF; a reset ends it too, and is reported. When
 * no EOF comes within `deadlineMs` it closes the connection and throws, so
 * that a broken behaviour fails the test rather than hanging it.
 */
export async function readToEnd(
  conn: Deno.Conn,
  deadlineMs = 5000,
): Promise<{ bytes: Uint8Array; error: unknown }> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  let error: unknown = null;
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    conn.close();
  }, deadlineMs);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
  } catch (e) {
    error = e;
  } finally {
    clearTimeout(timer);
  }
  if (expired) throw new Error(`No EOF from the server within ${deadlineMs} ms`);
  const bytes = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { bytes, error };
}

/** Reads until EOF (at most `deadlineMs`), as text; throws what the read
 * threw (see {@linkcode readToEnd} for a read that reports a reset). */
export async function readAllText(conn: Deno.Conn, deadlineMs = 5000): Promise<string> {
  const { bytes, error } = await readToEnd(conn, deadlineMs);
  if (error !== null) throw error;
  return decoder.decode(bytes);
}

/** Reads until EOF (at most `deadlineMs`), as bytes; throws what the read
 * threw. */
export async function readAllBytes(conn: Deno.Conn, deadlineMs = 10_000): Promise<Uint8Array> {
  const { bytes, error } = await readToEnd(conn, deadlineMs);
  if (error !== null) throw error;
  return bytes;
}

/** Reads exactly `n` bytes (or fewer at EOF), as text. */
export async function readExactlyText(conn: Deno.Conn, n: number): Promise<string> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) break;
    got += r;
  }
  return decoder.decode(out.subarray(0, got));
}

/** Reads one line byte by byte (so nothing after it is consumed) and
 * returns it without its newline; null at EOF. Rejects when no whole line
 * (nor EOF) came within `ms`; the read then stays pending until the caller
 * closes `conn`. */
export function readLineWithin(conn: Deno.Conn, ms = 10_000): Promise<string | null> {
  const read = async () => {
    const bytes: number[] = [];
    const one = new Uint8Array(1);
    while (true) {
      const n = await conn.read(one);
      if (n === null) return bytes.length > 0 ? decoder.decode(new Uint8Array(bytes)) : null;
      if (one[0] === 0x0a) return decoder.decode(new Uint8Array(bytes));
      bytes.push(one[0]);
    }
  };
  return within(read(), ms, "a line from the server");
}

/** Reads whole chunks until one holds a newline (or EOF, or `limit` bytes)
 * and returns them as text, newline included: for a peer that sends one
 * line and waits. Unbounded in time: wrap it in {@linkcode within}. */
export async function readThroughNewline(conn: Deno.Conn, limit = 1 << 16): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buf = new Uint8Array(1024);
  while (size < limit) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
    size += n;
    if (buf.subarray(0, n).includes(10)) break;
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) all.set(c, at), at += c.length;
  return decoder.decode(all);
}

/** Connects, sends `text`, half-closes, reads the whole reply and closes. */
export async function exchange(
  address: { hostname: string; port: number },
  text: string,
): Promise<string> {
  const conn = await connectTcp(address);
  try {
    await writeAll(conn, encoder.encode(text));
    await conn.closeWrite();
    return await readAllText(conn);
  } finally {
    conn.close();
  }
}

/** Connects, sends `line`, returns the first line of the reply (see
 * {@linkcode readLineWithin}); rejects when the reply takes longer than
 * `ms`. */
export async function ask(
  port: number,
  line: string,
  hostname = "127.0.0.1",
  ms = 10_000,
): Promise<string | null> {
  const connecting = Deno.connect({ hostname, port });
  const conn = await within(connecting, ms, `a connection to port ${port}`).catch((error) => {
    connecting.then((late) => late.close(), () => {}); // one that comes too late is closed
    throw error;
  });
  try {
    await conn.write(encoder.encode(line + "\n"));
    return await readLineWithin(conn, ms);
  } finally {
    conn.close();
  }
}

/**
 * Connects, sends `data`, and then resets the connection (a TCP RST, via
 * `SO_LINGER` 0 — which `Deno.Conn` cannot do, `node:net`'s
 * `resetAndDestroy()` can). Resolves once the socket is gone.
 *
 * @param port The server's port on 127.0.0.1.
 * @param data What to send before the reset.
 * @param before Awaited after sending and before resetting.
 */
export function sendThenReset(
  port: number,
  data: Uint8Array | string,
  before: () => Promise<unknown> = () => Promise.resolve(),
): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const socket = net.connect(port, "127.0.0.1", () => {
    socket.write(data, () => {
      before().then(() => socket.resetAndDestroy());
    });
  });
  socket.on("error", () => {});
  socket.on("close", () => resolve());
  return promise;
}
