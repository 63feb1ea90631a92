/**
 * {@linkcode StreamServer}: what every connection-oriented server shares —
 * TCP, TLS and Unix stream sockets.
 *
 * @module
 */

import { BaseServer, type BaseServerOptions, type RequestHandlerClass } from "./base_server.ts";
import { NotBoundError } from "./errors.ts";
import { bindAndActivate } from "./_bind.ts";
import { opsInFlight } from "./_conn_files.ts";
import { kCloseSocket, kHoldSlot, kLingering } from "./_symbols.ts";

/**
 * Options of every {@linkcode StreamServer}; each attribute option
 * overrides the class attribute of the same name for this instance.
 *
 * @example Binding later
 * ```ts
 * import { BaseRequestHandler, type StreamServerOptions, UnixStreamServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const options: StreamServerOptions = { bindAndActivate: false };
 * const server = new UnixStreamServer({ path: `${dir}/app.sock` }, BaseRequestHandler, options);
 * assert.equal(server.socket, undefined);
 * await server.serverBind();
 * server.serverActivate();
 * await server.serverClose();
 * await Deno.remove(dir);
 * ```
 */
export interface StreamServerOptions extends BaseServerOptions {
  /** Bind and listen in the constructor (the default). With `false`, call
   * `serverBind()` and `serverActivate()` yourself. Python:
   * `bind_and_activate`. */
  bindAndActivate?: boolean;
}

/**
 * The base of the stream servers — {@linkcode TCPServer}, `TLSServer` and
 * `UnixStreamServer`: it accepts connections from `socket`, a
 * `Deno.Listener`, and ends each request by shutting the write side down and
 * closing the connection. Subclasses bring `serverBind()`, which sets
 * `socket` and `serverAddress`.
 *
 * Python has no such class (its `UnixStreamServer` extends `TCPServer`); here
 * the transports are siblings, so that each one's request type is exact.
 *
 * The constructor binds, so a subclass must keep what `serverBind()` needs in
 * the constructor's options (read back with `this.options`), not in instance
 * fields: those are initialised only after the bind, and a field with an
 * initialiser resets what the bind set — declare such fields with `declare`.
 *
 * @typeParam C The connection type, e.g. `Deno.TcpConn`.
 * @typeParam SA The server address type.
 *
 * @example A stream server over any listener
 * ```ts
 * import { StreamRequestHandler, StreamServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class LoopbackServer extends StreamServer<Deno.TcpConn, Deno.NetAddr> {
 *   override serverBind() {
 *     this.socket = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 *     this.serverAddress = this.socket.addr;
 *   }
 * }
 * class Hello extends StreamRequestHandler<LoopbackServer> {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * await using server = new LoopbackServer(
 *   { transport: "tcp", hostname: "127.0.0.1", port: 0 },
 *   Hello,
 * );
 * server.serveForever();
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.serverAddress.port });
 * assert.equal(await new Response(conn.readable).text(), "hello\n");
 * ```
 */
export class StreamServer<C extends Deno.Conn = Deno.Conn, SA extends Deno.Addr = Deno.Addr>
  extends BaseServer<C, C["remoteAddr"], SA> {
  /** The listener; `undefined` until `serverBind()`. */
  declare socket: Deno.Listener<C, SA>;
  /** The options given to the constructor; see {@linkcode BaseServer.options}. */
  declare readonly options: Readonly<StreamServerOptions>;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds
   * and listens.
   *
   * @param serverAddress The address to serve on.
   * @param RequestHandlerClass The handler class, run once per connection.
   * @param options Attribute values for this instance, and `bindAndActivate`.
   * @throws {TypeError} A malformed handler class, or an async bind.
   */
  constructor(
    serverAddress: SA,
    RequestHandlerClass: RequestHandlerClass<C, C["remoteAddr"]>,
    options: StreamServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
    if (options.bindAndActivate ?? true) bindAndActivate(this);
  }

  /** Always `"SOCK_STREAM"`. Python: `socket_type`. */
  get socketType(): "SOCK_STREAM" {
    return "SOCK_STREAM";
  }

  /**
   * Accepts the next connection.
   *
   * @returns `[connection, clientAddress]`.
   * @throws {Deno.errors.BadResource} The server was never bound.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * const client = await Deno.connect(server.serverAddress);
   * const [conn, address] = await server.getRequest();
   * assert.equal(address.port, client.localAddr.port);
   * conn.close();
   * client.close();
   * ```
   */
  override async getRequest(): Promise<[C, C["remoteAddr"]]> {
    if (this.socket === undefined) throw new NotBoundError(this);
    const conn = await this.socket.accept();
    return [conn, conn.remoteAddr];
  }

  /**
   * Shuts the write side down (the client sees EOF after everything that was
   * written), then closes the connection. Python: `shutdown_request()`.
   *
   * @param request The connection.
   * @returns When closed.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   *
   * class Logged extends TCPServer {
   *   override async shutdownRequest(request: Deno.TcpConn) {
   *     console.log("ending", request.remoteAddr.port);
   *     await super.shutdownRequest(request);
   *   }
   * }
   * await using _server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  override async shutdownRequest(request: C): Promise<void> {
    if (this[kLingering](request)) return; // serverClose() closes it when its linger ends
    // More than Python's habit here: Deno's close() cancels a write still in
    // flight (one a handler did not await), while closeWrite() waits for it.
    // Measured against close() alone in bench/: no cost that shows.
    try {
      await request.closeWrite();
    } catch {
      // the client is gone, or the connection is already closed
    }
    const closed: unknown = this.closeRequest(request);
    if (closed instanceof Promise) await closed;
  }

  /**
   * Closes the connection. Python: `close_request()`.
   *
   * @param request The connection.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   *
   * let closed = 0;
   * class Counting extends TCPServer {
   *   override closeRequest(request: Deno.TcpConn) {
   *     closed++;
   *     super.closeRequest(request);
   *   }
   * }
   * await using _server = new Counting({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  override closeRequest(request: C): void {
    if (this[kLingering](request)) return; // serverClose() closes it when its linger ends
    try {
      request.close();
    } catch {
      // already closed
    }
    if (this.maxConnections !== null) {
      // A read that outlived a timeout holds the descriptor until Deno has
      // cancelled it, a turn later: until then it counts against the limit,
      // or a batch of timeouts would let in as many new clients at once
      const releasing = opsInFlight(request);
      if (releasing !== null) this[kHoldSlot](releasing);
    }
    super.closeRequest(request);
  }

  /**
   * Internal: closes the listener.
   *
   * @ignore
   */
  override [kCloseSocket](): void {
    try {
      this.socket?.close();
    } catch {
      // already closed
    }
  }
}
