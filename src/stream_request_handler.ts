/**
 * {@linkcode StreamRequestHandler}: a handler with buffered `rfile` and `wfile`.
 *
 * @module
 */

import type { AnyServer, Awaitable, ClientAddressOf, RequestOf } from "./base_server.ts";
import { BaseRequestHandler } from "./base_request_handler.ts";
import { registerBuiltins } from "./_fused_flow.ts";
import type { TCPServer } from "./tcp_server.ts";
import { BufferedReader, DEFAULT_BUFFER_SIZE, DEFAULT_MAX_LINE_LENGTH } from "./buffered_reader.ts";
import { StreamWriter } from "./stream_writer.ts";
import { sendsBacklog, watchConnection } from "./_conn_files.ts";
import { checkDuration } from "./_checks.ts";
import {
  kBacklog,
  kCounters,
  kFinishWrites,
  kReadGate,
  kReportError,
  kReportLost,
  kRequests,
} from "./_symbols.ts";

/**
 * A handler for stream connections, Python's `socketserver.StreamRequestHandler`: `rfile`, a
 * {@linkcode BufferedReader}, and `wfile`, a {@linkcode StreamWriter}, which `finish()` flushes.
 * The timeouts (fields a subclass sets) bound these two only; one that runs out throws
 * {@linkcode TimeoutError}, a drop when uncaught. See docs/hardening.md.
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
 *   override timeout = 5000; // ms per read
 *   override async handle() {
 *     for await (const line of this.rfile) {
 *       await this.wfile.write(new TextDecoder().decode(line).toUpperCase());
 *     }
 *   }
 * }
 * await using server = new TCPServer(["127.0.0.1", 0], Upper);
 * server.serveForever();
 * const conn = await Deno.connect(server.serverAddress);
 * await sendall(conn, "hello world\n");
 * await conn.closeWrite();
 * assert.equal(await new Response(conn.readable).text(), "HELLO WORLD\n");
 * ```
 */
export class StreamRequestHandler<
  S extends AnyServer = TCPServer,
  R extends Deno.Conn = RequestOf<S> extends Deno.Conn ? RequestOf<S> : Deno.Conn,
> extends BaseRequestHandler<S, R, ClientAddressOf<S>> {
  /** `rfile`'s buffer size in bytes; -1 (as in Python) or 0 for 16 KiB. It grows for a longer
   * line, up to `maxLineLength`.
   * @default {-1} */
  rbufsize: number = -1;
  /** `wfile`'s buffer size: 0 (as in Python) sends every write at once; more collects writes
   * until `flush()`, a full buffer or `finish()`.
   * @default {0} */
  wbufsize: number = 0;
  /** How long one read may wait, in ms; `null` waits for ever. It bounds each `wfile.write()`
   * too unless `writeTimeout` is set, as Python's socket timeout bounds `sendall()`.
   * @default {null} */
  timeout: number | null = null;
  /** How long `rfile` waits for the next request to begin, in ms, instead of `timeout`: drops
   * clients that say nothing. `null` leaves that wait to `timeout`.
   * @default {null} */
  idleTimeout: number | null = null;
  /** How long one `readline()` or `read(n)` may take once its first byte is in, in ms: drops a
   * slowloris client, which `timeout` alone cannot. `null`: no limit.
   * @default {null} */
  requestTimeout: number | null = null;
  /** How long one `wfile.write()` may take to hand its bytes to the kernel, in ms: drops a client
   * that does not read its replies. `undefined` takes `timeout`'s value; `null` waits for ever.
   * @default {undefined} */
  writeTimeout: number | null | undefined = undefined;
  /** Sets `TCP_NODELAY` on TCP connections. Python: `disable_nagle_algorithm`.
   * @default {false} */
  disableNagleAlgorithm: boolean = false;
  /** The longest line `rfile.readline()` accepts, in bytes, newline included; a longer one
   * throws `LineTooLongError`.
   * @default {65536} */
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
   * Creates `rfile` and `wfile` and applies `disableNagleAlgorithm`. An override calls
   * `super.setup()` first.
   *
   * @example
   * ```ts
   * import { StreamRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * class Greeting extends StreamRequestHandler {
   *   override async setup() {
   *     super.setup();
   *     await this.wfile.write("welcome\n");
   *   }
   * }
   * await using server = new TCPServer(["127.0.0.1", 0], Greeting);
   * const client = await Deno.connect(server.serverAddress);
   * await server.handleRequest();
   * assert.equal(await new Response(client.readable).text(), "welcome\n");
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
    // An unawaited write failing after a reset is a drop, not a rejection ending the process
    this.wfile[kReportLost] = (error) => {
      // optional: a handler may run under a stand-in server (a test's)
      (this.server as Partial<AnyServer>)[kReportError]?.(this.request, this.clientAddress, error);
    };
    watchConnection(conn, this.rfile, this.wfile);
    // unawaited writes piling up hold the reads back, as Python's blocking write holds the handler
    // (its own sendall() calls too, Python's self.request.sendall())
    this.rfile[kReadGate] = () => {
      const writes = (this.wfile as Partial<StreamWriter> | undefined)?.[kBacklog]?.() ?? null;
      const sends = sendsBacklog(conn);
      return writes === null
        ? sends
        : sends === null
        ? writes
        : Promise.all([writes, sends]).then(() => {});
    };
    // their bytes count in the server's stats() (none under a stand-in server)
    const counters = (this.server as Partial<AnyServer> | undefined)?.[kRequests]?.counters;
    if (counters !== undefined) this.rfile[kCounters] = this.wfile[kCounters] = counters;
  }

  /**
   * Flushes `wfile` (ignoring errors, as Python does) and closes both files; an unawaited write's
   * failure goes to `handleDrop()`. An override calls `super.finish()` last.
   *
   * @example
   * ```ts
   * import { StreamRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * class Signed extends StreamRequestHandler {
   *   override async finish() {
   *     await this.wfile.write("bye\n");
   *     await super.finish();
   *   }
   * }
   * await using server = new TCPServer(["127.0.0.1", 0], Signed);
   * const client = await Deno.connect(server.serverAddress);
   * await server.handleRequest();
   * assert.equal(await new Response(client.readable).text(), "bye\n");
   * ```
   */
  override finish(): Awaitable<void> {
    const wfile = this.wfile;
    if (wfile && !wfile.closed && !wfile.idle) return this.#flushAndClose();
    this.#close();
  }

  async #flushAndClose(): Promise<void> {
    await this.wfile[kFinishWrites]();
    this.#close();
  }

  #close(): void {
    this.wfile?.close();
    this.rfile?.close();
  }
}

registerBuiltins(StreamRequestHandler.prototype, ["setup", "finish"]);
