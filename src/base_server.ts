/**
 * {@linkcode BaseServer}: the transport-free half of every server — the
 * request loop, the hooks, shutdown and close.
 *
 * @module
 */

import { AttributeValues, declareAttributes } from "./_attributes.ts";
import { checkHandlerClass, checkLimit, nullableDuration } from "./_checks.ts";
import { errorReport } from "./_format.ts";
import { registerBaseServer } from "./_fused_flow.ts";
import { markOver, type OpenRequests } from "./_open_requests.ts";
import { RequestLoop } from "./_request_loop.ts";
import type { ServerStats } from "./server_stats.ts";
import { kAttribute, kBlockOnClose, kCloseSocket, kReportError, kRequests } from "./_symbols.ts";

/**
 * A value or a promise of it: every hook may be async.
 *
 * @example
 * ```ts
 * import type { Awaitable } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const allowed = (host: string): Awaitable<boolean> =>
 *   host === "::1" || Promise.resolve(host === "127.0.0.1");
 * assert.equal(await allowed("127.0.0.1"), true);
 * ```
 */
export type Awaitable<T> = T | Promise<T>;

/**
 * The constructor of a request handler class, as servers take it: called
 * with the request, the client's address and the server, once per request.
 *
 * @typeParam R The request type (a `Deno.Conn` for stream servers).
 * @typeParam A The client address type.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type RequestHandlerClass } from "@x/socketserver";
 *
 * const Handler: RequestHandlerClass<Deno.TcpConn, Deno.NetAddr> = BaseRequestHandler;
 * ```
 */
export type RequestHandlerClass<R = unknown, A = unknown> = new (
  request: R,
  clientAddress: A,
  // deno-lint-ignore no-explicit-any
  server: any,
  // The parameters carry the type check (a handler for a Deno.TcpConn serves TCP servers only);
  // the instance is what the server calls, not BaseRequestHandler, whose module imports this one.
) => { setup(): Awaitable<void>; handle(): Awaitable<void>; finish(): Awaitable<void> };

/**
 * Any server, whatever its request and address types.
 *
 * @example
 * ```ts
 * import type { AnyServer } from "@x/socketserver";
 *
 * const describe = (server: AnyServer) => `${server.constructor.name}: ${server.activeRequests}`;
 * ```
 */
// deno-lint-ignore no-explicit-any
export type AnyServer = BaseServer<any, any, any>;

/**
 * The request type of server `S`: a `Deno.TcpConn` for a `TCPServer`.
 *
 * @example
 * ```ts
 * import type { RequestOf, TCPServer } from "@x/socketserver";
 *
 * const port = (conn: RequestOf<TCPServer>) => conn.remoteAddr.port;
 * ```
 */
export type RequestOf<S> = S extends BaseServer<infer R, infer _A, infer _SA> ? R : unknown;

/**
 * The client address type of server `S`: a `Deno.NetAddr` for a `TCPServer`.
 *
 * @example
 * ```ts
 * import type { ClientAddressOf, UnixDatagramServer } from "@x/socketserver";
 *
 * const path = (address: ClientAddressOf<UnixDatagramServer>) => address.path || "(unnamed)";
 * ```
 */
export type ClientAddressOf<S> = S extends BaseServer<infer _R, infer A, infer _SA> ? A : unknown;

/**
 * Options every server takes; each attribute option overrides the class
 * attribute of the same name for this instance.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * await using server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler, { timeout: 1000 });
 * assert.equal(server.timeout, 1000);
 * ```
 */
export interface BaseServerOptions {
  /** {@linkcode BaseServer.timeout}: how long `handleRequest()` waits, in ms.
   * @default {null} */
  timeout?: number | null;
  /** {@linkcode BaseServer.maxConnections}: the most requests in flight at once.
   * @default {null} */
  maxConnections?: number | null;
  /** Stops and closes the server when it aborts, as `Deno.serve({ signal })` does. Already
   * aborted: the server binds nothing and `serveForever()` returns at once.
   * @default {undefined} */
  signal?: AbortSignal;
}

/**
 * Options of {@linkcode BaseServer.serverClose}.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
 *
 * const server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
 * await server.serverClose({ graceMs: 5000, lingerMs: 500 });
 * ```
 */
export interface ServerCloseOptions {
  /** How long to wait for requests still being handled, in ms, before their connections are
   * closed under them; `Infinity` waits until they finish, like Python's `block_on_close`.
   * @default {Infinity} */
  graceMs?: number;
  /** After the grace, how long each stream connection left may finish the reply under way, in ms,
   * then linger as long again (write side shut, input dropped) so the client gets every byte
   * written; 0 closes at once, which may reset it. See docs/hardening.md.
   * @default {1000} */
  lingerMs?: number;
}

/**
 * The base of every server, Python's `socketserver.BaseServer`: it owns the
 * request loop and defines every hook; a transport brings `serverBind()`,
 * `serverActivate()`, `getRequest()` and the socket.
 *
 * A request flows `getRequest()` → `verifyRequest()` → `processRequest()` →
 * `finishRequest()` (the handler) → `shutdownRequest()` → `closeRequest()`;
 * a refused request goes straight to `shutdownRequest()`, an error on the
 * way to `handleError()` (or `handleDrop()`) and then `shutdownRequest()`.
 * Every hook may return a promise.
 *
 * Class attributes are static properties (`static override timeout =
 * 5000`); the instance property of the same name reads the constructor
 * option, else the static.
 *
 * @typeParam R The request type.
 * @typeParam A The client address type.
 * @typeParam SA The server address type.
 *
 * @example A server over an in-memory queue of requests
 * ```ts
 * import { BaseRequestHandler, BaseServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * class QueueServer extends BaseServer<string, string, string> {
 *   queue = ["a", "b"];
 *   override getRequest(): [string, string] {
 *     return [this.queue.shift()!, "queue"];
 *   }
 * }
 * class Record extends BaseRequestHandler<QueueServer> {
 *   override handle() {
 *     seen.push(this.request);
 *   }
 * }
 * const server = new QueueServer("queue", Record);
 * await server.handleRequest();
 * await server.handleRequest();
 * assert.deepEqual(seen, ["a", "b"]);
 * ```
 */
export class BaseServer<R = unknown, A = unknown, SA = unknown> implements AsyncDisposable {
  /** Class attribute: how long {@linkcode BaseServer.handleRequest} waits,
   * in ms; `null` waits for ever. Python: `timeout` (in seconds). */
  static timeout: number | null = null;
  /** Class attribute: the most requests in flight at once, or `null` for no limit; at the limit
   * the next client waits in the listen backlog. */
  static maxConnections: number | null = null;

  /** The handler class instantiated for every request. */
  readonly RequestHandlerClass: RequestHandlerClass<R, A>;
  /** The constructor's options, frozen, for a `serverBind()` override (run by the base
   * constructor); a subclass types its own: `declare readonly options: Readonly<MyOptions>`. */
  declare readonly options: Readonly<BaseServerOptions>;
  /** The address the server listens on; the bound one once bound. */
  serverAddress: SA;

  /** @ignore Internal: the requests taken and not yet closed (`_open_requests.ts`). */
  readonly [kRequests]: OpenRequests<R, A>;
  /** @ignore Internal: `handleDrop()` or `handleError()`, guarded (`RequestLoop.report()`). */
  readonly [kReportError]: (request: R, clientAddress: A, error: unknown) => Promise<void>;
  #attributes: AttributeValues;
  #loop: RequestLoop<R, A>;

  /** Stores its arguments; a transport binds in its own constructor.
   * @throws {TypeError} Not a handler class, or an option of the wrong type. */
  constructor(
    serverAddress: SA,
    RequestHandlerClass: RequestHandlerClass<R, A>,
    options: BaseServerOptions = {},
  ) {
    checkHandlerClass(RequestHandlerClass);
    this.serverAddress = serverAddress;
    this.RequestHandlerClass = RequestHandlerClass;
    Object.defineProperty(this, "options", { value: Object.freeze({ ...options }) });
    this.#loop = new RequestLoop<R, A>(this, options.signal, BaseServer.prototype.processRequest);
    this[kRequests] = this.#loop.requests;
    this[kReportError] = this.#loop.report.bind(this.#loop);
    this.#attributes = new AttributeValues(new.target, options);
  }

  /** How long {@linkcode BaseServer.handleRequest} waits, in ms; see the static attribute. */
  get timeout(): number | null {
    return this[kAttribute]("timeout");
  }
  set timeout(value: number | null) {
    this[kAttribute]("timeout", value);
  }

  /** The most requests in flight at once; see the static attribute. */
  get maxConnections(): number | null {
    return this.#attributes.maxConnections as number | null;
  }
  set maxConnections(value: number | null) {
    this[kAttribute]("maxConnections", value);
    this.#loop.requests.freeSlot();
  }

  /** @ignore Internal: reads, or checks and sets, an attribute; no name: all (`_attributes.ts`) */
  [kAttribute]<K extends keyof this & string>(name: K): this[K];
  /** @ignore */
  [kAttribute]<K extends keyof this & string>(name: K, value: this[K]): void;
  /** @ignore */
  [kAttribute](name?: string, value?: unknown): unknown;
  /** @ignore */
  [kAttribute](name?: string, value?: unknown): unknown {
    // arguments.length, not a rest parameter: a read, per request, allocates nothing
    if (arguments.length > 1) return this.#attributes.set(name!, value);
    return name === undefined ? this.#attributes : this.#attributes.get(name);
  }

  /** Whether {@linkcode BaseServer.serverClose} has been called. */
  get closed(): boolean {
    return this.#loop.closed;
  }

  /** How many requests have been taken and not yet closed. */
  get activeRequests(): number {
    return this.#loop.requests.size;
  }

  /** Whether {@linkcode BaseServer.serveForever} is running. */
  get serving(): boolean {
    return this.#loop.serving;
  }

  /** A snapshot of the server's counters since it was constructed: {@linkcode ServerStats}. */
  stats(): ServerStats {
    return this.#loop.stats();
  }

  /**
   * Handles requests until `shutdown()` or `serverClose()`, `serviceActions()` after each and every
   * `pollInterval` ms while idle (`null`: never). After an earlier `shutdown()` it returns at once.
   *
   * @throws {Deno.errors.BadResource} The server is closed or was never bound.
   * @throws {Error} It is already running, or a `handleRequest()` waits.
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   * await using server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
   * server.serveForever(); // until the end of the scope
   * assert.equal(server.serving, true);
   * ```
   */
  serveForever(pollInterval: number | null = 500): Promise<void> {
    return this.#loop.serveForever(pollInterval);
  }

  /**
   * Stops `serveForever()` and resolves once it has returned, not waiting for requests in flight;
   * a handler may call it. Not serving, it resolves at once and is kept for the next, as in Python.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   * await using server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
   * server.serveForever();
   * await server.shutdown(); // serveForever() has returned
   * assert.equal(server.serving, false);
   * ```
   */
  shutdown(): Promise<void> {
    return this.#loop.shutdown();
  }

  /**
   * Handles one request: waits at most `timeout` ms for it (else calls
   * `handleTimeout()`), verifies, processes and closes it. Calls take turns;
   * one still waiting when `serverClose()` runs resolves, as `serveForever()` returns.
   *
   * @throws {Deno.errors.BadResource} The server was closed before the call, or never bound.
   * @throws {Error} `serveForever()` is serving.
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * await using server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler, { timeout: 10 });
   * await server.handleRequest(); // nobody came: handleTimeout() ran
   * ```
   */
  handleRequest(): Promise<void> {
    return this.#loop.handleRequest();
  }

  /**
   * Hook: binds the socket to `serverAddress`; the constructor calls it
   * unless `bindAndActivate` is false. Python: `server_bind()`.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * const server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler, { bindAndActivate: false });
   * server.serverBind(); // then serverActivate()
   * await server.serverClose();
   * ```
   */
  serverBind(): Awaitable<void> {}

  /**
   * Hook: starts listening, after `serverBind()`. Python: `server_activate()`.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class Logged extends TCPServer {
   *   override serverActivate() {
   *     console.log("listening on", this.serverAddress.port);
   *   }
   * }
   * ```
   */
  serverActivate(): Awaitable<void> {}

  /**
   * Hook: waits for the next request (a connection) and its client's address. Python: `get_request()`.
   *
   * @example
   * ```ts
   * import { BaseServer } from "@x/socketserver";
   * class Once extends BaseServer<string, string, string> {
   *   override getRequest(): [string, string] {
   *     return ["ping", "local"];
   *   }
   * }
   * ```
   */
  getRequest(): Awaitable<[R, A]> {
    throw new Error(`${this.constructor.name} must override getRequest()`);
  }

  /**
   * Hook: whether to handle this request (default: yes); a refused one is
   * shut down before any handler runs. Python: `verify_request()`.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class LocalOnly extends TCPServer {
   *   override verifyRequest(_conn: Deno.TcpConn, client: Deno.NetAddr) {
   *     return client.hostname === "127.0.0.1";
   *   }
   * }
   * ```
   */
  verifyRequest(_request: R, _clientAddress: A): Awaitable<boolean> {
    return true;
  }

  /**
   * Hook: `finishRequest()` then `shutdownRequest()`, before the next request
   * (`ThreadingMixIn` starts a task instead). Python: `process_request()`.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class Timed extends TCPServer {
   *   override async processRequest(conn: Deno.TcpConn, client: Deno.NetAddr) {
   *     const t0 = performance.now();
   *     await super.processRequest(conn, client);
   *     console.log(`${performance.now() - t0} ms`);
   *   }
   * }
   * ```
   */
  processRequest(request: R, clientAddress: A): Awaitable<void> {
    return finishThenShutdown(this, request, clientAddress);
  }

  /**
   * Hook: constructs `RequestHandlerClass` and calls its `setup()`, `handle()`
   * and, even when `handle()` throws, `finish()`. Python: `finish_request()`.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class Logged extends TCPServer {
   *   override async finishRequest(conn: Deno.TcpConn, client: Deno.NetAddr) {
   *     console.log("handling", client.hostname);
   *     await super.finishRequest(conn, client);
   *   }
   * }
   * ```
   */
  async finishRequest(request: R, clientAddress: A): Promise<void> {
    const handler = new this.RequestHandlerClass(request, clientAddress, this);
    const setup = handler.setup();
    if (setup instanceof Promise) await setup;
    try {
      const handled = handler.handle();
      if (handled instanceof Promise) await handled;
    } finally {
      const finished = handler.finish();
      if (finished instanceof Promise) await finished;
    }
  }

  /**
   * Hook: ends a request (a stream server shuts its write side first), then
   * calls `closeRequest()`. Python: `shutdown_request()`.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class Logged extends TCPServer {
   *   override async shutdownRequest(conn: Deno.TcpConn) {
   *     console.log("ending", conn.remoteAddr.port);
   *     await super.shutdownRequest(conn);
   *   }
   * }
   * ```
   */
  shutdownRequest(request: R): Awaitable<void> {
    return markOver(this, request, this.closeRequest(request));
  }

  /**
   * Hook: releases a request (`super.closeRequest()` closes it); it is over once
   * `shutdownRequest()` has called this, `super` or not. Python: `close_request()`.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class Logged extends TCPServer {
   *   override closeRequest(conn: Deno.TcpConn) {
   *     console.log("closing", conn.remoteAddr.port);
   *     super.closeRequest(conn);
   *   }
   * }
   * ```
   */
  closeRequest(request: R): Awaitable<void> {
    this.#loop.requests.delete(request);
  }

  /**
   * Hook: handling a request threw; the default prints the address and the
   * error (JavaScript has no `sys.exc_info()`). Python: `handle_error()`.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class Quiet extends TCPServer {
   *   override handleError() {} // serving goes on, silently
   * }
   * ```
   */
  handleError(_request: R, clientAddress: A, error: unknown): Awaitable<void> {
    console.error(errorReport(clientAddress, error));
  }

  /**
   * Hook: instead of `handleError()` for a routine end ({@linkcode isRoutineDrop})
   * or a close at the `serverClose()` deadline. The default is silent.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class Logged extends TCPServer {
   *   override handleDrop(_conn: Deno.TcpConn, client: Deno.NetAddr, error: unknown) {
   *     console.log("dropped", client.hostname, error);
   *   }
   * }
   * ```
   */
  handleDrop(_request: R, _clientAddress: A, _error: unknown): Awaitable<void> {}

  /**
   * Hook: `handleRequest()` got no request within `timeout`. Python: `handle_timeout()`.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class Patient extends TCPServer {
   *   override handleTimeout() {
   *     console.log("still waiting");
   *   }
   * }
   * ```
   */
  handleTimeout(): Awaitable<void> {}

  /**
   * Hook: `serveForever()` calls it after every request and every `pollInterval`
   * ms while idle, never during a request nor twice at once. Python: `service_actions()`.
   *
   * @example
   * ```ts
   * import { TCPServer } from "@x/socketserver";
   * class Ticking extends TCPServer {
   *   ticks = 0;
   *   override serviceActions() {
   *     this.ticks++;
   *   }
   * }
   * ```
   */
  serviceActions(): Awaitable<void> {}

  /**
   * Hook: closes the socket at once, waits for the requests in flight at most `graceMs`, then
   * gives each one left a lingering close; it does not wait for a handler awaiting it. Python:
   * `server_close()`.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   * const server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
   * await server.serverClose({ graceMs: 5000 });
   * assert.equal(server.closed, true);
   * ```
   */
  serverClose(options: ServerCloseOptions = {}): Promise<void> {
    return this.#loop.close(options);
  }

  /**
   * `shutdown()`, then `serverClose()`: what `await using` calls at scope end.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * await using server = new TCPServer(["127.0.0.1", 0], BaseRequestHandler);
   * server.serveForever(); // stopped and closed at the end of the scope
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
    await this.serverClose();
  }

  /** @ignore Internal: whether `serverClose()` waits; `ThreadingMixIn` overrides it. */
  [kBlockOnClose](): boolean {
    return true;
  }

  /** @ignore Internal: closes the transport's socket; transports override it. */
  [kCloseSocket](): void {}
}

/** The default `processRequest()`, under the frame the request loop runs each request in. */
async function finishThenShutdown<R, A>(
  server: BaseServer<R, A, unknown>,
  request: R,
  clientAddress: A,
): Promise<void> {
  await server.finishRequest(request, clientAddress);
  const shut = server.shutdownRequest(request);
  if (shut instanceof Promise) await shut;
}

declareAttributes(BaseServer, { timeout: nullableDuration, maxConnections: checkLimit });
registerBaseServer(BaseServer.prototype);
