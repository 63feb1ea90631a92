/**
 * {@linkcode UDPServer}: a datagram server on `Deno.listenDatagram`.
 *
 * @module
 */

import type { Awaitable, RequestHandlerClass, ServerCloseOptions } from "./base_server.ts";
import type { NetAddress, NetAddressTuple } from "./tcp_server.ts";
import { alreadyBound } from "./_bind.ts";
import { formatAddress } from "./_format.ts";
import { bindError, checkNetAddress } from "./_net_address.ts";
import { checkNetPermission } from "./_permissions.ts";
import { kAttribute } from "./_symbols.ts";
import {
  type DatagramRequest,
  DatagramServer,
  type DatagramServerOptions,
  requireUnstableNet,
} from "./datagram.ts";

/**
 * A bound UDP address: a `Deno.NetAddr` whose transport is `"udp"`, so it
 * can be passed straight to `DatagramConn.send()`.
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler, type UdpAddr, UDPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * await using server = new UDPServer({ hostname: "127.0.0.1", port: 0 }, DatagramRequestHandler);
 * const address: UdpAddr = server.serverAddress;
 * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const sent = await client.send(new TextEncoder().encode("ping"), address); // no conversion
 * assert.equal(sent, 4);
 * client.close();
 * ```
 */
export type UdpAddr = Deno.NetAddr & { transport: "udp" };

/**
 * Options of {@linkcode UDPServer}; each attribute option overrides the
 * class attribute of the same name for this instance.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, UDPServer, type UDPServerOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: UDPServerOptions = { allowReuseAddress: true, maxPacketSize: 512 };
 * await using server = new UDPServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   BaseRequestHandler,
 *   options,
 * );
 * assert.equal(server.allowReuseAddress, true);
 * assert.equal(server.allowReusePort, false);
 * ```
 */
export interface UDPServerOptions extends DatagramServerOptions {
  /** {@linkcode UDPServer.allowReuseAddress}. */
  allowReuseAddress?: boolean;
  /** {@linkcode UDPServer.allowReusePort}: only `false` can be honoured. */
  allowReusePort?: boolean;
}

/**
 * A UDP server, Python's `socketserver.UDPServer`: every datagram is a
 * request, `[packet, socket]`, handed to a new handler — usually a
 * {@linkcode DatagramRequestHandler}, whose `finish()` sends the reply. Like
 * Python's, it handles one datagram at a time; for one task per datagram use
 * `ThreadingUDPServer`.
 *
 * It runs on `Deno.listenDatagram`, which Deno 2.9 ships as unstable: run
 * with `--unstable-net` (this repository's `deno.json` enables it); without
 * it the constructor throws `Deno.errors.NotSupported` saying so. Binding
 * checks the `net` permission for the exact address first, like
 * {@linkcode TCPServer}. IPv6 works: bind `"::1"`, or `"::"` for every
 * interface (IPv4 clients then appear as `::ffff:a.b.c.d`).
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
  /** Class attribute: bind even when another socket holds the address
   * (Deno's `reuseAddress`, which takes the address over). Python:
   * `allow_reuse_address` (`False` for `UDPServer`). */
  static allowReuseAddress: boolean = false;
  /** Class attribute: whether `SO_REUSEPORT` is set, letting several sockets
   * share the port and its datagrams. Python: `allow_reuse_port` (`False`).
   * Deno's `Deno.listenDatagram` has no such option, so only `false` can be
   * honoured: `true` makes the bind throw a `RangeError`. (`allowReuseAddress`
   * lets a second socket bind the port, but on Linux the newest socket then
   * receives every datagram: nothing is shared.) */
  static allowReusePort: boolean = false;

  /** The options given to the constructor; see `BaseServer.options`. */
  declare readonly options: Readonly<UDPServerOptions>;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds.
   *
   * @param serverAddress Where to listen: `{ hostname?, port }`, or
   *   Python's `[hostname, port]`; a hostname of `""` means every interface.
   * @param RequestHandlerClass The handler class, run once per datagram.
   * @param options Attribute values for this instance, and `bindAndActivate`.
   * @throws {TypeError} A malformed address or handler class.
   * @throws {RangeError} A port outside 0–65535, a bad `maxPacketSize`, or
   *   `allowReusePort` set.
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
    return this[kAttribute]("allowReuseAddress") as boolean;
  }
  set allowReuseAddress(value: boolean) {
    this[kAttribute]("allowReuseAddress", value);
  }

  /** Whether `SO_REUSEPORT` is asked for; see the static attribute. */
  get allowReusePort(): boolean {
    return this[kAttribute]("allowReusePort") as boolean;
  }
  set allowReusePort(value: boolean) {
    this[kAttribute]("allowReusePort", value);
  }

  /** `"AF_INET6"` for an IPv6 address, else `"AF_INET"`. Python:
   * `address_family`. */
  get addressFamily(): "AF_INET" | "AF_INET6" {
    return this.serverAddress.hostname.includes(":") ? "AF_INET6" : "AF_INET";
  }

  /**
   * Checks that the datagram API is enabled and the `net` permission, then
   * binds with `Deno.listenDatagram` and sets `serverAddress` to the bound
   * address. A UDP server has nothing to activate.
   *
   * @throws {Deno.errors.NotSupported} Deno runs without `--unstable-net`.
   * @throws {Deno.errors.NotCapable} No `net` permission for the address.
   * @throws {Deno.errors.AddrInUse} The address is taken.
   * @throws {RangeError} `allowReusePort` is `true`.
   * @throws {Error} The server is already bound.
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
    if (this.socket !== undefined) {
      throw alreadyBound(formatAddress(this.serverAddress));
    }
    requireUnstableNet("UDPServer");
    const { hostname, port } = this.serverAddress;
    if (this.allowReusePort) {
      throw new RangeError(
        "allowReusePort true cannot be honoured by UDPServer: Deno.listenDatagram has no SO_REUSEPORT option; remove the override (allowReuseAddress lets a second socket bind the port, but the newest one then receives every datagram)",
      );
    }
    checkNetPermission(hostname, port);
    try {
      this.socket = Deno.listenDatagram({
        transport: "udp",
        hostname,
        port,
        ...(this.allowReuseAddress ? { reuseAddress: true } : {}),
      });
    } catch (error) {
      throw bindError(error, hostname, port);
    }
    this.serverAddress = this.socket.addr as UdpAddr;
  }
}

/**
 * The methods every UDPServer has, each defined by the class its note names
 * (`DatagramServer` or `BaseServer`), declared again here only so that
 * this page lists them: a documentation page shows a class's own members.
 */
export interface UDPServer {
  /** Handles requests until {@linkcode BaseServer.shutdown} is called or the socket is closed.
   * See {@linkcode BaseServer.serveForever}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** Stops {@linkcode BaseServer.serveForever} and resolves once it has returned. See
   * {@linkcode BaseServer.shutdown}. */
  shutdown(): Promise<void>;
  /** Handles exactly one request: waits for it (at most `timeout` ms, calling
   * {@linkcode BaseServer.handleTimeout} when nothing comes), then verifies, processes and closes
   * it. See {@linkcode BaseServer.handleRequest}. */
  handleRequest(): Promise<void>;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Receives the next datagram. See {@linkcode DatagramServer.getRequest}. */
  getRequest(): Promise<[DatagramRequest, Deno.NetAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: DatagramRequest, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** Processes an accepted, verified request. See {@linkcode BaseServer.processRequest}. */
  processRequest(request: DatagramRequest, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** Runs the handler — constructs `RequestHandlerClass` and calls its `setup()`, `handle()` and,
   * even when `handle()` throws, `finish()`. See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: DatagramRequest, clientAddress: Deno.NetAddr): Promise<void>;
  /** Ends a request — for streams, shuts the write side down, then calls `closeRequest()`. See
   * {@linkcode BaseServer.shutdownRequest}. */
  shutdownRequest(request: DatagramRequest): Awaitable<void>;
  /** Marks the request over. See {@linkcode DatagramServer.closeRequest}. */
  closeRequest(request: DatagramRequest): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(
    request: DatagramRequest,
    clientAddress: Deno.NetAddr,
    error: unknown,
  ): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(
    request: DatagramRequest,
    clientAddress: Deno.NetAddr,
    error: unknown,
  ): Awaitable<void>;
  /** Called by {@linkcode BaseServer.handleRequest} when no request came within `timeout`. See
   * {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** Called by {@linkcode BaseServer.serveForever} after every request and every `pollInterval`
   * ms while idle, never during a request (a `ThreadingMixIn` server's run alongside the tasks of
   * earlier ones) and never twice at once: an idle tick that comes while an async one still runs
   * is skipped. See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** Closes the server — the socket at once (its address is free again when this is called; a
   * connection accepted but not yet handled is closed), then waits for requests still being
   * handled, at most `graceMs` (default: until they finish). See
   * {@linkcode BaseServer.serverClose}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** Stops serving and closes the server (`shutdown()`, then `serverClose()`): what `await using`
   * calls at the end of the scope. See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
}
