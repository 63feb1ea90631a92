/**
 * Shared pieces of the hardening tests: a server that records what reaches
 * `handleError()` and `handleDrop()`, clients that misbehave on purpose, and
 * small byte helpers.
 *
 * @module
 */
import net from "node:net";
import { ThreadingTCPServer } from "../mod.ts";

export const encoder: TextEncoder = new TextEncoder();
export const decoder: TextDecoder = new TextDecoder();

/** The name of an error, or `"EOF"` for `null`. */
export function errorName(error: unknown): string {
  if (error === null) return "EOF";
  return error instanceof Error ? error.name : String(error);
}

/** A threading TCP server on 127.0.0.1 that records the errors reaching
 * `handleError()` and `handleDrop()` instead of printing them, and lets a
 * test await the next drop. */
export class RecordingServer extends ThreadingTCPServer {
  errors: unknown[] = [];
  drops: unknown[] = [];
  #dropWaiters: Array<() => void> = [];

  override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    this.errors.push(error);
  }

  override handleDrop(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    this.drops.push(error);
    for (const wake of this.#dropWaiters.splice(0)) wake();
  }

  /** Stops and closes, forcing connections closed after 2 s: a test whose
   * behaviour broke fails instead of hanging on its handlers. */
  override async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
    await this.serverClose({ graceMs: 2000 });
  }

  /** Resolves once at least `count` drops have been recorded. */
  async dropped(count = 1): Promise<void> {
    while (this.drops.length < count) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#dropWaiters.push(resolve);
      await promise;
    }
  }
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

/** Reads exactly `n` bytes (fewer only at EOF). */
export async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const read = await conn.read(out.subarray(got));
    if (read === null) break;
    got += read;
  }
  return out.subarray(0, got);
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

/** The number of descriptors process `pid` (default: this one) has open,
 * on Linux. Deno lets only `--allow-all` list `/proc/<pid>/fd`, so the
 * count comes from a python3 child (already a test permission). */
export async function openDescriptors(pid: number = Deno.pid): Promise<number> {
  const { stdout, success } = await new Deno.Command("python3", {
    args: ["-c", "import os, sys; print(len(os.listdir(f'/proc/{sys.argv[1]}/fd')))", `${pid}`],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!success) throw new Error(`Could not count the descriptors of process ${pid}`);
  return Number(decoder.decode(stdout).trim());
}
