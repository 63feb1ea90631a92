/**
 * {@linkcode UnixStreamServer}: a stream server on a Unix socket file.
 *
 * @module
 */

import type { Awaitable, RequestHandlerClass, ServerCloseOptions } from "./base_server.ts";
import type { ServerStats } from "./server_stats.ts";
import { StreamServer, type StreamServerOptions } from "./stream_server.ts";
import { declareAttributes } from "./_attributes.ts";
import { describeValue } from "./_format.ts";
import {
  bindSocketFile,
  checkReclaim,
  checkSocketMode,
  checkUnixAddress,
  removeSocketFile,
  type UnixAddress,
  type UnixSocketOptions,
} from "./_socket_file.ts";
import { kAttribute, kCloseSocket } from "./_symbols.ts";

/**
 * A bound Unix stream address, ready for `Deno.connect()`.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type UnixStreamAddr, UnixStreamServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const server = new UnixStreamServer({ path: `${dir}/app.sock` }, BaseRequestHandler);
 * const address: UnixStreamAddr = server.serverAddress;
 * const conn = await Deno.connect(address); // no conversion needed
 * assert.equal(conn.remoteAddr.transport, "unix");
 * conn.close();
 * await server.serverClose();
 * await Deno.remove(dir);
 * ```
 */
export type UnixStreamAddr = Deno.UnixAddr & { transport: "unix" };

/**
 * The client address of a {@linkcode UnixStreamServer}: the peer's `Deno.UnixAddr` (`path` usually
 * `""`), or with `proxyProtocol` the relayed TCP client's `Deno.NetAddr`.
 *
 * @example
 * ```ts
 * import type { UnixStreamClientAddr } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const describe = (client: UnixStreamClientAddr) =>
 *   client.transport === "tcp" ? `${client.hostname}:${client.port}` : "local";
 * assert.equal(describe({ transport: "unix", path: "" }), "local");
 * ```
 */
export type UnixStreamClientAddr = Deno.UnixAddr | Deno.NetAddr;

/**
 * Options of {@linkcode UnixStreamServer}.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, UnixStreamServer, type UnixStreamServerOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const options: UnixStreamServerOptions = { timeout: 1000, maxConnections: 16 };
 * const server = new UnixStreamServer({ path: `${dir}/app.sock` }, BaseRequestHandler, options);
 * assert.equal(server.maxConnections, 16);
 * await server.serverClose();
 * await Deno.remove(dir);
 * ```
 */
export interface UnixStreamServerOptions extends StreamServerOptions, UnixSocketOptions {}

/** The backlog Deno 2.9 always listens with on a Unix stream socket (`ss -xl`). */
const UNIX_BACKLOG = 1024;

/**
 * A Unix stream socket server, Python's `socketserver.UnixStreamServer`: a stream server like
 * {@linkcode TCPServer} on a socket file, which `serverClose()` removes (unlike Python) if it is
 * still this server's. A file already at the path is never overwritten. See docs/transports.md.
 *
 * @example A line echo server on a socket file
 * ```ts
 * import { sendall, StreamRequestHandler, UnixStreamServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler<UnixStreamServer> {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.readline());
 *   }
 * }
 * const dir = await Deno.makeTempDir();
 * {
 *   await using server = new UnixStreamServer({ path: `${dir}/echo.sock` }, Echo);
 *   server.serveForever();
 *   const conn = await Deno.connect(server.serverAddress);
 *   await sendall(conn, "hello world\n");
 *   assert.equal(await new Response(conn.readable).text(), "hello world\n");
 * } // the socket file is removed here
 * await Deno.remove(dir);
 * ```
 */
export class UnixStreamServer
  extends StreamServer<Deno.UnixConn, UnixStreamAddr, UnixStreamClientAddr> {
  /** Class attribute; see {@linkcode UnixSocketOptions.reclaimStaleSocket}. */
  static reclaimStaleSocket: boolean = false;
  /** Class attribute, Python's `request_queue_size`: Deno always listens with 1024 on a Unix
   * socket, so another value makes the bind throw a `RangeError`. */
  static requestQueueSize: number = UNIX_BACKLOG;
  /** Class attribute; see {@linkcode UnixSocketOptions.socketMode}. */
  static socketMode: number | null = null;

  /** The options given to the constructor; see `BaseServer.options`. */
  declare readonly options: Readonly<UnixStreamServerOptions>;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds
   * and listens.
   *
   * @param serverAddress Where to listen: `{ path }`, or the path alone, as Python spells it.
   * @param RequestHandlerClass The handler class, run once per connection.
   * @param options Attribute values, `bindAndActivate` and the socket file's options.
   * @throws {TypeError} `reclaimStaleSocket` without `bindAndActivate: false`.
   * @throws {Deno.errors.NotCapable} Permissions for the path are missing.
   * @throws {Deno.errors.AddrInUse} A socket file is already at the path.
   * @throws {Deno.errors.AlreadyExists} Something else is at the path.
   */
  constructor(
    serverAddress: UnixAddress | string,
    RequestHandlerClass: RequestHandlerClass<Deno.UnixConn, UnixStreamClientAddr>,
    options: UnixStreamServerOptions = {},
  ) {
    const path = checkUnixAddress(serverAddress);
    checkReclaim(new.target, options);
    super({ transport: "unix", path }, RequestHandlerClass, options);
  }

  /** Whether a stale socket file may be removed; see the static attribute. */
  get reclaimStaleSocket(): boolean {
    return this[kAttribute]("reclaimStaleSocket");
  }
  set reclaimStaleSocket(value: boolean) {
    this[kAttribute]("reclaimStaleSocket", value);
  }

  /** The socket file's mode, or `null`, from the next bind on. */
  get socketMode(): number | null {
    return this[kAttribute]("socketMode") ?? null;
  }
  set socketMode(value: number | null) {
    this[kAttribute]("socketMode", value);
  }

  /** The listen backlog, 1024, read-only; see the static attribute. */
  get requestQueueSize(): number {
    return this[kAttribute]("requestQueueSize");
  }

  /** Always `"AF_UNIX"`. Python: `address_family`. */
  get addressFamily(): "AF_UNIX" {
    return "AF_UNIX";
  }

  /**
   * Checks the permissions and the path, then binds and listens; async only when
   * `reclaimStaleSocket` checks a file left at the path.
   *
   * @returns When bound: at once, or a promise when a stale file is checked.
   * @throws {Deno.errors.AddrInUse} A live or unreclaimable socket file is at the path.
   * @throws {RangeError} `requestQueueSize` is overridden.
   *
   * @example Reclaiming the socket file of a crashed run
   * ```ts
   * import { BaseRequestHandler, UnixStreamServer } from "@x/socketserver";
   *
   * const dir = await Deno.makeTempDir();
   * const server = new UnixStreamServer({ path: `${dir}/app.sock` }, BaseRequestHandler, {
   *   bindAndActivate: false,
   *   reclaimStaleSocket: true,
   * });
   * await server.serverBind();
   * server.serverActivate();
   * await server.serverClose();
   * await Deno.remove(dir);
   * ```
   */
  override serverBind(): Awaitable<void> {
    const path = this.serverAddress.path;
    const backlog = this.requestQueueSize;
    if (backlog !== UNIX_BACKLOG) {
      throw new RangeError(
        `requestQueueSize ${
          describeValue(backlog)
        } cannot be honoured by UnixStreamServer: Deno.listen takes no backlog for Unix sockets and always listens with ${UNIX_BACKLOG}; remove the override`,
      );
    }
    // privately: Deno removes a listener's path when it closes, which may be another server's by then
    const options = { reclaim: this.reclaimStaleSocket, mode: this.socketMode, privately: true };
    const listen = (at: string) =>
      Deno.listen({ transport: "unix", path: at }) as Deno.Listener<Deno.UnixConn, UnixStreamAddr>;
    return bindSocketFile(this, path, options, listen, (socket) => this.socket = socket);
  }

  /** @ignore Internal: removes the socket file, if still this server's, and closes the listener. */
  override [kCloseSocket](): void {
    if (this.socket !== undefined) removeSocketFile(this);
    super[kCloseSocket]();
  }
}

declareAttributes(UnixStreamServer, {
  reclaimStaleSocket: null,
  // read-only, checked when binding, which a static override reaches too
  requestQueueSize: null,
  socketMode: checkSocketMode,
});

/** Methods inherited by UnixStreamServer, declared again so that its doc page lists them. */
export interface UnixStreamServer {
  // doc-pages: generated by `deno task doc:pages`, do not edit
  /** See {@linkcode BaseServer.stats}. */
  stats(): ServerStats;
  /** See {@linkcode BaseServer.serveForever}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** See {@linkcode BaseServer.shutdown}. */
  shutdown(): Promise<void>;
  /** See {@linkcode BaseServer.handleRequest}. */
  handleRequest(): Promise<void>;
  /** See {@linkcode UnixStreamServer.serverBind}. */
  serverBind(): Awaitable<void>;
  /** See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.UnixConn, UnixStreamClientAddr]>;
  /** See {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.UnixConn, clientAddress: UnixStreamClientAddr): Awaitable<boolean>;
  /** See {@linkcode BaseServer.processRequest}. */
  processRequest(request: Deno.UnixConn, clientAddress: UnixStreamClientAddr): Awaitable<void>;
  /** See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: Deno.UnixConn, clientAddress: UnixStreamClientAddr): Promise<void>;
  /** See {@linkcode StreamServer.shutdownRequest}. */
  shutdownRequest(request: Deno.UnixConn): Promise<void>;
  /** See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.UnixConn): void;
  /** See {@linkcode BaseServer.handleError}. */
  handleError(
    request: Deno.UnixConn,
    clientAddress: UnixStreamClientAddr,
    error: unknown,
  ): Awaitable<void>;
  /** See {@linkcode BaseServer.handleDrop}. */
  handleDrop(
    request: Deno.UnixConn,
    clientAddress: UnixStreamClientAddr,
    error: unknown,
  ): Awaitable<void>;
  /** See {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** See {@linkcode BaseServer.serverClose}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
  // doc-pages: end
}
