/**
 * {@linkcode StreamServer}: what the connection-oriented servers share —
 * TCP, TLS and Unix stream sockets.
 *
 * @module
 */

import type { AccessList } from "./access_list.ts";
import { BaseServer, type BaseServerOptions, type RequestHandlerClass } from "./base_server.ts";
import { NotBoundError } from "./errors.ts";
import { type Admission, markOver } from "./_open_requests.ts";
import type { ProxyProtocolMode } from "./proxy_protocol.ts";
import { declareAttributes } from "./_attributes.ts";
import { bindAndActivate } from "./_bind.ts";
import { opsInFlight, sendsInFlight } from "./_conn_files.ts";
import { registerBuiltins } from "./_fused_flow.ts";
import {
  checkHeaderTimeout,
  checkProxyProtocol,
  checkTrustedProxies,
  ProxyAdmission,
} from "./_proxy_admission.ts";
import { kAttribute, kCheckProxy, kCloseSocket, kRequests } from "./_symbols.ts";

/**
 * Options of every {@linkcode StreamServer}.
 *
 * @example Binding later
 * ```ts
 * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
 *
 * const server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler, { bindAndActivate: false });
 * server.serverBind();
 * server.serverActivate();
 * await server.serverClose();
 * ```
 */
export interface StreamServerOptions extends BaseServerOptions {
  /** Bind and listen in the constructor; with `false`, call `serverBind()`
   * and `serverActivate()` yourself. Python: `bind_and_activate`.
   * @default {true} */
  bindAndActivate?: boolean;
  /** {@linkcode StreamServer.proxyProtocol}: read a PROXY protocol header
   * first on every connection (needs `trustedProxies`).
   * @default {null} */
  proxyProtocol?: ProxyProtocolMode | null;
  /** {@linkcode StreamServer.trustedProxies}: who may send the header.
   * @default {null} */
  trustedProxies?: Iterable<string> | AccessList | null;
  /** {@linkcode StreamServer.proxyHeaderTimeout}: the header's deadline, in ms.
   * @default {3000} */
  proxyHeaderTimeout?: number;
}

/**
 * The base of the stream servers (TCP, TLS, Unix; Python has no such class): accepts from
 * `socket`, a `Deno.Listener`, and ends each request by shutting its write side, then closing it.
 * A subclass's `serverBind()` sets `socket` and `serverAddress`; the constructor binds, so it reads
 * `this.options`, and the fields it sets are `declare`d (an initialiser would undo the bind).
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
export class StreamServer<
  C extends Deno.Conn = Deno.Conn,
  SA extends Deno.Addr = Deno.Addr,
  A extends Deno.Addr = C["remoteAddr"],
> extends BaseServer<C, A, SA> {
  /** Class attribute: `"v1"`, `"v2"` or `"any"` to read a PROXY protocol header before
   * `verifyRequest()`, making `clientAddress` the relayed client; a connection without a valid one
   * is dropped. `null`: no header. Not on `TLSServer`. See docs/deployment.md. */
  static proxyProtocol: ProxyProtocolMode | null = null;
  /** Class attribute: the proxies that may send the header (`["10.0.0.0/8", "::1"]`, `"unix:"`,
   * or an `AccessList`); required with `proxyProtocol`. Anyone else is closed before any read. */
  static trustedProxies: Iterable<string> | AccessList | null = null;
  /** Class attribute: how long a trusted proxy may take to send the whole header, in ms from the
   * accept (the specification's 3 s). Without `ThreadingMixIn` a slow header holds up the next. */
  static proxyHeaderTimeout: number = 3000;

  /** The listener; `undefined` until `serverBind()`. */
  declare socket: Deno.Listener<C, SA>;
  /** The constructor's options; see {@linkcode BaseServer.options}. */
  declare readonly options: Readonly<StreamServerOptions>;

  /** Creates the server and, unless `bindAndActivate` is false, binds and listens.
   * @throws {TypeError} A malformed handler class, or an async bind;
   *   `proxyProtocol` without `trustedProxies`.
   * @throws {Deno.errors.NotSupported} `proxyProtocol` on a `TLSServer`. */
  constructor(
    serverAddress: SA,
    RequestHandlerClass: RequestHandlerClass<C, A>,
    options: StreamServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
    this.#proxyChanged();
    if (options.bindAndActivate ?? true) bindAndActivate(this);
  }

  /** Which PROXY protocol header every connection starts with, or `null`;
   * see the static attribute. */
  get proxyProtocol(): ProxyProtocolMode | null {
    return this[kAttribute]("proxyProtocol");
  }
  set proxyProtocol(value: ProxyProtocolMode | null) {
    this.#setProxy("proxyProtocol", value);
  }

  /** Who may send the header; see the static attribute. */
  get trustedProxies(): Iterable<string> | AccessList | null {
    return this[kAttribute]("trustedProxies");
  }
  set trustedProxies(value: Iterable<string> | AccessList | null) {
    this.#setProxy("trustedProxies", value);
  }

  /** The header's deadline, in ms; see the static attribute. */
  get proxyHeaderTimeout(): number {
    return this[kAttribute]("proxyHeaderTimeout");
  }
  set proxyHeaderTimeout(value: number) {
    this.#setProxy("proxyHeaderTimeout", value);
  }

  /** Sets a PROXY attribute; on an invalid combination, puts the old value back and throws. */
  #setProxy(name: "proxyProtocol" | "trustedProxies" | "proxyHeaderTimeout", value: unknown) {
    const old = this[kAttribute](name);
    this[kAttribute](name, value);
    try {
      this.#proxyChanged();
    } catch (error) {
      this[kAttribute](name, old);
      throw error;
    }
  }

  /** Decides, once per change of the options rather than per connection, what runs before
   * `verifyRequest()`. */
  #proxyChanged(): void {
    const mode = this.proxyProtocol;
    if (mode !== null) this[kCheckProxy]();
    const replaced = this[kRequests].admission;
    this[kRequests].admission = mode === null ? null : new ProxyAdmission(
      mode,
      this.trustedProxies,
      this.proxyHeaderTimeout,
      // a ThreadingMixIn server: the header is read in the request's task
      typeof (this as { processRequestThread?: unknown }).processRequestThread === "function",
      this.constructor.name,
      (this.serverAddress as Deno.Addr).transport === "unix",
    ) as unknown as Admission<C, A>;
    replaced?.close();
  }

  /** Always `"SOCK_STREAM"`. Python: `socket_type`. */
  get socketType(): "SOCK_STREAM" {
    return "SOCK_STREAM";
  }

  /**
   * Accepts the next connection.
   *
   * @throws {Deno.errors.BadResource} The server was never bound.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * await using server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
   * const client = await Deno.connect(server.serverAddress);
   * const [conn, address] = await server.getRequest();
   * assert.equal(address.port, (client.localAddr as Deno.NetAddr).port);
   * conn.close();
   * client.close();
   * ```
   */
  override async getRequest(): Promise<[C, A]> {
    if (this.socket === undefined) throw new NotBoundError(this);
    const conn = await this.socket.accept();
    return [conn, conn.remoteAddr as A];
  }

  /**
   * Shuts the write side (the client reads everything written, then EOF),
   * then closes the connection. Python: `shutdown_request()`.
   *
   * @example
   * ```ts
   * import { StreamRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * class Hello extends StreamRequestHandler {
   *   override async handle() {
   *     await this.wfile.write("hello\n");
   *   }
   * }
   * await using server = new TCPServer(["127.0.0.1", 0], Hello);
   * const client = await Deno.connect(server.serverAddress);
   * await server.handleRequest(); // ends in shutdownRequest()
   * assert.equal(await new Response(client.readable).text(), "hello\n"); // then EOF
   * ```
   */
  override async shutdownRequest(request: C): Promise<void> {
    if (this[kRequests].lingering(request)) return; // serverClose() closes it when its linger ends
    // An unawaited sendall() is sent in full, as Python's blocking one is
    const sending = sendsInFlight(request);
    if (sending !== null) await sending;
    if (this[kRequests].lingering(request)) return; // the grace ran out meanwhile
    // Deno's close() cancels an unawaited write in flight; closeWrite() waits for it
    try {
      await request.closeWrite();
    } catch {
      // the client is gone, or the connection is already closed
    }
    const closed: unknown = this.closeRequest(request);
    if (closed instanceof Promise) await closed;
    // over even when an override did not call super, unless serverClose() now owns it
    if (!this[kRequests].lingering(request)) markOver(this, request);
  }

  /**
   * Closes the connection. Python: `close_request()`.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const ports: number[] = [];
   * class Logged extends TCPServer {
   *   override closeRequest(conn: Deno.TcpConn) {
   *     ports.push(conn.remoteAddr.port);
   *     super.closeRequest(conn);
   *   }
   * }
   * await using server = new Logged(["127.0.0.1", 0], BaseRequestHandler);
   * using client = await Deno.connect(server.serverAddress);
   * await server.handleRequest();
   * assert.deepEqual(ports, [(client.localAddr as Deno.NetAddr).port]);
   * ```
   */
  override closeRequest(request: C): void {
    if (this[kRequests].lingering(request)) return; // serverClose() closes it when its linger ends
    try {
      request.close();
    } catch {
      // already closed
    }
    if (this.maxConnections !== null) {
      // A read that outlived a timeout holds the descriptor a turn longer: it counts until then, or
      // a batch of timeouts would let in as many new clients at once
      const releasing = opsInFlight(request);
      if (releasing !== null) this[kRequests].hold(releasing);
    }
    super.closeRequest(request);
  }

  /** @ignore Internal: closes the listener. */
  override [kCloseSocket](): void {
    try {
      this.socket?.close();
    } catch {
      // already closed
    }
  }

  /** @ignore Internal: throws when this transport cannot read a PROXY header. */
  [kCheckProxy](): void {}
}

declareAttributes(StreamServer, {
  proxyProtocol: checkProxyProtocol,
  trustedProxies: checkTrustedProxies,
  proxyHeaderTimeout: checkHeaderTimeout,
});

registerBuiltins(StreamServer.prototype, ["getRequest", "shutdownRequest", "closeRequest"], {
  streamShutdown: "shutdownRequest",
});
