/**
 * {@linkcode UnixDatagramServer}: a datagram server on a Unix socket file.
 *
 * @module
 */

import type { Awaitable, RequestHandlerClass, ServerCloseOptions } from "./base_server.ts";
import type { ServerStats } from "./server_stats.ts";
import {
  type DatagramRequest,
  DatagramServer,
  type DatagramServerOptions,
  kSocketClosed,
  requireUnstableNet,
} from "./datagram_server.ts";
import { declareAttributes } from "./_attributes.ts";
import { checkDuration } from "./_checks.ts";
import {
  bindSocketFile,
  checkReclaim,
  checkSocketMode,
  checkUnixAddress,
  removeSocketFile,
  replaceSocketFile,
  type UnixAddress,
  type UnixSocketOptions,
} from "./_socket_file.ts";
import { kAttribute } from "./_symbols.ts";
import { SerialUnixDatagramConn } from "./_unix_datagram_conn.ts";

/**
 * A bound Unix datagram address, ready for `DatagramConn.send()`.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type UnixDatagramAddr, UnixDatagramServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const server = new UnixDatagramServer({ path: `${dir}/app.sock` }, BaseRequestHandler);
 * const address: UnixDatagramAddr = server.serverAddress;
 * const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
 * assert.equal(await client.send(new TextEncoder().encode("ping"), address), 4);
 * client.close();
 * await server.serverClose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export type UnixDatagramAddr = Deno.UnixAddr & { transport: "unixpacket" };

/**
 * Options of {@linkcode UnixDatagramServer}.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, UnixDatagramServer, type UnixDatagramServerOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const options: UnixDatagramServerOptions = { replyTimeout: 250, maxPacketSize: 4096 };
 * const server = new UnixDatagramServer({ path: `${dir}/app.sock` }, BaseRequestHandler, options);
 * assert.equal(server.replyTimeout, 250);
 * await server.serverClose();
 * await Deno.remove(dir);
 * ```
 */
export interface UnixDatagramServerOptions extends DatagramServerOptions, UnixSocketOptions {
  /** {@linkcode UnixDatagramServer.replyTimeout}.
   * @default {1000} */
  replyTimeout?: number | null;
}

/** A number of ms above 0 (a send takes a little while), or `null`. */
function checkReplyTimeout(_name: string, value: unknown): void {
  checkDuration("replyTimeout", value, true);
  if (value === 0) {
    throw new RangeError(
      `"replyTimeout" must be more than 0 milliseconds (a send takes a moment), or null to wait for ever, got 0`,
    );
  }
}

/**
 * A Unix datagram socket server, Python's `socketserver.UnixDatagramServer`: a datagram server like
 * {@linkcode UDPServer} on a socket file (`unixpacket`; needs `--unstable-net`). A client that wants
 * replies binds its own path. See docs/transports.md and docs/datagrams.md.
 *
 * @example A line echo server, and a client bound to its own path
 * ```ts
 * import { DatagramRequestHandler, UnixDatagramServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DatagramRequestHandler<UnixDatagramServer> {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.readline());
 *   }
 * }
 * const dir = await Deno.makeTempDir();
 * {
 *   await using server = new UnixDatagramServer({ path: `${dir}/echo.sock` }, Echo);
 *   server.serveForever();
 *   const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
 *   await client.send(new TextEncoder().encode("hello world\n"), server.serverAddress);
 *   const [reply] = await client.receive();
 *   assert.equal(new TextDecoder().decode(reply), "hello world\n");
 *   client.close();
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class UnixDatagramServer extends DatagramServer<Deno.UnixAddr, UnixDatagramAddr> {
  /** Class attribute; see {@linkcode UnixSocketOptions.reclaimStaleSocket}. */
  static reclaimStaleSocket: boolean = false;
  /** Class attribute: how long a reply to a client that does not read may wait, in ms (more than
   * 0), or `null` for ever; then it and later replies to that client are dropped until it reads.
   * See docs/datagrams.md. */
  static replyTimeout: number | null = 1000;
  /** Class attribute; see {@linkcode UnixSocketOptions.socketMode}. */
  static socketMode: number | null = null;

  /** The options given to the constructor; see `BaseServer.options`. */
  declare readonly options: Readonly<UnixDatagramServerOptions>;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds.
   *
   * @param serverAddress Where to listen: `{ path }`, or the path alone, as Python spells it.
   * @param RequestHandlerClass The handler class, run once per datagram.
   * @param options Attribute values, `bindAndActivate` and the socket file's options.
   * @throws {TypeError} `reclaimStaleSocket` without `bindAndActivate: false`.
   * @throws {Deno.errors.NotSupported} Deno runs without `--unstable-net`.
   * @throws {Deno.errors.NotCapable} Permissions for the path are missing.
   * @throws {Deno.errors.AddrInUse} A socket file is already at the path.
   * @throws {Deno.errors.AlreadyExists} Something else is at the path.
   */
  constructor(
    serverAddress: UnixAddress | string,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, Deno.UnixAddr>,
    options: UnixDatagramServerOptions = {},
  ) {
    const path = checkUnixAddress(serverAddress);
    checkReclaim(new.target, options);
    super({ transport: "unixpacket", path }, RequestHandlerClass, options);
  }

  /** The socket file's mode, or `null`, from the next bind on. */
  get socketMode(): number | null {
    return this[kAttribute]("socketMode") ?? null;
  }
  set socketMode(value: number | null) {
    this[kAttribute]("socketMode", value);
  }

  /** How long a reply may wait to be sent, in ms; see the static attribute. */
  get replyTimeout(): number | null {
    return this[kAttribute]("replyTimeout");
  }
  set replyTimeout(value: number | null) {
    this[kAttribute]("replyTimeout", value);
  }

  /** Whether a stale socket file may be removed; see the static attribute. */
  get reclaimStaleSocket(): boolean {
    return this[kAttribute]("reclaimStaleSocket");
  }
  set reclaimStaleSocket(value: boolean) {
    this[kAttribute]("reclaimStaleSocket", value);
  }

  /** Always `"AF_UNIX"`. Python: `address_family`. */
  get addressFamily(): "AF_UNIX" {
    return "AF_UNIX";
  }

  /**
   * Checks `--unstable-net`, the permissions and the path, then binds; async only when
   * `reclaimStaleSocket` checks a file left at the path.
   *
   * @returns When bound: at once, or a promise when a stale file is checked.
   * @throws {Deno.errors.AddrInUse} A live or unreclaimable socket file is at the path.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, UnixDatagramServer } from "@x/socketserver";
   *
   * const dir = await Deno.makeTempDir();
   * const server = new UnixDatagramServer({ path: `${dir}/app.sock` }, BaseRequestHandler, {
   *   bindAndActivate: false,
   * });
   * await server.serverBind();
   * await server.serverClose();
   * await Deno.remove(dir);
   * ```
   */
  override serverBind(): Awaitable<void> {
    const path = this.serverAddress.path;
    requireUnstableNet("UnixDatagramServer");
    const mode = this.socketMode;
    const listen = (at: string) => Deno.listenDatagram({ transport: "unixpacket", path: at });
    const options = { reclaim: this.reclaimStaleSocket, mode, privately: false };
    const open = (at: string) =>
      new SerialUnixDatagramConn(
        listen(at),
        () => replaceSocketFile(this, mode, listen),
        () => this.replyTimeout,
      );
    return bindSocketFile(this, path, options, open, (socket) => this.socket = socket);
  }

  /** @ignore Internal: removes the socket file, if still this server's, before the socket closes. */
  override [kSocketClosed](): void {
    removeSocketFile(this);
  }
}

declareAttributes(UnixDatagramServer, {
  reclaimStaleSocket: null,
  replyTimeout: checkReplyTimeout,
  socketMode: checkSocketMode,
});

/** Methods inherited by UnixDatagramServer, declared again so that its doc page lists them. */
export interface UnixDatagramServer {
  // doc-pages: generated by `deno task doc:pages`, do not edit
  /** See {@linkcode BaseServer.stats}. */
  stats(): ServerStats;
  /** See {@linkcode BaseServer.serveForever}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** See {@linkcode BaseServer.shutdown}. */
  shutdown(): Promise<void>;
  /** See {@linkcode BaseServer.handleRequest}. */
  handleRequest(): Promise<void>;
  /** See {@linkcode UnixDatagramServer.serverBind}. */
  serverBind(): Awaitable<void>;
  /** See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** See {@linkcode DatagramServer.getRequest}. */
  getRequest(): Promise<[DatagramRequest, Deno.UnixAddr]>;
  /** See {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: DatagramRequest, clientAddress: Deno.UnixAddr): Awaitable<boolean>;
  /** See {@linkcode BaseServer.processRequest}. */
  processRequest(request: DatagramRequest, clientAddress: Deno.UnixAddr): Awaitable<void>;
  /** See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: DatagramRequest, clientAddress: Deno.UnixAddr): Promise<void>;
  /** See {@linkcode BaseServer.shutdownRequest}. */
  shutdownRequest(request: DatagramRequest): Awaitable<void>;
  /** See {@linkcode DatagramServer.closeRequest}. */
  closeRequest(request: DatagramRequest): void;
  /** See {@linkcode BaseServer.handleError}. */
  handleError(
    request: DatagramRequest,
    clientAddress: Deno.UnixAddr,
    error: unknown,
  ): Awaitable<void>;
  /** See {@linkcode BaseServer.handleDrop}. */
  handleDrop(
    request: DatagramRequest,
    clientAddress: Deno.UnixAddr,
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
