/**
 * {@linkcode BaseServer}: the transport-free half of a socketserver server —
 * the request loop, the hooks, shutdown and close.
 *
 * @module
 */

import type { BaseRequestHandler } from "./handlers.ts";

/** A value or a promise of it: every hook may be async. */
export type Awaitable<T> = T | Promise<T>;

/**
 * The constructor of a request handler class, as servers take it: called
 * with the request, the client's address and the server, once per request.
 *
 * @typeParam R The request type (a `Deno.Conn` for stream servers).
 * @typeParam A The client address type.
 */
export type RequestHandlerClass<R = unknown, A = unknown> = new (
  request: R,
  clientAddress: A,
  // deno-lint-ignore no-explicit-any
  server: any,
) => BaseRequestHandler<
  // deno-lint-ignore no-explicit-any
  any,
  R,
  A
>;

/** Options every server takes; each one overrides the class attribute of the
 * same name for this instance. */
export interface BaseServerOptions {
  /** {@linkcode BaseServer.timeout}: how long `handleRequest()` waits, in ms. */
  timeout?: number | null;
}

/** Options of {@linkcode BaseServer.serverClose}. */
export interface ServerCloseOptions {
  /**
   * How long to wait for requests still being handled, in ms, before their
   * connections are closed under them. Default `Infinity`: wait until they
   * finish, like Python's `block_on_close`.
   */
  graceMs?: number;
}

/** Internal hooks shared with the mix-ins of this package; not exported from
 * `mod.ts`. */
export const kAttribute: unique symbol = Symbol("socketserver.attribute");
/** Internal: closes the server's socket once; not exported from `mod.ts`. */
export const kCloseSocket: unique symbol = Symbol("socketserver.closeSocket");
/** Internal: the requests not yet closed; not exported from `mod.ts`. */
export const kOpenRequests: unique symbol = Symbol("socketserver.openRequests");
/** Internal: `handleError()` guarded against throwing; not exported from `mod.ts`. */
export const kReportError: unique symbol = Symbol("socketserver.reportError");
/** Internal: whether `serverClose()` waits for requests in flight; not
 * exported from `mod.ts`. */
export const kBlockOnClose: unique symbol = Symbol("socketserver.blockOnClose");

const STOP = Symbol("stop");
const ignore = () => {};
const TIMEOUT = Symbol("timeout");

/** Formats an address for messages: `host:port`, `[v6]:port` or a path. */
export function formatAddress(address: unknown): string {
  if (address === null || typeof address !== "object") return String(address);
  const a = address as { hostname?: string; port?: number; path?: string | null };
  if (typeof a.port === "number") {
    const host = a.hostname ?? "0.0.0.0";
    return host.includes(":") ? `[${host}]:${a.port}` : `${host}:${a.port}`;
  }
  if ("path" in a) return a.path || "(unnamed)";
  return JSON.stringify(address);
}

function checkDuration(name: string, value: unknown, nullable: boolean): void {
  if (value === null && nullable) return;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(
      `"${name}" must be a number of milliseconds${nullable ? " or null" : ""}, got ${
        typeof value === "string" ? `"${value}"` : String(value)
      }`,
    );
  }
  if (value < 0) throw new RangeError(`"${name}" must be 0 or more milliseconds, got ${value}`);
}

/** Checks that `handler` is a request handler class. */
export function checkHandlerClass(handler: unknown): void {
  const proto = typeof handler === "function"
    ? (handler as { prototype?: { handle?: unknown } }).prototype
    : undefined;
  if (typeof proto?.handle !== "function") {
    throw new TypeError(
      `RequestHandlerClass must be a class extending BaseRequestHandler, got ${
        typeof handler === "function" ? `function "${handler.name}"` : String(handler)
      }`,
    );
  }
}

/**
 * The base of every server, Python's `socketserver.BaseServer`: it owns the
 * request loop and defines every hook; subclasses bring the transport
 * (`getRequest()`, `serverBind()`, `serverActivate()`, `serverClose()`).
 *
 * The request flow is Python's: `getRequest()` → `verifyRequest()` →
 * `processRequest()` → `finishRequest()` (which runs the handler) →
 * `shutdownRequest()` → `closeRequest()`; a refused request goes straight to
 * `shutdownRequest()`, and an error thrown on the way goes to `handleError()`
 * and then `shutdownRequest()`. Every hook may return a promise.
 *
 * Class attributes — Python's `timeout = 5`, in TypeScript `static override
 * timeout = 5000` — are static properties; the instance property of the same
 * name reads the constructor option, else the static. Overriding them as
 * instance fields is a compile error on purpose: a field is assigned only
 * after the base constructor has bound the socket.
 *
 * @typeParam R The request type.
 * @typeParam A The client address type.
 * @typeParam SA The server address type.
 *
 * @example A server over an in-memory queue of requests
 * ```ts
 * import { BaseRequestHandler, BaseServer } from "../mod.ts";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * class QueueServer extends BaseServer<string, string, string> {
 *   queue = ["a", "b"];
 *   override getRequest(): [string, string] {
 *     return [this.queue.shift()!, "queue"];
 *   }
 * }
 * class Record extends BaseRequestHandler<QueueServer, string, string> {
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
  /** Class attribute: how long {@linkcode BaseServer.handleRequest} waits for
   * a request, in ms; `null` waits for ever. Python: `timeout` (seconds). */
  static timeout: number | null = null;

  /** The handler class instantiated for every request. */
  readonly RequestHandlerClass: RequestHandlerClass<R, A>;
  /** The address the server listens on; the bound one once bound. */
  serverAddress: SA;

  #attributes: Record<string, unknown>;
  #serving = false;
  #shutdownRequested = false;
  #closed = false;
  /** Ends the wait `serveForever()` is in (see `#untilStop()`). */
  #wake: ((stop: typeof STOP) => void) | null = null;
  #stopped: PromiseWithResolvers<void> | null = null;
  #pendingRequest: Promise<[R, A]> | null = null;
  #idle = false;
  #open = new Set<R>();
  #drained: PromiseWithResolvers<void> | null = null;

  /**
   * Stores the address and the handler class. Subclasses bind in their own
   * constructor.
   *
   * @param serverAddress The address to serve on.
   * @param RequestHandlerClass The handler class, run once per request.
   * @param options Per-instance values of the class attributes.
   * @throws {TypeError} `RequestHandlerClass` is not a handler class.
   */
  constructor(
    serverAddress: SA,
    RequestHandlerClass: RequestHandlerClass<R, A>,
    options: BaseServerOptions = {},
  ) {
    checkHandlerClass(RequestHandlerClass);
    this.serverAddress = serverAddress;
    this.RequestHandlerClass = RequestHandlerClass;
    this.#attributes = { ...options };
    if ("timeout" in options) checkDuration("timeout", options.timeout, true);
  }

  /** How long {@linkcode BaseServer.handleRequest} waits for a request, in ms;
   * `null` waits for ever. Python: `timeout`. */
  get timeout(): number | null {
    return this[kAttribute]("timeout") as number | null;
  }
  set timeout(value: number | null) {
    checkDuration("timeout", value, true);
    this.#attributes.timeout = value;
  }

  /** Internal: reads an attribute — the instance's value, else the class's —
   * or, given a value, sets the instance's. */
  [kAttribute](name: string, ...value: [unknown?]): unknown {
    if (value.length > 0) {
      this.#attributes[name] = value[0];
      return value[0];
    }
    const own = this.#attributes[name];
    return own !== undefined ? own : (this.constructor as unknown as Record<string, unknown>)[name];
  }

  /** Internal: the requests taken and not yet closed. */
  get [kOpenRequests](): ReadonlySet<R> {
    return this.#open;
  }

  /** Whether {@linkcode BaseServer.serverClose} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** How many requests have been taken and not yet closed: at most one for
   * a plain server, one per open connection for a threading one. */
  get activeRequests(): number {
    return this.#open.size;
  }

  /** Whether {@linkcode BaseServer.serveForever} is running. */
  get serving(): boolean {
    return this.#serving;
  }

  /**
   * Handles requests until {@linkcode BaseServer.shutdown} is called or the
   * socket is closed. The loop awaits the next request directly — it never
   * polls — and a shutdown wakes it at once.
   *
   * `serviceActions()` runs after every request and, while no request comes,
   * every `pollInterval` ms (Python's `poll_interval`, which here only paces
   * `serviceActions()`: shutdown does not wait for it).
   *
   * @param pollInterval How often `serviceActions()` runs while idle, in ms;
   *   `null` for only after requests. Default 500, like Python's 0.5 s.
   * @returns Once the loop has stopped.
   * @throws {Deno.errors.BadResource} The server is closed.
   * @throws {Error} `serveForever()` is already running.
   *
   * @example Serve until a handler asks to stop
   * ```ts
   * import { StreamRequestHandler, TCPServer } from "../mod.ts";
   *
   * class Once extends StreamRequestHandler {
   *   override async handle() {
   *     await this.wfile.write("bye\n");
   *     this.server.shutdown();
   *   }
   * }
   * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Once);
   * const serving = server.serveForever();
   * const conn = await Deno.connect(server.serverAddress);
   * await conn.readable.pipeTo(new WritableStream());
   * await serving;
   * ```
   */
  async serveForever(pollInterval: number | null = 500): Promise<void> {
    if (this.#closed) throw this.#closedError("serveForever()");
    if (this.#serving) {
      throw new Error("serveForever() is already running: call shutdown() before serving again");
    }
    checkDuration("pollInterval", pollInterval, true);
    this.#serving = true;
    this.#shutdownRequested = false;
    this.#stopped = Promise.withResolvers<void>();
    let ticker: ReturnType<typeof setInterval> | undefined;
    if (pollInterval !== null && pollInterval > 0) {
      ticker = setInterval(() => {
        if (this.#idle) this.#runServiceActions();
      }, pollInterval);
    }
    try {
      while (!this.#shutdownRequested) {
        this.#idle = true;
        let next: [R, A] | typeof STOP;
        try {
          next = await this.#untilStop(this.#nextRequest());
        } catch (error) {
          this.#pendingRequest = null;
          if (this.#closed) break;
          await this.#requestFailed(error);
          continue;
        } finally {
          this.#idle = false;
        }
        if (next === STOP) break;
        this.#pendingRequest = null;
        // A ThreadingMixIn server's request is handled synchronously (its
        // task runs on its own): no wait, no turn of the event loop.
        const handled = this.#handle(next[0], next[1]);
        if (handled !== undefined && await this.#untilStop(handled) === STOP) break;
        const actions = this.#runServiceActions();
        if (actions !== undefined) await actions;
      }
    } finally {
      clearInterval(ticker);
      this.#serving = false;
      this.#shutdownRequested = false;
      this.#wake = null;
      this.#stopped.resolve();
    }
  }

  /**
   * Stops {@linkcode BaseServer.serveForever} and resolves once it has
   * returned. It resolves at once when the server is not serving (where
   * Python's would deadlock), and it may be called from inside a handler: the
   * loop stops without waiting for requests in flight, which
   * {@linkcode BaseServer.serverClose} waits for. The socket stays open until
   * `serverClose()`.
   *
   * @returns Once `serveForever()` has returned.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * const serving = server.serveForever();
   * await server.shutdown();
   * await serving;
   * ```
   */
  async shutdown(): Promise<void> {
    if (!this.#serving) return;
    this.#shutdownRequested = true;
    this.#wake?.(STOP);
    await this.#stopped?.promise;
  }

  /**
   * Handles exactly one request: waits for it (at most `timeout` ms, calling
   * {@linkcode BaseServer.handleTimeout} when nothing comes), then verifies,
   * processes and closes it.
   *
   * @returns Once the request has been handled, or the wait timed out.
   * @throws {Deno.errors.BadResource} The server is closed.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   * import assert from "node:assert/strict";
   *
   * let timedOut = false;
   * class Quiet extends TCPServer {
   *   override handleTimeout() {
   *     timedOut = true;
   *   }
   * }
   * await using server = new Quiet({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
   *   timeout: 10,
   * });
   * await server.handleRequest();
   * assert.equal(timedOut, true);
   * ```
   */
  async handleRequest(): Promise<void> {
    if (this.#closed) throw this.#closedError("handleRequest()");
    const timeout = this.timeout;
    let next: [R, A] | typeof TIMEOUT;
    try {
      if (timeout === null) {
        next = await this.#nextRequest();
      } else {
        checkDuration("timeout", timeout, true);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const expired = new Promise<typeof TIMEOUT>((resolve) => {
          timer = setTimeout(() => resolve(TIMEOUT), timeout);
        });
        try {
          next = await Promise.race([this.#nextRequest(), expired]);
        } finally {
          clearTimeout(timer);
        }
      }
    } catch (error) {
      this.#pendingRequest = null;
      if (this.#closed) throw this.#closedError("handleRequest()");
      await this.#requestFailed(error);
      return;
    }
    if (next === TIMEOUT) {
      await this.handleTimeout();
      return;
    }
    this.#pendingRequest = null;
    await this.#handle(next[0], next[1]);
  }

  /**
   * Hook: binds the socket to `serverAddress`. Called by the constructor
   * unless `bindAndActivate` is false. Python: `server_bind()`.
   *
   * @returns When bound.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
   *   bindAndActivate: false,
   * });
   * server.serverBind();
   * server.serverActivate();
   * await server.serverClose();
   * ```
   */
  serverBind(): Awaitable<void> {}

  /**
   * Hook: starts listening. Called by the constructor after `serverBind()`.
   * Python: `server_activate()`.
   *
   * @returns When listening.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * let activated = false;
   * class Logged extends TCPServer {
   *   override serverActivate() {
   *     super.serverActivate();
   *     activated = true;
   *   }
   * }
   * await using _server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * console.assert(activated);
   * ```
   */
  serverActivate(): Awaitable<void> {}

  /**
   * Hook: waits for the next request and returns it with the client's
   * address. Stream servers accept a connection here. Python: `get_request()`.
   *
   * @returns `[request, clientAddress]`.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * let accepted = 0;
   * class Counting extends TCPServer {
   *   override async getRequest() {
   *     const pair = await super.getRequest();
   *     accepted++;
   *     return pair;
   *   }
   * }
   * await using server = new Counting({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * const handled = server.handleRequest();
   * (await Deno.connect(server.serverAddress)).close();
   * await handled;
   * console.assert(accepted === 1);
   * ```
   */
  getRequest(): Awaitable<[R, A]> {
    throw new Error(`${this.constructor.name} must override getRequest()`);
  }

  /**
   * Hook: whether to handle this request; a refused one is shut down before
   * any handler runs. The default accepts everything. Python:
   * `verify_request()`.
   *
   * @param _request The request.
   * @param _clientAddress The client's address.
   * @returns `true` to handle the request.
   *
   * @example Only loopback clients
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * class LocalOnly extends TCPServer {
   *   override verifyRequest(_request: Deno.TcpConn, address: Deno.NetAddr) {
   *     return address.hostname === "127.0.0.1";
   *   }
   * }
   * await using _server = new LocalOnly({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  verifyRequest(_request: R, _clientAddress: A): Awaitable<boolean> {
    return true;
  }

  /**
   * Hook: processes an accepted, verified request. The default calls
   * `finishRequest()` then `shutdownRequest()` and finishes before the next
   * request is taken; `ThreadingMixIn` runs it as its own task instead.
   * Python: `process_request()`.
   *
   * @param request The request.
   * @param clientAddress The client's address.
   * @returns When the request is processed (a mix-in may return sooner).
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * class Timed extends TCPServer {
   *   override async processRequest(request: Deno.TcpConn, address: Deno.NetAddr) {
   *     const t0 = performance.now();
   *     await super.processRequest(request, address);
   *     console.log(`request took ${performance.now() - t0} ms`);
   *   }
   * }
   * await using _server = new Timed({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  processRequest(request: R, clientAddress: A): Awaitable<void> {
    return this.#processInline(request, clientAddress);
  }

  async #processInline(request: R, clientAddress: A): Promise<void> {
    await this.finishRequest(request, clientAddress);
    await this.shutdownRequest(request);
  }

  /**
   * Hook: runs the handler — constructs `RequestHandlerClass` and calls its
   * `setup()`, `handle()` and, even when `handle()` throws, `finish()`.
   * Python: `finish_request()`.
   *
   * @param request The request.
   * @param clientAddress The client's address.
   * @returns When the handler has finished.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * class Logged extends TCPServer {
   *   override async finishRequest(request: Deno.TcpConn, address: Deno.NetAddr) {
   *     console.log("handling", address.hostname);
   *     await super.finishRequest(request, address);
   *   }
   * }
   * await using _server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
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
   * Hook: ends a request — for streams, shuts the write side down, then
   * calls `closeRequest()`. Python: `shutdown_request()`.
   *
   * @param request The request.
   * @returns When the request is closed.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * let ended = 0;
   * class Counting extends TCPServer {
   *   override async shutdownRequest(request: Deno.TcpConn) {
   *     ended++;
   *     await super.shutdownRequest(request);
   *   }
   * }
   * await using _server = new Counting({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  shutdownRequest(request: R): Awaitable<void> {
    return this.closeRequest(request);
  }

  /**
   * Hook: releases a request. Subclasses that override it must call
   * `super.closeRequest(request)`, which is how the server learns the request
   * is over (`serverClose()` waits for that). Python: `close_request()`.
   *
   * @param request The request.
   * @returns When closed.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * class Logged extends TCPServer {
   *   override closeRequest(request: Deno.TcpConn) {
   *     console.log("closing", request.remoteAddr.port);
   *     super.closeRequest(request);
   *   }
   * }
   * await using _server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  closeRequest(request: R): Awaitable<void> {
    if (this.#open.delete(request) && this.#open.size === 0) this.#drained?.resolve();
  }

  /**
   * Hook: called when handling a request threw. The default writes the
   * client's address and the error to stderr; serving goes on. Python:
   * `handle_error(request, client_address)`, with the error as a third
   * argument since JavaScript has no `sys.exc_info()`.
   *
   * @param _request The request.
   * @param clientAddress The client's address.
   * @param error What was thrown.
   * @returns When reported.
   *
   * @example Count errors instead of printing them
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * class Quiet extends TCPServer {
   *   errors = 0;
   *   override handleError() {
   *     this.errors++;
   *   }
   * }
   * await using _server = new Quiet({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  handleError(_request: R, clientAddress: A, error: unknown): Awaitable<void> {
    const line = "-".repeat(40);
    console.error(
      `${line}\nException occurred during processing of request from ${
        formatAddress(clientAddress)
      }\n${error instanceof Error ? error.stack ?? String(error) : String(error)}\n${line}`,
    );
  }

  /**
   * Hook: called by {@linkcode BaseServer.handleRequest} when no request came
   * within `timeout`. Does nothing by default. Python: `handle_timeout()`.
   *
   * @returns When done.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * class Patient extends TCPServer {
   *   static override timeout = 1000;
   *   override handleTimeout() {
   *     console.log("still waiting");
   *   }
   * }
   * await using _server = new Patient({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  handleTimeout(): Awaitable<void> {}

  /**
   * Hook: called by {@linkcode BaseServer.serveForever} after every request
   * and every `pollInterval` ms while idle, never during a request. Does
   * nothing by default. Python: `service_actions()`.
   *
   * @returns When done.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * class Ticking extends TCPServer {
   *   ticks = 0;
   *   override serviceActions() {
   *     this.ticks++;
   *   }
   * }
   * await using _server = new Ticking({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  serviceActions(): Awaitable<void> {}

  /**
   * Hook: closes the server — the socket at once (its address is free again
   * when this is called), then waits for requests still being handled, at
   * most `graceMs`, after which their requests are closed under them.
   * Python: `server_close()`. Calling it again only waits again.
   *
   * @param options How long to wait for requests in flight.
   * @returns Once the socket is closed and no request is left.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * await server.serverClose();
   * ```
   */
  async serverClose(options: ServerCloseOptions = {}): Promise<void> {
    const graceMs = options.graceMs ?? Infinity;
    checkDuration("graceMs", graceMs, false);
    if (!this.#closed) {
      this.#closed = true;
      this[kCloseSocket]();
      this.#wake?.(STOP);
    }
    if (this[kBlockOnClose]()) await this.#drain(graceMs);
  }

  /** Internal: whether `serverClose()` waits; `ThreadingMixIn` overrides it. */
  [kBlockOnClose](): boolean {
    return true;
  }

  /** Internal: closes the transport's socket; transports override it. */
  [kCloseSocket](): void {}

  /**
   * Stops serving and closes the server: `await using server = new
   * TCPServer(...)` calls it at the end of the scope.
   *
   * @returns Once `shutdown()` and `serverClose()` are done.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "../mod.ts";
   *
   * {
   *   await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   *   server.serveForever();
   * } // shut down and closed here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
    await this.serverClose();
  }

  async #drain(graceMs: number): Promise<void> {
    if (this.#open.size === 0) return;
    this.#drained ??= Promise.withResolvers<void>();
    const drained = this.#drained.promise;
    if (graceMs === Infinity) {
      await drained;
    } else {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<typeof TIMEOUT>((resolve) => {
        timer = setTimeout(() => resolve(TIMEOUT), graceMs);
      });
      const outcome = await Promise.race([drained, expired]);
      clearTimeout(timer);
      if (outcome === TIMEOUT) {
        for (const request of [...this.#open]) {
          try {
            await this.closeRequest(request);
          } catch {
            // already closed
          }
          this.#open.delete(request);
        }
      }
    }
    this.#drained = null;
  }

  /** The request being waited for; one that lost a race against a shutdown
   * or a timeout is kept for the next call rather than accepted twice. */
  #nextRequest(): Promise<[R, A]> {
    let pending = this.#pendingRequest;
    if (pending === null) {
      try {
        const got = this.getRequest();
        pending = got instanceof Promise ? got : Promise.resolve(got);
      } catch (error) {
        pending = Promise.reject(error);
      }
      pending.catch(ignore); // a request abandoned by serverClose() rejects unobserved
      this.#pendingRequest = pending;
    }
    return pending;
  }

  /** `promise`, or STOP once `shutdown()` or `serverClose()` is called. A
   * resolver per wait rather than `Promise.race()` against one stop promise:
   * each race would leave a reaction on that promise, kept until the loop
   * stops — one per request, a leak on a long-running server. */
  #untilStop<T>(promise: Promise<T>): Promise<T | typeof STOP> {
    if (this.#shutdownRequested || this.#closed) return Promise.resolve(STOP);
    const { promise: woken, resolve, reject } = Promise.withResolvers<T | typeof STOP>();
    this.#wake = resolve;
    promise.then(resolve, reject);
    return woken;
  }

  /** Python's `_handle_request_noblock()` after `get_request()`. Returns
   * nothing when every hook returned synchronously (a ThreadingMixIn server's
   * `processRequest()` does), a promise otherwise. */
  #handle(request: R, clientAddress: A): Promise<void> | undefined {
    this.#open.add(request);
    try {
      const verified = this.verifyRequest(request, clientAddress);
      if (verified instanceof Promise) {
        return this.#handleVerified(request, clientAddress, verified);
      }
      const done = verified
        ? this.processRequest(request, clientAddress)
        : this.shutdownRequest(request);
      if (done instanceof Promise) {
        return done.catch((error) => this.#handleFailed(request, clientAddress, error));
      }
      return undefined;
    } catch (error) {
      return this.#handleFailed(request, clientAddress, error);
    }
  }

  async #handleVerified(request: R, clientAddress: A, verified: Promise<boolean>): Promise<void> {
    try {
      if (await verified) await this.processRequest(request, clientAddress);
      else await this.shutdownRequest(request);
    } catch (error) {
      await this.#handleFailed(request, clientAddress, error);
    }
  }

  /** An error on the way: `handleError()`, then `shutdownRequest()`. */
  async #handleFailed(request: R, clientAddress: A, error: unknown): Promise<void> {
    await this[kReportError](request, clientAddress, error);
    try {
      await this.shutdownRequest(request);
    } catch {
      this.#open.delete(request);
    }
  }

  /** Internal for the mix-ins: `handleError()`, guarded so that a throwing
   * `handleError()` is printed rather than stopping the server. */
  async [kReportError](request: R, clientAddress: A, error: unknown): Promise<void> {
    try {
      await this.handleError(request, clientAddress, error);
    } catch (secondary) {
      console.error("handleError() threw:", secondary, "while handling:", error);
    }
  }

  /** A `getRequest()` failure other than the socket closing. Python ignores
   * `OSError` here; so do we, yielding once so that a failure that repeats
   * cannot starve the event loop. */
  async #requestFailed(_error: unknown): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 0));
  }

  #runServiceActions(): Promise<void> | void {
    try {
      const result = this.serviceActions();
      if (result instanceof Promise) {
        return result.catch((error) => console.error("serviceActions() threw:", error));
      }
    } catch (error) {
      console.error("serviceActions() threw:", error);
    }
  }

  #closedError(what: string): Deno.errors.BadResource {
    return new Deno.errors.BadResource(
      `Cannot call ${what} on a closed server: create a new ${this.constructor.name}`,
    );
  }
}
