/**
 * {@linkcode TCPServer}: a stream server on `Deno.listen`.
 *
 * @module
 */

import type { Awaitable, RequestHandlerClass, ServerCloseOptions } from "./base_server.ts";
import { StreamServer, type StreamServerOptions } from "./stream_server.ts";
import { declareAttributes } from "./_attributes.ts";
import { alreadyBound } from "./_bind.ts";
import { formatAddress } from "./_format.ts";
import { bindError, checkNetAddress } from "./_net_address.ts";
import { checkNetPermission } from "./_permissions.ts";
import { kAttribute, kListen } from "./_symbols.ts";

/**
 * Where a TCP (or TLS, or UDP) server listens.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type NetAddress, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const address: NetAddress = { hostname: "127.0.0.1", port: 0 };
 * await using server = new TCPServer(address, BaseRequestHandler);
 * assert.equal(server.serverAddress.hostname, "127.0.0.1");
 * assert.notEqual(server.serverAddress.port, 0);
 * ```
 */
export interface NetAddress {
  /** An IPv4 or IPv6 literal, or a host name. Default `"0.0.0.0"`, every IPv4
   * interface, as in `Deno.listen`; `""` means the same, as Python's
   * `HOST = ""` does. */
  hostname?: string;
  /** The port; 0 picks a free one, reported in `serverAddress`. */
  port: number;
}

/**
 * Python's address tuple, `(HOST, PORT)`, written `[HOST, PORT]`: every TCP,
 * TLS and UDP server takes it beside a {@linkcode NetAddress}. A `HOST` of
 * `""` means every interface, as in Python.
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
 * A bound TCP address: a `Deno.NetAddr` whose transport is `"tcp"`, so it
 * can be passed straight to `Deno.connect()`.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type TcpAddr, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
 * const address: TcpAddr = server.serverAddress;
 * const conn = await Deno.connect(address); // no conversion needed
 * assert.equal(conn.remoteAddr.port, address.port);
 * conn.close();
 * ```
 */
export type TcpAddr = Deno.NetAddr & { transport: "tcp" };

/**
 * Options of {@linkcode TCPServer}; each attribute option overrides the
 * class attribute of the same name for this instance.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TCPServer, type TCPServerOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: TCPServerOptions = { requestQueueSize: 128, timeout: 5000 };
 * await using server = new TCPServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   BaseRequestHandler,
 *   options,
 * );
 * assert.equal(server.requestQueueSize, 128);
 * ```
 */
export interface TCPServerOptions extends StreamServerOptions {
  /** {@linkcode TCPServer.allowReuseAddress}. */
  allowReuseAddress?: boolean;
  /** {@linkcode TCPServer.allowReusePort}. */
  allowReusePort?: boolean;
  /** {@linkcode TCPServer.requestQueueSize}. */
  requestQueueSize?: number;
}

/**
 * A TCP server with the connection type left open: {@linkcode TCPServer} is
 * `TCPServerBase<Deno.TcpConn>`, `TLSServer` is
 * `TCPServerBase<Deno.TlsConn>`. It holds what both share — the address
 * check, the `net` permission check, the bind and the TCP class attributes —
 * and opens its listener with `Deno.listen`. Use `TCPServer` or `TLSServer`;
 * extend this only for another `Deno.Conn<Deno.NetAddr>` listener.
 *
 * @typeParam C The connection type.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, TCPServerBase } from "@x/socketserver";
 *
 * class Hello extends StreamRequestHandler<TCPServerBase<Deno.TcpConn>> {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * await using _server = new TCPServerBase<Deno.TcpConn>(
 *   { hostname: "127.0.0.1", port: 0 },
 *   Hello,
 * );
 * ```
 */
export class TCPServerBase<C extends Deno.Conn<Deno.NetAddr>> extends StreamServer<C, TcpAddr> {
  /** Class attribute: whether `SO_REUSEADDR` is set. Deno sets it on every
   * TCP listener on Unix, so it is `true` here and `false` cannot be honoured
   * (binding throws). Python: `allow_reuse_address` (default `False`). */
  static allowReuseAddress: boolean = true;
  /** Class attribute: whether `SO_REUSEPORT` is set, letting several
   * processes listen on one port (Linux; needs `--unstable-net`, without
   * which binding throws `Deno.errors.NotSupported`). Python:
   * `allow_reuse_port`. */
  static allowReusePort: boolean = false;
  /** Class attribute: the listen backlog. Default 511, Deno's (Python's 5
   * drops connections under any real load). Python: `request_queue_size`. */
  static requestQueueSize: number = 511;

  /** The options given to the constructor; see `BaseServer.options`. */
  declare readonly options: Readonly<TCPServerOptions>;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds
   * and listens.
   *
   * @param serverAddress Where to listen: `{ hostname?, port }`, or
   *   Python's `[hostname, port]`; a hostname of `""` means every interface.
   * @param RequestHandlerClass The handler class, run once per connection.
   * @param options Attribute values for this instance, and `bindAndActivate`.
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

  /** `"AF_INET6"` for an IPv6 address, else `"AF_INET"`. Python:
   * `address_family`, which picks the family; here the address does. */
  get addressFamily(): "AF_INET" | "AF_INET6" {
    return this.serverAddress.hostname.includes(":") ? "AF_INET6" : "AF_INET";
  }

  /**
   * Checks the `net` permission, then binds and listens with `Deno.listen`,
   * which does both in one call (so `serverActivate()` has nothing left to
   * do), and sets `serverAddress` to the bound address.
   *
   * @throws {Deno.errors.NotCapable} No `net` permission for the address.
   * @throws {Deno.errors.AddrInUse} The address is taken.
   * @throws {Deno.errors.PermissionDenied} A port below 1024 without the
   *   privilege to bind it.
   * @throws {Deno.errors.NotSupported} `allowReusePort` is true and Deno
   *   runs without `--unstable-net`.
   * @throws {Error} The server is already bound, or the host name does not
   *   resolve.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
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
    // Without --unstable-net, Deno ends the process (exit code 70) at a
    // reusePort listen, where no catch runs: refuse first. Deno.listenDatagram
    // comes with the same flag, so its presence says whether it is on.
    if (
      this.allowReusePort &&
      typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function"
    ) {
      throw new Deno.errors.NotSupported(
        `${this.constructor.name} cannot set SO_REUSEPORT (allowReusePort: true) without Deno's unstable net API: run with --unstable-net, or add "unstable": ["net"] to deno.json`,
      );
    }
    checkNetPermission(hostname, port);
    try {
      this.socket = this[kListen]({
        transport: "tcp",
        hostname,
        port,
        tcpBacklog: backlog,
        ...(this.allowReusePort ? { reusePort: true } : {}),
      });
    } catch (error) {
      throw bindError(error, hostname, port);
    }
    this.serverAddress = this.socket.addr;
  }

  /**
   * Internal: opens the listener, `Deno.listen`; `TLSServer` overrides it.
   *
   * @ignore
   */
  [kListen](options: Deno.TcpListenOptions & { transport: "tcp" }): Deno.Listener<C, TcpAddr> {
    return Deno.listen(options) as unknown as Deno.Listener<C, TcpAddr>;
  }
}

declareAttributes(TCPServerBase, {
  allowReuseAddress: null,
  allowReusePort: null,
  // checked when binding, which a static override reaches too
  requestQueueSize: null,
});

/**
 * A TCP server, Python's `socketserver.TCPServer`: it binds and listens in
 * its constructor (unless `bindAndActivate: false`), so `serverAddress` holds
 * the real port at once, and hands each connection to a new handler. Like
 * Python's, it handles one connection at a time; for one task per connection
 * use `ThreadingTCPServer`.
 *
 * Binding first checks Deno's `net` permission for the exact address and
 * throws `Deno.errors.NotCapable` naming the `--allow-net=` flag to add.
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
 *
 * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, MyTCPHandler);
 * server.serveForever();
 *
 * const conn = await Deno.connect(server.serverAddress);
 * await sendall(conn, "hello world\n");
 * assert.equal(await new Response(conn.readable).text(), "HELLO WORLD");
 * ```
 */
export class TCPServer extends TCPServerBase<Deno.TcpConn> {}

/**
 * The methods every TCPServer has, each defined by the class its note names
 * ({@linkcode TCPServerBase}, `StreamServer` or `BaseServer`), declared again here only so that
 * this page lists them: a documentation page shows a class's own members.
 */
export interface TCPServer {
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
  /** Checks the `net` permission, then binds and listens with `Deno.listen`, which does both in
   * one call (so `serverActivate()` has nothing left to do), and sets `serverAddress` to the
   * bound address. See {@linkcode TCPServerBase.serverBind}. */
  serverBind(): void;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Accepts the next connection. See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** Processes an accepted, verified request. See {@linkcode BaseServer.processRequest}. */
  processRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** Runs the handler — constructs `RequestHandlerClass` and calls its `setup()`, `handle()` and,
   * even when `handle()` throws, `finish()`. See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Promise<void>;
  /** Shuts the write side down (the client sees EOF after everything that was written), then
   * closes the connection. See {@linkcode StreamServer.shutdownRequest}. */
  shutdownRequest(request: Deno.TcpConn): Promise<void>;
  /** Closes the connection. See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.TcpConn): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(request: Deno.TcpConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.TcpConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
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
