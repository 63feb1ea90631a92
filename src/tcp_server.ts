/**
 * {@linkcode TCPServer} and {@linkcode TCPServerBase}, what it shares with `TLSServer`.
 *
 * @module
 */

import type { Awaitable, RequestHandlerClass, ServerCloseOptions } from "./base_server.ts";
import { StreamServer, type StreamServerOptions } from "./stream_server.ts";
import { declareAttributes } from "./_attributes.ts";
import { checkBindable } from "./_bind.ts";
import { formatAddress } from "./_format.ts";
import { bindError, checkBoundFamily, checkNetAddress } from "./_net_address.ts";
import { checkNetPermission } from "./_permissions.ts";
import { kAttribute, kListen } from "./_symbols.ts";
import type { ServerStats } from "./server_stats.ts";

/**
 * Where a TCP, TLS or UDP server listens.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type NetAddress, TCPServer } from "@x/socketserver";
 *
 * const address: NetAddress = { hostname: "127.0.0.1", port: 0 };
 * await using _server = new TCPServer(address, BaseRequestHandler);
 * ```
 */
export interface NetAddress {
  /** An IPv4 or IPv6 literal, or a host name; `""` means every interface, as in Python.
   * @default {"0.0.0.0"} */
  hostname?: string;
  /** The port; 0 picks a free one, reported in `serverAddress`. */
  port: number;
}

/**
 * Python's address tuple `(HOST, PORT)`, written `[HOST, PORT]`.
 *
 * @example Python's `TCPServer(("", 9999), Handler)`
 * ```ts
 * import { BaseRequestHandler, type NetAddressTuple, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const address: NetAddressTuple = ["", 0];
 * await using server = new TCPServer(address, BaseRequestHandler);
 * assert.equal(server.serverAddress.hostname, "0.0.0.0");
 * ```
 */
export type NetAddressTuple = readonly [hostname: string, port: number];

/**
 * A bound TCP address, which `Deno.connect()` takes as it is.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type TcpAddr, TCPServer } from "@x/socketserver";
 *
 * await using server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
 * const address: TcpAddr = server.serverAddress;
 * (await Deno.connect(address)).close();
 * ```
 */
export type TcpAddr = Deno.NetAddr & { transport: "tcp" };

/**
 * Options of {@linkcode TCPServer}; each overrides the class attribute of its name.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * await using server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler, {
 *   requestQueueSize: 128,
 * });
 * assert.equal(server.requestQueueSize, 128);
 * ```
 */
export interface TCPServerOptions extends StreamServerOptions {
  /** {@linkcode TCPServerBase.allowReuseAddress}.
   * @default {true} */
  allowReuseAddress?: boolean;
  /** {@linkcode TCPServerBase.allowReusePort}.
   * @default {false} */
  allowReusePort?: boolean;
  /** {@linkcode TCPServerBase.requestQueueSize}.
   * @default {511} */
  requestQueueSize?: number;
}

/**
 * A TCP server with the connection type left open, what {@linkcode TCPServer} and `TLSServer`
 * share: the address and permission checks, the bind, the TCP attributes.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TCPServerBase } from "@x/socketserver";
 *
 * await using _server = new TCPServerBase<Deno.TcpConn>(["127.0.0.1", 0], BaseRequestHandler);
 * ```
 */
export class TCPServerBase<C extends Deno.Conn<Deno.NetAddr>> extends StreamServer<C, TcpAddr> {
  /** Class attribute, Python's `allow_reuse_address`: Deno always sets `SO_REUSEADDR`, so `false`
   * makes binding throw. */
  static allowReuseAddress: boolean = true;
  /** Class attribute, Python's `allow_reuse_port`: `SO_REUSEPORT`, several processes on one port
   * (Linux; needs `--unstable-net`). */
  static allowReusePort: boolean = false;
  /** Class attribute, Python's `request_queue_size`: the listen backlog (Deno's default; Python's 5
   * drops connections under load). */
  static requestQueueSize: number = 511;

  /** The constructor's options; see {@linkcode BaseServer.options}. */
  declare readonly options: Readonly<TCPServerOptions>;

  /**
   * Creates the server and, unless `bindAndActivate` is false, binds and listens.
   *
   * @throws {TypeError} A malformed address or handler class.
   * @throws {RangeError} A port outside 0–65535.
   * @throws {Deno.errors.NotCapable} No `net` permission for the address.
   * @throws {Deno.errors.AddrInUse} The address is taken.
   */
  constructor(
    serverAddress: NetAddress | NetAddressTuple,
    RequestHandlerClass: RequestHandlerClass<C, Deno.NetAddr>,
    options: TCPServerOptions = {},
  ) {
    const { hostname, port } = checkNetAddress(serverAddress);
    super({ transport: "tcp", hostname, port }, RequestHandlerClass, options);
  }

  /** Whether `SO_REUSEADDR` is set; see the static attribute. */
  get allowReuseAddress(): boolean {
    return this[kAttribute]("allowReuseAddress");
  }
  set allowReuseAddress(value: boolean) {
    this[kAttribute]("allowReuseAddress", value);
  }

  /** Whether `SO_REUSEPORT` is set; see the static attribute. */
  get allowReusePort(): boolean {
    return this[kAttribute]("allowReusePort");
  }
  set allowReusePort(value: boolean) {
    this[kAttribute]("allowReusePort", value);
  }

  /** The listen backlog; see the static attribute. */
  get requestQueueSize(): number {
    return this[kAttribute]("requestQueueSize");
  }
  set requestQueueSize(value: number) {
    this[kAttribute]("requestQueueSize", value);
  }

  /** `"AF_INET6"` for an IPv6 address, else `"AF_INET"`: Python's `address_family`. */
  get addressFamily(): "AF_INET" | "AF_INET6" {
    return this.serverAddress.hostname.includes(":") ? "AF_INET6" : "AF_INET";
  }

  /**
   * Checks the `net` permission, then binds and listens (`serverActivate()` has nothing left to do)
   * and sets `serverAddress` to the bound address.
   *
   * @throws {Deno.errors.NotCapable} No `net` permission for the address.
   * @throws {Deno.errors.AddrInUse} The address is taken.
   * @throws {Deno.errors.NotSupported} `allowReusePort` without `--unstable-net`.
   * @throws {Error} Already bound, or the host name does not resolve.
   * @throws {TypeError} A Python-style `static addressFamily` the address contradicts (bind `"::"`
   *   for an IPv6 server on every interface).
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   *
   * const server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler, { bindAndActivate: false });
   * server.serverBind();
   * await server.serverClose();
   * ```
   */
  override serverBind(): void {
    checkBindable(this, formatAddress(this.serverAddress));
    const { hostname, port } = this.serverAddress;
    if (!this.allowReuseAddress) {
      throw new RangeError(
        "allowReuseAddress false cannot be honoured: Deno sets SO_REUSEADDR on every TCP listener; remove the override",
      );
    }
    const backlog = this.requestQueueSize;
    if (!Number.isInteger(backlog) || backlog < 1) {
      throw new RangeError(`"requestQueueSize" must be a positive integer, got ${backlog}`);
    }
    // without --unstable-net a reusePort listen ends the process, past any catch: refuse first
    // (Deno.listenDatagram exists only under that flag)
    if (
      this.allowReusePort &&
      typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function"
    ) {
      throw new Deno.errors.NotSupported(
        `${this.constructor.name} cannot set SO_REUSEPORT (allowReusePort: true) without Deno's unstable net API: run with --unstable-net, or add "unstable": ["net"] to deno.json`,
      );
    }
    checkNetPermission(hostname, port);
    let socket;
    try {
      socket = this[kListen]({
        transport: "tcp",
        hostname,
        port,
        tcpBacklog: backlog,
        ...(this.allowReusePort ? { reusePort: true } : {}),
      });
    } catch (error) {
      throw bindError(error, hostname, port);
    }
    checkBoundFamily(this, socket, hostname); // closed when refused: the server stays unbound
    this.socket = socket;
    this.serverAddress = socket.addr;
  }

  /** @ignore Internal: opens the listener, `Deno.listen`; `TLSServer` overrides it. */
  [kListen](options: Deno.TcpListenOptions & { transport: "tcp" }): Deno.Listener<C, TcpAddr> {
    return Deno.listen(options) as unknown as Deno.Listener<C, TcpAddr>;
  }
}

declareAttributes(TCPServerBase, {
  allowReuseAddress: null,
  allowReusePort: null,
  requestQueueSize: null, // checked when binding, which a static override reaches too
});

/**
 * A TCP server, Python's `socketserver.TCPServer`: binds in its constructor after checking the `net`
 * permission, and hands each connection to a new handler, one at a time.
 *
 * @example The seed's echo server
 * ```ts
 * import { BaseRequestHandler, sendall, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class MyTCPHandler extends BaseRequestHandler {
 *   override async handle() {
 *     const data = new Uint8Array(1024);
 *     const n = await this.request.read(data) ?? 0;
 *     const text = new TextDecoder().decode(data.subarray(0, n)).trim();
 *     await sendall(this.request, text.toUpperCase());
 *   }
 * }
 * await using server = new TCPServer(["127.0.0.1", 0], MyTCPHandler);
 * server.serveForever();
 * const conn = await Deno.connect(server.serverAddress);
 * await sendall(conn, "hello world\n");
 * assert.equal(await new Response(conn.readable).text(), "HELLO WORLD");
 * ```
 */
export class TCPServer extends TCPServerBase<Deno.TcpConn> {}

/** The methods of a {@linkcode TCPServer}, listed on its page. */
export interface TCPServer {
  // doc-pages: generated by `deno task doc:pages`, do not edit
  /** See {@linkcode BaseServer.stats}. */
  stats(): ServerStats;
  /** See {@linkcode BaseServer.serveForever}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** See {@linkcode BaseServer.shutdown}. */
  shutdown(): Promise<void>;
  /** See {@linkcode BaseServer.handleRequest}. */
  handleRequest(): Promise<void>;
  /** See {@linkcode TCPServerBase.serverBind}. */
  serverBind(): void;
  /** See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]>;
  /** See {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** See {@linkcode BaseServer.processRequest}. */
  processRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Promise<void>;
  /** See {@linkcode StreamServer.shutdownRequest}. */
  shutdownRequest(request: Deno.TcpConn): Promise<void>;
  /** See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.TcpConn): void;
  /** See {@linkcode BaseServer.handleError}. */
  handleError(request: Deno.TcpConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** See {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.TcpConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
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
