/**
 * {@linkcode TCPServer}: a stream server on `Deno.listen`.
 *
 * @module
 */

import {
  BaseServer,
  type BaseServerOptions,
  formatAddress,
  kAttribute,
  kCloseSocket,
  type RequestHandlerClass,
} from "./server.ts";
import { checkNetPermission } from "./permissions.ts";

/** Where a TCP (or TLS, or UDP) server listens. */
export interface NetAddress {
  /** An IPv4 or IPv6 literal, or a host name. Default `"0.0.0.0"`, every IPv4
   * interface, as in `Deno.listen`. */
  hostname?: string;
  /** The port; 0 picks a free one, reported in `serverAddress`. */
  port: number;
}

/** A bound TCP address: a `Deno.NetAddr` whose transport is `"tcp"`, so it
 * can be passed straight to `Deno.connect()`. */
export type TcpAddr = Deno.NetAddr & { transport: "tcp" };

/** Options of {@linkcode TCPServer}; each attribute option overrides the
 * class attribute of the same name for this instance. */
export interface TCPServerOptions extends BaseServerOptions {
  /** Bind and listen in the constructor (the default). With `false`, call
   * `serverBind()` and `serverActivate()` yourself. Python:
   * `bind_and_activate`. */
  bindAndActivate?: boolean;
  /** {@linkcode TCPServer.allowReuseAddress}. */
  allowReuseAddress?: boolean;
  /** {@linkcode TCPServer.allowReusePort}. */
  allowReusePort?: boolean;
  /** {@linkcode TCPServer.requestQueueSize}. */
  requestQueueSize?: number;
}

/**
 * Validates a `{ hostname?, port }` address before any socket is opened.
 *
 * @param address The address to check.
 * @param what How to name it in messages.
 * @returns The address with the default hostname filled in.
 * @throws {TypeError} Not an object, a non-number port, an empty or non-string hostname.
 * @throws {RangeError} A port outside 0–65535 or not an integer.
 */
export function checkNetAddress(
  address: unknown,
  what = "server address",
): { hostname: string; port: number } {
  if (address === null || typeof address !== "object") {
    throw new TypeError(
      `The ${what} must be an object like { hostname: "127.0.0.1", port: 9999 }, got ${
        String(address)
      }`,
    );
  }
  const { hostname = "0.0.0.0", port } = address as { hostname?: unknown; port?: unknown };
  if (typeof port !== "number") {
    throw new TypeError(
      `The ${what}'s port must be a number from 0 to 65535, got ${
        typeof port === "string" ? `"${port}"` : String(port)
      }`,
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `The ${what}'s port must be an integer from 0 to 65535, got ${port}: use 0 for any free port`,
    );
  }
  if (typeof hostname !== "string" || hostname === "") {
    throw new TypeError(
      `The ${what}'s hostname must be a non-empty string, got ${
        hostname === "" ? '""' : String(hostname)
      }: use "0.0.0.0" for every interface`,
    );
  }
  return { hostname, port };
}

/** Rewrites the errors of a failed bind so that they name the address. */
export function bindError(error: unknown, address: string): unknown {
  if (error instanceof Deno.errors.AddrInUse) {
    return new Deno.errors.AddrInUse(
      `Address "${address}" is already in use: stop what holds it, or bind port 0 for a free port`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new Deno.errors.AddrNotAvailable(
      `Address "${address}" is not available on this machine: bind one of its own addresses, or "0.0.0.0"`,
      { cause: error },
    );
  }
  return error;
}

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
 * import { BaseRequestHandler, TCPServer } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * class MyTCPHandler extends BaseRequestHandler {
 *   override async handle() {
 *     const data = new Uint8Array(1024);
 *     const n = await this.request.read(data) ?? 0;
 *     const text = new TextDecoder().decode(data.subarray(0, n)).trim();
 *     await this.request.write(new TextEncoder().encode(text.toUpperCase()));
 *   }
 * }
 *
 * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, MyTCPHandler);
 * server.serveForever();
 *
 * const conn = await Deno.connect(server.serverAddress);
 * await conn.write(new TextEncoder().encode("hello world\n"));
 * assert.equal(await new Response(conn.readable).text(), "HELLO WORLD");
 * ```
 */
export class TCPServer extends BaseServer<Deno.TcpConn, Deno.NetAddr, TcpAddr> {
  /** Class attribute: whether `SO_REUSEADDR` is set. Deno sets it on every
   * TCP listener on Unix, so it is `true` here and `false` cannot be honoured
   * (binding throws). Python: `allow_reuse_address` (default `False`). */
  static allowReuseAddress: boolean = true;
  /** Class attribute: whether `SO_REUSEPORT` is set, letting several
   * processes listen on one port (Linux; needs `--unstable-net`). Python:
   * `allow_reuse_port`. */
  static allowReusePort: boolean = false;
  /** Class attribute: the listen backlog. Default 511, Deno's (Python's 5
   * drops connections under any real load). Python: `request_queue_size`. */
  static requestQueueSize: number = 511;

  /** The listener; `undefined` until `serverBind()`. */
  socket!: Deno.TcpListener;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds
   * and listens.
   *
   * @param serverAddress Where to listen: `{ hostname?, port }`.
   * @param RequestHandlerClass The handler class, run once per connection.
   * @param options Attribute values for this instance, and `bindAndActivate`.
   * @throws {TypeError} A malformed address or handler class.
   * @throws {RangeError} A port outside 0–65535.
   * @throws {Deno.errors.NotCapable} No `net` permission for the address.
   * @throws {Deno.errors.AddrInUse} The address is taken.
   */
  constructor(
    serverAddress: NetAddress,
    RequestHandlerClass: RequestHandlerClass<Deno.TcpConn, Deno.NetAddr>,
    options: TCPServerOptions = {},
  ) {
    const { hostname, port } = checkNetAddress(serverAddress);
    super({ transport: "tcp", hostname, port }, RequestHandlerClass, options);
    if (options.bindAndActivate ?? true) {
      try {
        mustBeSync(this.serverBind(), "serverBind");
        mustBeSync(this.serverActivate(), "serverActivate");
      } catch (error) {
        this[kCloseSocket]();
        throw error;
      }
    }
  }

  /** Whether `SO_REUSEADDR` is set; see the static attribute. */
  get allowReuseAddress(): boolean {
    return this[kAttribute]("allowReuseAddress") as boolean;
  }
  set allowReuseAddress(value: boolean) {
    this[kAttribute]("allowReuseAddress", value);
  }

  /** Whether `SO_REUSEPORT` is set; see the static attribute. */
  get allowReusePort(): boolean {
    return this[kAttribute]("allowReusePort") as boolean;
  }
  set allowReusePort(value: boolean) {
    this[kAttribute]("allowReusePort", value);
  }

  /** The listen backlog; see the static attribute. */
  get requestQueueSize(): number {
    return this[kAttribute]("requestQueueSize") as number;
  }
  set requestQueueSize(value: number) {
    this[kAttribute]("requestQueueSize", value);
  }

  /** `"AF_INET6"` for an IPv6 address, else `"AF_INET"`. Python:
   * `address_family`, which picks the family; here the address does. */
  get addressFamily(): "AF_INET" | "AF_INET6" {
    return this.serverAddress.hostname.includes(":") ? "AF_INET6" : "AF_INET";
  }

  /** Always `"SOCK_STREAM"`. Python: `socket_type`. */
  get socketType(): "SOCK_STREAM" {
    return "SOCK_STREAM";
  }

  /**
   * Checks the `net` permission, then binds and listens with `Deno.listen`,
   * which does both in one call (so `serverActivate()` has nothing left to
   * do), and sets `serverAddress` to the bound address.
   *
   * @throws {Deno.errors.NotCapable} No `net` permission for the address.
   * @throws {Deno.errors.AddrInUse} The address is taken.
   * @throws {Error} The server is already bound.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
   *   bindAndActivate: false,
   * });
   * server.serverBind();
   * console.assert(server.serverAddress.port !== 0);
   * await server.serverClose();
   * ```
   */
  override serverBind(): void {
    if (this.socket !== undefined) {
      throw new Error(`The server is already bound to "${formatAddress(this.serverAddress)}"`);
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
    checkNetPermission(hostname, port);
    try {
      this.socket = Deno.listen({
        transport: "tcp",
        hostname,
        port,
        tcpBacklog: backlog,
        ...(this.allowReusePort ? { reusePort: true } : {}),
      });
    } catch (error) {
      throw bindError(error, formatAddress({ hostname, port }));
    }
    this.serverAddress = this.socket.addr as TcpAddr;
  }

  /**
   * Accepts the next connection.
   *
   * @returns `[connection, clientAddress]`.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * const client = await Deno.connect(server.serverAddress);
   * const [conn, address] = await server.getRequest();
   * console.assert(address.port === client.localAddr.port);
   * conn.close();
   * client.close();
   * ```
   */
  override async getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]> {
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
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
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
  override async shutdownRequest(request: Deno.TcpConn): Promise<void> {
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
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
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
  override closeRequest(request: Deno.TcpConn): void {
    try {
      request.close();
    } catch {
      // already closed
    }
    super.closeRequest(request);
  }

  /** Internal: closes the listener. */
  override [kCloseSocket](): void {
    try {
      this.socket?.close();
    } catch {
      // already closed
    }
  }
}

function mustBeSync(result: unknown, hook: string): void {
  if (result instanceof Promise) {
    result.catch(() => {});
    throw new TypeError(
      `${hook}() returned a promise, which a constructor cannot await: pass { bindAndActivate: false } and await server.${hook}() yourself`,
    );
  }
}
