/**
 * {@linkcode StreamRequestHandler}: a handler with buffered `rfile` and `wfile`.
 *
 * @module
 */

import type { AnyServer, Awaitable, ClientAddressOf, RequestOf } from "./base_server.ts";
import { BaseRequestHandler } from "./base_request_handler.ts";
import type { TCPServer } from "./tcp_server.ts";
import { BufferedReader, DEFAULT_BUFFER_SIZE, DEFAULT_MAX_LINE_LENGTH } from "./buffered_reader.ts";
import { StreamWriter } from "./stream_writer.ts";
import { watchConnection } from "./_conn_files.ts";
import { checkDuration } from "./_checks.ts";
import { kReportError, kReportLost } from "./_symbols.ts";

/**
 * A handler for stream connections, Python's
 * `socketserver.StreamRequestHandler`: `setup()` gives it `rfile`, a
 * {@linkcode BufferedReader} over the connection, and `wfile`, a
 * {@linkcode StreamWriter} to it; `finish()` flushes `wfile`. The server
 * closes the connection after `finish()`, once everything written has been
 * handed to the kernel, so the client receives all of it.
 *
 * Attributes, set as fields in a subclass: `rbufsize`, `wbufsize`,
 * `timeout` (ms per read), `idleTimeout` (ms between requests),
 * `requestTimeout` (ms per request once begun), `writeTimeout` (ms per
 * write; `timeout` when not set), `disableNagleAlgorithm`,
 * `maxLineLength`. A timeout that runs out throws `TimeoutError` from
 * `rfile` (or `wfile`); left uncaught, it ends the request through the
 * server's `handleDrop()`, not `handleError()`. They bound `rfile` and
 * `wfile` only: a raw `this.request.read()` or `write()` waits for ever.
 *
 * @typeParam S The server type, for a typed `this.server`.
 * @typeParam R The connection type.
 *
 * @example A line echo server that upper-cases
 * ```ts
 * import { sendall, StreamRequestHandler, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Upper extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) {
 *       await this.wfile.write(new TextDecoder().decode(line).toUpperCase());
 *     }
 *   }
 * }
 * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Upper);
 * server.serveForever();
 * const conn = await Deno.connect(server.serverAddress);
 * await sendall(conn, "hello world\n");
 * await conn.closeWrite();
 * const reply = await new Response(conn.readable).text();
 * assert.equal(reply, "HELLO WORLD\n");
 * ```
 */
export class StreamRequestHandler<
  S extends AnyServer = TCPServer,
  R extends Deno.Conn = RequestOf<S> extends Deno.Conn ? RequestOf<S> : Deno.Conn,
> extends BaseRequestHandler<S, R, ClientAddressOf<S>> {
  /** Size of `rfile`'s buffer in bytes; -1 (as in Python) or 0 means the
   * default of 16 KiB. The buffer grows for a longer line, up to
   * `maxLineLength`. */
  rbufsize: number = -1;
  /** `wfile`'s buffer size: 0 (the default, as in Python) sends every write
   * at once; more collects writes until `flush()`, a full buffer or
   * `finish()`. */
  wbufsize: number = 0;
  /** How long one read may wait, in ms, before it throws
   * {@linkcode TimeoutError}; `null` (the default) waits for ever. Unless
   * `writeTimeout` is set, it bounds each `wfile.write()` too, as Python's
   * socket timeout bounds `sendall()`. */
  timeout: number | null = null;
  /** How long `rfile` waits for the next request to begin — the first byte
   * of a `readline()` / `read()` / `read1()` that finds nothing buffered —
   * in ms, instead of `timeout`; `null` (the default) leaves that wait to
   * `timeout`. Drops clients that connect and say nothing, or go quiet
   * between requests. */
  idleTimeout: number | null = null;
  /** How long one `rfile.readline()` / `read(n)` may take once its first
   * byte is in, in ms, however slowly the rest arrives; `null` (the
   * default) for no limit. This is what drops a slowloris client, which
   * `timeout` alone cannot: one byte a second never makes a single read
   * wait long. */
  requestTimeout: number | null = null;
  /** How long one `wfile.write()` (or flush) may take to hand its bytes to
   * the kernel, in ms, however many partial writes that takes; `undefined`
   * (the default) takes `timeout`'s value, as Python's socket timeout bounds
   * `sendall()`, and `null` waits for ever. This is what drops a client
   * that stops reading its replies (a slow-read attack), which otherwise
   * holds the handler in `wfile.write()` until `serverClose()`: the write
   * rejects with {@linkcode TimeoutError} (`attribute` `"writeTimeout"`) and
   * the connection is closed. It must exceed the time your largest
   * legitimate reply takes to reach a slow client. Raw writes to
   * `this.request` are bounded by nothing: write through `wfile`. */
  writeTimeout: number | null | undefined = undefined;
  /** Sets `TCP_NODELAY` on TCP connections when true. Python:
   * `disable_nagle_algorithm`. */
  disableNagleAlgorithm: boolean = false;
  /** The longest line `rfile.readline()` accepts, in bytes, newline included;
   * longer ones throw `LineTooLongError`. Default 64 KiB. */
  maxLineLength: number = DEFAULT_MAX_LINE_LENGTH;
  /** The reader over the connection; set by `setup()`. */
  rfile!: BufferedReader;
  /** The writer to the connection; set by `setup()`. */
  wfile!: StreamWriter;

  /** The connection: the same object as `request`. */
  get connection(): R {
    return this.request;
  }

  /**
   * Creates `rfile` and `wfile` and applies `disableNagleAlgorithm`.
   * Subclasses that override it call `super.setup()` first.
   *
   * @example
   * ```ts
   * import { StreamRequestHandler } from "@x/socketserver";
   *
   * class Greeting extends StreamRequestHandler {
   *   override async setup() {
   *     super.setup();
   *     await this.wfile.write("welcome\n");
   *   }
   * }
   * ```
   */
  override setup(): void {
    checkDuration("timeout", this.timeout, true);
    checkDuration("idleTimeout", this.idleTimeout, true);
    checkDuration("requestTimeout", this.requestTimeout, true);
    if (this.writeTimeout !== undefined) checkDuration("writeTimeout", this.writeTimeout, true);
    const conn = this.request;
    if (this.disableNagleAlgorithm && "setNoDelay" in conn) {
      (conn as unknown as Deno.TcpConn).setNoDelay(true);
    }
    this.rfile = new BufferedReader(conn, {
      bufferSize: this.rbufsize > 0 ? this.rbufsize : DEFAULT_BUFFER_SIZE,
      maxLineLength: this.maxLineLength,
      timeout: this.timeout,
      idleTimeout: this.idleTimeout,
      requestTimeout: this.requestTimeout,
    });
    this.wfile = new StreamWriter(conn, {
      bufferSize: this.wbufsize,
      timeout: this.writeTimeout === undefined ? this.timeout : this.writeTimeout,
    });
    // A write the handler did not await, failing after a reset, reaches the
    // server (a drop) rather than ending the process as an unhandled rejection
    this.wfile[kReportLost] = (error) => {
      // optional: a handler may run under a stand-in server (a test's)
      (this.server as Partial<AnyServer>)[kReportError]?.(this.request, this.clientAddress, error);
    };
    watchConnection(conn, this.rfile, this.wfile);
  }

  /**
   * Flushes `wfile` (an error doing so is ignored, as in Python) and closes
   * both files. Subclasses that override it call `super.finish()` last.
   *
   * @returns When flushed.
   *
   * @example
   * ```ts
   * import { StreamRequestHandler } from "@x/socketserver";
   *
   * class Signed extends StreamRequestHandler {
   *   override async finish() {
   *     await this.wfile.write("bye\n");
   *     await super.finish();
   *   }
   * }
   * ```
   */
  override finish(): Awaitable<void> {
    const wfile = this.wfile;
    if (wfile && !wfile.closed && !wfile.idle) return this.#flushAndClose();
    this.#close();
  }

  async #flushAndClose(): Promise<void> {
    try {
      await this.wfile.flush();
    } catch {
      // a final error such as a reset by the client: nothing left to tell it
    }
    this.#close();
  }

  #close(): void {
    this.wfile?.close();
    this.rfile?.close();
  }
}
