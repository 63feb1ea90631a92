/**
 * {@linkcode sendall}: Python's `socket.sendall()` for a raw connection —
 * what a `BaseRequestHandler` ports `self.request.sendall(data)` to.
 *
 * @module
 */
import type { ByteSink } from "./stream_writer.ts";
import { queueSend } from "./_conn_files.ts";
import { notBytesError } from "./_format.ts";

const encoder = new TextEncoder();

/**
 * Sends all of `data` on `conn`, as Python's `socket.sendall()`: `Deno.Conn.write()` may take only
 * part. Calls on one connection go out whole, in call order, even unawaited; like Python's, it has
 * no deadline of its own. See docs/porting.md, "sendall()".
 *
 * @param conn A `Deno.Conn` (`this.request` in a handler), or anything with its `write()`.
 * @param data The bytes to send; a string is sent as UTF-8.
 * @returns Once every byte is written.
 * @throws {Deno.errors.WriteZero} `conn.write()` took nothing of a non-empty buffer.
 * @throws {Deno.errors.BrokenPipe} The client is gone (or whatever else `conn.write()` throws).
 *
 * @example The seed's handler: `self.request.sendall(self.data.upper())`
 * ```ts
 * import { BaseRequestHandler, sendall, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class MyTCPHandler extends BaseRequestHandler {
 *   override async handle() {
 *     const buffer = new Uint8Array(1024);
 *     const n = await this.request.read(buffer) ?? 0;
 *     const data = new TextDecoder().decode(buffer.subarray(0, n)).trim();
 *     await sendall(this.request, data.toUpperCase());
 *   }
 * }
 * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, MyTCPHandler);
 * server.serveForever();
 * const conn = await Deno.connect(server.serverAddress);
 * await sendall(conn, "hello world\n");
 * assert.equal(await new Response(conn.readable).text(), "HELLO WORLD");
 * ```
 */
export function sendall(conn: ByteSink, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  // an ArrayBuffer has no length: the loop below would send nothing and resolve
  if (!(bytes instanceof Uint8Array)) return Promise.reject(notBytesError("sendall()", data));
  return queueSend(conn, bytes, send);
}

async function send(conn: ByteSink, bytes: Uint8Array): Promise<void> {
  let sent = 0;
  while (sent < bytes.length) {
    const n = await conn.write(bytes.subarray(sent));
    if (n === 0) {
      throw new Deno.errors.WriteZero(
        `The connection took 0 of ${bytes.length - sent} bytes: it cannot send any more; close it`,
      );
    }
    sent += n;
  }
}
