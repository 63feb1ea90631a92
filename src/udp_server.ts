/**
 * {@linkcode UDPServer}: a datagram server on `Deno.listenDatagram`.
 *
 * @module
 */

import type { Awaitable, RequestHandlerClass, ServerCloseOptions } from "./base_server.ts";
import type { ServerStats } from "./server_stats.ts";
import type { NetAddress, NetAddressTuple } from "./tcp_server.ts";
import { declareAttributes } from "./_attributes.ts";
import { checkBindable } from "./_bind.ts";
import { formatAddress } from "./_format.ts";
import { bindError, checkBoundFamily, checkNetAddress } from "./_net_address.ts";
import { checkNetPermission } from "./_permissions.ts";
import { kAttribute } from "./_symbols.ts";
import {
  type DatagramRequest,
  DatagramServer,
  type DatagramServerOptions,
  requireUnstableNet,
} from "./datagram_server.ts";

/**
 * A bound UDP address, ready for `DatagramConn.send()`.
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler, type UdpAddr, UDPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * await using server = new UDPServer({ hostname: "127.0.0.1", port: 0 }, DatagramRequestHandler);
 * const address: UdpAddr = server.serverAddress;
 * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * assert.equal(await client.send(new TextEncoder().encode("ping"), address), 4);
 * client.close();
 * ```
 */
export type UdpAddr = Deno.NetAddr & { transport: "udp" };

/**
 * Options of {@linkcode UDPServer}; each overrides the class attribute of its name.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, UDPServer, type UDPServerOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: UDPServerOptions = { allowReuseAddress: true, maxPacketSize: 512 };
 * await using server = new UDPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, options);
 * assert.equal(server.allowReuseAddress, true);
 * ```
 */
export interface UDPServerOptions extends DatagramServerOptions {
  /** {@linkcode UDPServer.allowReuseAddress}.
   * @default {false} */
  allowReuseAddress?: boolean;
  /** {@linkcode UDPServer.allowReusePort}: only `false` can be honoured.
   * @default {false} */
  allowReusePort?: boolean;
}

/**
 * A UDP server, Python's `socketserver.UDPServer`: each datagram, `[packet, socket]`, goes to a new
 * handler, usually a {@linkcode DatagramRequestHandler}, one at a time. Needs `--unstable-net`. See
 * docs/datagrams.md.
 *
 * @example An echo server for one line per datagram
 * ```ts
 * import { DatagramRequestHandler, UDPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.readline());
 *   }
 * }
 * await using server = new UDPServer({ hostname: "127.0.0.1", port: 0 }, Echo);
 * server.serveForever();
 * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("hello world\n"), server.serverAddress);
 * const [reply] = await client.receive();
 * assert.equal(new TextDecoder().decode(reply), "hello world\n");
 * client.close();
 * ```
 */
export class UDPServer extends DatagramServer<Deno.NetAddr, UdpAddr> {
  /** Class attribute, Python's `allow_reuse_address`: bind even when another socket holds it. */
  static allowReuseAddress: boolean = false;
  /** Class attribute, Python's `allow_reuse_port`: `Deno.listenDatagram` has no `SO_REUSEPORT`, so
   * `true` makes the bind throw a `RangeError`. */
  static allowReusePort: boolean = false;

  /** The options given to the constructor; see `BaseServer.options`. */
  declare readonly options: Readonly<UDPServerOptions>;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds.
   *
   * @param serverAddress Where to listen: `{ hostname?, port }`, or Python's `[hostname, port]`.
   * @param RequestHandlerClass The handler class, run once per datagram.
   * @param options Attribute values for this instance, and `bindAndActivate`.
   * @throws {Deno.errors.NotSupported} Deno runs without `--unstable-net`.
   * @throws {Deno.errors.NotCapable} No `net` permission for the address.
   * @throws {Deno.errors.AddrInUse} The address is taken.
   */
  constructor(
    serverAddress: NetAddress | NetAddressTuple,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, Deno.NetAddr>,
    options: UDPServerOptions = {},
  ) {
    const { hostname, port } = checkNetAddress(serverAddress);
    super({ transport: "udp", hostname, port }, RequestHandlerClass, options);
  }

  /** Whether to take over an address in use; see the static attribute. */
  get allowReuseAddress(): boolean {
    return this[kAttribute]("allowReuseAddress");
  }
  set allowReuseAddress(value: boolean) {
    this[kAttribute]("allowReuseAddress", value);
  }

  /** Whether `SO_REUSEPORT` is asked for; see the static attribute. */
  get allowReusePort(): boolean {
    return this[kAttribute]("allowReusePort");
  }
  set allowReusePort(value: boolean) {
    this[kAttribute]("allowReusePort", value);
  }

  /** `"AF_INET6"` for an IPv6 address, else `"AF_INET"`: Python's `address_family`. */
  get addressFamily(): "AF_INET" | "AF_INET6" {
    return this.serverAddress.hostname.includes(":") ? "AF_INET6" : "AF_INET";
  }

  /**
   * Checks `--unstable-net` and the `net` permission, binds, and sets `serverAddress`.
   *
   * @throws {Deno.errors.NotCapable} No `net` permission for the address.
   * @throws {Deno.errors.AddrInUse} The address is taken.
   * @throws {RangeError} `allowReusePort` is `true`.
   * @throws {TypeError} A Python-style `static addressFamily` the address contradicts (bind `"::"`
   *   for an IPv6 server on every interface).
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, UDPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const server = new UDPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
   *   bindAndActivate: false,
   * });
   * server.serverBind();
   * assert.notEqual(server.serverAddress.port, 0);
   * await server.serverClose();
   * ```
   */
  override serverBind(): void {
    checkBindable(this, formatAddress(this.serverAddress));
    requireUnstableNet("UDPServer");
    const { hostname, port } = this.serverAddress;
    if (this.allowReusePort) {
      throw new RangeError(
        "allowReusePort true cannot be honoured by UDPServer: Deno.listenDatagram has no SO_REUSEPORT option; remove the override (allowReuseAddress lets a second socket bind the port, but the newest one then receives every datagram)",
      );
    }
    checkNetPermission(hostname, port);
    let socket;
    try {
      socket = Deno.listenDatagram({
        transport: "udp",
        hostname,
        port,
        ...(this.allowReuseAddress ? { reuseAddress: true } : {}),
      });
    } catch (error) {
      throw bindError(error, hostname, port);
    }
    checkBoundFamily(this, socket, hostname); // closed when refused: the server stays unbound
    this.socket = socket;
    this.serverAddress = socket.addr as UdpAddr;
  }
}

// allowReusePort is checked when binding, which a static override reaches too
declareAttributes(UDPServer, { allowReuseAddress: null, allowReusePort: null });

/** Methods inherited by UDPServer, declared again so that its doc page lists them. */
export interface UDPServer {
  // doc-pages: generated by `deno task doc:pages`, do not edit
  /** See {@linkcode BaseServer.stats}. */
  stats(): ServerStats;
  /** See {@linkcode BaseServer.serveForever}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** See {@linkcode BaseServer.shutdown}. */
  shutdown(): Promise<void>;
  /** See {@linkcode BaseServer.handleRequest}. */
  handleRequest(): Promise<void>;
  /** See {@linkcode UDPServer.serverBind}. */
  serverBind(): void;
  /** See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** See {@linkcode DatagramServer.getRequest}. */
  getRequest(): Promise<[DatagramRequest, Deno.NetAddr]>;
  /** See {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: DatagramRequest, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** See {@linkcode BaseServer.processRequest}. */
  processRequest(request: DatagramRequest, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: DatagramRequest, clientAddress: Deno.NetAddr): Promise<void>;
  /** See {@linkcode BaseServer.shutdownRequest}. */
  shutdownRequest(request: DatagramRequest): Awaitable<void>;
  /** See {@linkcode DatagramServer.closeRequest}. */
  closeRequest(request: DatagramRequest): void;
  /** See {@linkcode BaseServer.handleError}. */
  handleError(
    request: DatagramRequest,
    clientAddress: Deno.NetAddr,
    error: unknown,
  ): Awaitable<void>;
  /** See {@linkcode BaseServer.handleDrop}. */
  handleDrop(
    request: DatagramRequest,
    clientAddress: Deno.NetAddr,
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
