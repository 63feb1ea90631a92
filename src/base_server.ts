/**
 * {@linkcode BaseServer}: the transport-free half of a socketserver server —
 * the request loop, the hooks, shutdown and close.
 *
 * @module
 */

import { checkDuration, checkHandlerClass, checkLimit, nullableDuration } from "./_checks.ts";
import { checkAttribute, checkOptions, declareAttributes } from "./_attributes.ts";
import { deadline } from "./_deadline.ts";
import { describeValue, formatAddress } from "./_format.ts";
import { finishRequestFramed, requestsOnStack } from "./_caller.ts";
import { stopWrites } from "./_conn_files.ts";
import { isRoutineDrop, NotBoundError } from "./errors.ts";
import {
  kAttribute,
  kBlockOnClose,
  kCloseSocket,
  kHoldSlot,
  kLingering,
  kReportError,
} from "./_symbols.ts";

/**
 * A value or a promise of it: every hook may be async.
 *
 * @example A hook that waits only sometimes
 * ```ts
 * import type { Awaitable } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const cache = new Map<string, boolean>();
 * function allowed(host: string): Awaitable<boolean> {
 *   return cache.get(host) ?? Promise.resolve(host === "127.0.0.1");
 * }
 * cache.set("::1", true);
 * assert.equal(await allowed("::1"), true);
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
 * import { type RequestHandlerClass, StreamRequestHandler, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Hello extends StreamRequestHandler {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * const Handler: RequestHandlerClass<Deno.TcpConn, Deno.NetAddr> = Hello;
 * const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, Handler, {
 *   bindAndActivate: false,
 * });
 * assert.equal(server.RequestHandlerClass, Hello);
 * await server.serverClose();
 * ```
 */
export type RequestHandlerClass<R = unknown, A = unknown> = new (
  request: R,
  clientAddress: A,
  // deno-lint-ignore no-explicit-any
  server: any,
  // The constructor's parameters carry the type check: a handler written for
  // any `Deno.Conn` (`StreamRequestHandler<StreamServer>`) serves every stream
  // server, one written for a `Deno.TcpConn` only TCP servers.
  // The instance is typed by what the server calls, not as a BaseRequestHandler, whose module
  // imports this one.
) => { setup(): Awaitable<void>; handle(): Awaitable<void>; finish(): Awaitable<void> };

/**
 * Any server, whatever its request and address types.
 *
 * @example
 * ```ts
 * import { type AnyServer, BaseRequestHandler, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * function describe(server: AnyServer): string {
 *   return `${server.constructor.name} with ${server.activeRequests} requests in flight`;
 * }
 * const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
 *   bindAndActivate: false,
 * });
 * assert.equal(describe(server), "TCPServer with 0 requests in flight");
 * await server.serverClose();
 * ```
 */
// deno-lint-ignore no-explicit-any
export type AnyServer = BaseServer<any, any, any>;

/**
 * The request type of server `S`: a `Deno.TcpConn` for a `TCPServer`.
 *
 * @example
 * ```ts
 * import type { RequestOf, UDPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * function size(request: RequestOf<UDPServer>): number {
 *   const [packet] = request; // a DatagramRequest
 *   return request.truncated ? Infinity : packet.length;
 * }
 * const socket = {} as Deno.DatagramConn;
 * const request = Object.assign([new Uint8Array(3), socket], { truncated: false });
 * assert.equal(size(request as RequestOf<UDPServer>), 3);
 * ```
 */
export type RequestOf<S> = S extends BaseServer<infer R, infer _A, infer _SA> ? R : unknown;

/**
 * The client address type of server `S`: a `Deno.NetAddr` for a `TCPServer`.
 *
 * @example
 * ```ts
 * import type { ClientAddressOf, UDPServer, UnixDatagramServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * function where(address: ClientAddressOf<UDPServer>): string {
 *   return `${address.hostname}:${address.port}`; // a Deno.NetAddr
 * }
 * function path(address: ClientAddressOf<UnixDatagramServer>): string {
 *   return address.path || "(unnamed)"; // a Deno.UnixAddr
 * }
 * assert.equal(where({ transport: "udp", hostname: "127.0.0.1", port: 53 }), "127.0.0.1:53");
 * assert.equal(path({ transport: "unixpacket", path: "" }), "(unnamed)");
 * ```
 */
export type ClientAddressOf<S> = S extends BaseServer<infer _R, infer A, infer _SA> ? A : unknown;

/**
 * Options every server takes; each one overrides the class attribute of the
 * same name for this instance.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type BaseServerOptions, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: BaseServerOptions = { timeout: 1000, maxConnections: 100 };
 * await using server = new TCPServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   BaseRequestHandler,
 *   options,
 * );
 * assert.equal(server.timeout, 1000);
 * assert.equal(server.maxConnections, 100);
 * ```
 */
export interface BaseServerOptions {
  /** {@linkcode BaseServer.timeout}: how long `handleRequest()` waits, in ms. */
  timeout?: number | null;
  /** {@linkcode BaseServer.maxConnections}: the most requests in flight at once. */
  maxConnections?: number | null;
  /**
   * Stops and closes the server when it aborts, as `Deno.serve({ signal })`
   * does: `shutdown()` (so `serveForever()` returns) and `serverClose()`,
   * which lets the requests in flight finish (call `serverClose({ graceMs })`
   * as well for a deadline). A signal already aborted gives a server that
   * binds nothing and whose `serveForever()` returns at once.
   */
  signal?: AbortSignal;
}

/**
 * Options of {@linkcode BaseServer.serverClose}.
 *
 * @example A stop with a deadline
 * ```ts
 * import { BaseRequestHandler, type ServerCloseOptions, TCPServer } from "@x/socketserver";
 *
 * const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
 * const serving = server.serveForever();
 * const options: ServerCloseOptions = { graceMs: 5000, lingerMs: 500 };
 * await server.shutdown();
 * await server.serverClose(options);
 * await serving;
 * ```
 */
export interface ServerCloseOptions {
  /**
   * How long to wait for requests still being handled, in ms, before their
   * connections are closed under them. Default `Infinity`: wait until they
   * finish, like Python's `block_on_close`.
   */
  graceMs?: number;
  /**
   * When the grace period runs out, how long a stream connection lingers
   * before it is closed, in ms: its write side is shut first, so the client
   * receives everything written and then EOF, and what the client still
   * sends is read and discarded until it closes its side or this time is
   * up. Closing at once instead lets the kernel reset a connection with
   * unread input, and the reset can destroy replies the client has not read
   * yet. Default 1000; 0 closes at once.
   */
  lingerMs?: number;
}

const STOP = Symbol("stop");
const NO_REQUESTS: ReadonlySet<never> = new Set();
const ignore = () => {};
const TIMEOUT = Symbol("timeout");

/** Back-off after a failed `getRequest()`: the first retry is at once, then
 * after 10 ms, doubling up to 1 s. */
const BACKOFF_FIRST_MS = 10;
const BACKOFF_MAX_MS = 1000;
/** A failure this long after the previous one starts a new episode, which
 * logs a line; failures within an episode log nothing more. */
const EPISODE_QUIET_MS = 5000;
/** Error codes of a process or system out of descriptors or memory. */
const EXHAUSTION_CODES = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"]);

/** Whether a failed `accept()` was the client's doing — it reset or
 * aborted the connection before it was taken — rather than the process's
 * (descriptors, memory), which backs off. */
function isClientFailure(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.NotConnected;
}

/** What a `deadline()` race resolves to when its time runs out. */
const expired = (): typeof TIMEOUT => TIMEOUT;

/** A lingering close's first half: shuts the write side of a stream
 * connection (everything written goes out, then EOF), then reads and
 * discards until the peer closes or `ms` pass. Resolves to a read still
 * pending (boxed: an async function would wait for a returned promise),
 * which closing the connection cancels. Not a connection: no-op. */
async function linger(request: unknown, ms: number): Promise<{ read: Promise<void> } | null> {
  const conn = request as Partial<Deno.Conn> | null;
  if (typeof conn?.closeWrite !== "function" || typeof conn.read !== "function") return null;
  const until = performance.now() + ms;
  const buffer = new Uint8Array(4096);
  try {
    // The handler's writes not yet started are refused and the one in flight
    // ends first: shutting the stream between the parts of one write would
    // deliver half a reply
    const writes = stopWrites(
      conn,
      new Deno.errors.BrokenPipe(
        "Cannot write: serverClose() ended this connection at the end of its grace period",
      ),
    );
    if (writes !== null && await deadline(writes, ms, expired) === TIMEOUT) return null;
    // closeWrite() itself can wait for ever: on a TLS connection whose
    // handshake never completed it waits for the handshake
    const closing = conn.closeWrite();
    closing.catch(() => {});
    if (await deadline(closing, Math.max(0, until - performance.now()), expired) === TIMEOUT) {
      return null;
    }
    for (;;) {
      const read = conn.read(buffer);
      const n = await deadline(read, Math.max(0, until - performance.now()), expired);
      if (n === TIMEOUT) return { read: read.then(() => {}, () => {}) };
      if (n === null) return null;
    }
  } catch {
    return null; // reset, or closed already
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
  /** Class attribute: the most requests in flight at once — for a stream
   * server, open connections — or `null` (the default) for no limit. When
   * the limit is reached the server stops accepting: the next connection
   * waits in the kernel's listen backlog (`requestQueueSize`), and is
   * accepted and served as soon as a request ends. Nothing is accepted only
   * to be closed, and a request's slot is freed only with its descriptor (a
   * read cut off by a timeout is cancelled a turn after the close; a TLS
   * handshake that timed out holds its socket until the client speaks or
   * leaves), so a stream server keeps at most the listener, the limit and
   * 16 more descriptors open, also while a batch of timeouts fires. */
  static maxConnections: number | null = null;

  /** The handler class instantiated for every request. */
  readonly RequestHandlerClass: RequestHandlerClass<R, A>;
  /**
   * The options given to the constructor, as given (a frozen copy): how a
   * subclass reads its own options in a `serverBind()` override, which runs
   * inside the base constructor, before the subclass's fields exist. A
   * subclass types its own with `declare readonly options:
   * Readonly<MyOptions>`. Not enumerable, so that `console.log(server)`
   * does not print them (a TLS key among them). The current value of an
   * attribute is its property (`server.timeout`), not this.
   *
   * @example Options of a subclass, read during the bind
   * ```ts
   * import { BaseRequestHandler, TCPServer, type TCPServerOptions } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * interface GreeterOptions extends TCPServerOptions {
   *   banner?: string;
   * }
   * class Greeter extends TCPServer {
   *   declare readonly options: Readonly<GreeterOptions>;
   *   declare banner: string; // declare, not `banner = ""`: see serverBind()
   *   constructor(address: [string, number], options: GreeterOptions = {}) {
   *     super(address, BaseRequestHandler, options);
   *   }
   *   override serverBind() {
   *     super.serverBind();
   *     this.banner = `${this.options.banner ?? "hello"} on ${this.serverAddress.port}`;
   *   }
   * }
   * await using server = new Greeter(["127.0.0.1", 0], { banner: "welcome" });
   * assert.equal(server.banner, `welcome on ${server.serverAddress.port}`);
   * ```
   */
  declare readonly options: Readonly<BaseServerOptions>;
  /** The address the server listens on; the bound one once bound. */
  serverAddress: SA;

  #attributes: Record<string, unknown>;
  #serving = false;
  #shutdownRequested = false;
  #closed = false;
  /** Ends the wait `serveForever()` is in (see `#untilStop()`). */
  #stopWait: ((stop: typeof STOP) => void) | null = null;
  #stopped: PromiseWithResolvers<void> | null = null;
  #pendingRequest: Promise<[R, A]> | null = null;
  #idle = false;
  /** The run of an async `serviceActions()` in progress, if any. */
  #actions: Promise<void> | null = null;
  /** Whether a `handleRequest()` is taking a request; the calls waiting for
   * their turn, in call order (each wakes with `true`). */
  #taking = false;
  #turns: Array<(yes: boolean) => void> = [];
  #open = new Set<R>();
  #drained: PromiseWithResolvers<void> | null = null;
  /** `serverClose()` calls from inside handlers: each waits for every open
   * request but its caller's. */
  #drainedExcept = new Set<{ exempt: ReadonlySet<R>; resolve: () => void }>();
  /** Waiters for a request to end, when `maxConnections` is reached. */
  #slot: PromiseWithResolvers<void> | null = null;
  /** Descriptors that ended requests still hold (see `kHoldSlot`): they
   * count against `maxConnections` like open requests. */
  #held = 0;
  /** Requests `serverClose()` closed at its deadline: their errors are drops. */
  #forced = new Set<R>();
  /** Requests already reported to `handleDrop()`. */
  #dropped = new WeakSet<object>();
  /** The lingering closes under way, by request: a second `serverClose()`
   * joins the first's rather than starting another on the same socket. */
  #forcing = new Map<R, Promise<void>>();
  /** Requests in their lingering close: nothing else may close them. */
  #lingering = new Set<R>();
  /** Consecutive `getRequest()` failures, and when the last one was. */
  #failures = 0;
  /** `getRequest()` failures the client caused, retried at once. */
  #clientFailures = 0;
  #lastFailure = -Infinity;
  /** Ends a back-off sleep early (shutdown, close). */
  #wake: (() => void) | null = null;
  /** Settles once the socket `serverClose()` closed is let go of. */
  #socketClosed: Promise<void> | null = null;
  /** The `signal` option's listener: stops and closes, as `Deno.serve()`'s does. */
  #onAbort = (): void => {
    this.shutdown().catch((error) => console.error("shutdown() on abort threw:", error));
    this.serverClose().catch((error) => console.error("serverClose() on abort threw:", error));
  };

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
    Object.defineProperty(this, "options", { value: Object.freeze({ ...options }) });
    const signal = options.signal;
    if (signal !== undefined) {
      if (!(signal instanceof AbortSignal)) {
        throw new TypeError(
          `"signal" must be an AbortSignal, such as new AbortController().signal, got ${
            describeValue(signal)
          }`,
        );
      }
      if (signal.aborted) this.#closed = true; // nothing bound, nothing to serve
      else signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    checkOptions(new.target, options);
  }

  /** How long {@linkcode BaseServer.handleRequest} waits for a request, in ms;
   * `null` waits for ever. Python: `timeout`. */
  get timeout(): number | null {
    return this[kAttribute]("timeout");
  }
  set timeout(value: number | null) {
    this[kAttribute]("timeout", value);
  }

  /** The most requests in flight at once, or `null` for no limit; see the
   * static attribute. */
  get maxConnections(): number | null {
    return this[kAttribute]("maxConnections");
  }
  set maxConnections(value: number | null) {
    this[kAttribute]("maxConnections", value);
    this.#freeSlot();
  }

  /**
   * Internal: reads an attribute (see `_attributes.ts`) — the instance's
   * value, else the class's — or checks and sets the instance's.
   *
   * @ignore
   */
  [kAttribute]<K extends keyof this & string>(name: K): this[K];
  /** @ignore */
  [kAttribute]<K extends keyof this & string>(name: K, value: this[K]): void;
  /** @ignore Untyped, for the mix-ins' names their base type does not know. */
  [kAttribute](name: string, value?: unknown): unknown;
  /** @ignore */
  [kAttribute](name: string, value?: unknown): unknown {
    // arguments.length, not a rest parameter: reading an attribute, as the
    // serve loop does per request, allocates nothing.
    if (arguments.length > 1) {
      checkAttribute(this.constructor, name, value);
      this.#attributes[name] = value;
      return;
    }
    const own = this.#attributes[name];
    return own !== undefined ? own : (this.constructor as unknown as Record<string, unknown>)[name];
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
   * `serviceActions()`: shutdown does not wait for it). An async one is never
   * run twice at once, and a request that comes during a run waits for it.
   *
   * A `shutdown()` called before `serveForever()` is kept, as Python keeps
   * it: this call then returns at once (and the next one serves).
   *
   * @param pollInterval How often `serviceActions()` runs while idle, in ms;
   *   `null` for only after requests. Default 500, like Python's 0.5 s.
   * @returns Once the loop has stopped.
   * @throws {Deno.errors.BadResource} The server is closed, or was never
   *   bound (`bindAndActivate: false` and no `serverBind()`).
   * @throws {Error} `serveForever()` is already running, or a
   *   `handleRequest()` is waiting for a request: one taker at a time.
   *
   * @example Serve until a handler asks to stop
   * ```ts
   * import { StreamRequestHandler, TCPServer } from "@x/socketserver";
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
    if (this.options.signal?.aborted) return; // stopped by its signal, as Deno.serve()
    if (this.#closed) throw this.#closedError("serveForever()");
    if (this.#serving) {
      throw new Error("serveForever() is already running: call shutdown() before serving again");
    }
    if (this.#taking) {
      throw new Error(
        "serveForever() cannot start while handleRequest() is waiting for a request: await it (or let its timeout run out) first",
      );
    }
    checkDuration("pollInterval", pollInterval, true);
    if (this.#shutdownRequested) {
      // A stop asked for before serving, kept as Python keeps it: used up here.
      this.#shutdownRequested = false;
      return;
    }
    this.#serving = true;
    this.#stopped = Promise.withResolvers<void>();
    let ticker: ReturnType<typeof setInterval> | undefined;
    if (pollInterval !== null && pollInterval > 0) {
      ticker = setInterval(() => {
        if (this.#idle && this.#actions === null) this.#runServiceActions();
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
          if (error instanceof NotBoundError) throw error;
          await this.#requestFailed(error);
          continue;
        } finally {
          this.#idle = false;
        }
        if (next === STOP) break;
        this.#pendingRequest = null;
        this.#failures = 0;
        this.#clientFailures = 0;
        if (this.#closed) break; // serverClose() took it over and closes it
        // A run of serviceActions() the idle timer started is let finish
        // first: Python's loop never runs the two at once.
        if (this.#actions !== null && await this.#untilStop(this.#actions) === STOP) {
          if (this.#closed) await this.#closeQuietly(next[0]);
          else this.#pendingRequest = Promise.resolve(next); // for the next taker
          break;
        }
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
      this.#stopWait = null;
      this.#stopped.resolve();
    }
  }

  /**
   * Stops {@linkcode BaseServer.serveForever} and resolves once it has
   * returned. It may be called from inside a handler: the loop stops without
   * waiting for requests in flight, which {@linkcode BaseServer.serverClose}
   * waits for. The socket stays open until `serverClose()`. When the server
   * is not serving it resolves at once (where Python's would block) and is
   * kept, as Python keeps it: the next `serveForever()` returns at once, as
   * Go's `Serve()` does after `Shutdown()`.
   *
   * @returns Once `serveForever()` has returned.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   *
   * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * const serving = server.serveForever();
   * await server.shutdown();
   * await serving;
   * ```
   */
  async shutdown(): Promise<void> {
    if (!this.#serving) {
      // Kept, as Python keeps its flag: the next serveForever() returns at once
      // (as Go's Serve() after Shutdown()); handleRequest() ignores it.
      this.#shutdownRequested = true;
      return;
    }
    this.#shutdownRequested = true;
    this.#stopWait?.(STOP);
    this.#wake?.();
    await this.#stopped?.promise;
  }

  /**
   * Handles exactly one request: waits for it (at most `timeout` ms, calling
   * {@linkcode BaseServer.handleTimeout} when nothing comes), then verifies,
   * processes and closes it.
   *
   * Calls made while another waits for a request take turns, in call order
   * (each one's `timeout` counting from its call), so that no request is
   * given to two; one made while `serveForever()` serves throws at once.
   *
   * @returns Once the request has been handled, or the wait timed out.
   * @throws {Deno.errors.BadResource} The server is closed, or was never
   *   bound (`bindAndActivate: false` and no `serverBind()`).
   * @throws {Error} `serveForever()` is serving.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
    if (this.#serving) {
      throw new Error(
        "handleRequest() cannot run while serveForever() is serving: call shutdown() first, or serve with one of the two only",
      );
    }
    const timeout = this.timeout;
    checkDuration("timeout", timeout, true);
    const until = timeout === null ? Infinity : performance.now() + timeout;
    // One taker at a time, in call order, so that no request goes to two
    // calls; each call's timeout counts from the call, as Python's does.
    const turn = this.#takeTurn(until);
    let ourTurn = turn === true;
    let next: [R, A] | typeof TIMEOUT = TIMEOUT;
    try {
      if (!ourTurn) ourTurn = await turn;
      if (ourTurn) {
        if (this.#closed) throw this.#closedError("handleRequest()");
        const request = this.#nextRequest();
        next = await deadline(request, Math.max(0, until - performance.now()), expired);
        if (next !== TIMEOUT) this.#pendingRequest = null;
      }
    } catch (error) {
      this.#pendingRequest = null;
      if (this.#closed) throw this.#closedError("handleRequest()");
      if (error instanceof NotBoundError) throw error;
      await this.#requestFailed(error);
      return;
    } finally {
      if (ourTurn) this.#passTurn();
    }
    if (next === TIMEOUT) {
      await this.handleTimeout();
      return;
    }
    this.#failures = 0;
    this.#clientFailures = 0;
    if (this.#closed) return; // serverClose() took it over and closes it
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
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * let activated = false;
   * class Logged extends TCPServer {
   *   override serverActivate() {
   *     super.serverActivate();
   *     activated = true;
   *   }
   * }
   * await using _server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * assert.equal(activated, true);
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
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
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
   * assert.equal(accepted, 1);
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
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
    return finishRequestFramed(this, request, clientAddress, true);
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
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
    if (this.#open.delete(request)) {
      if (this.#open.size === 0) this.#drained?.resolve();
      if (this.#drainedExcept.size > 0) this.#wakeDrainers();
      this.#freeSlot();
    }
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
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
   * Hook: called instead of {@linkcode BaseServer.handleError} when a request
   * ended early for a routine reason — the client reset or aborted the
   * connection, or a write found it closed (`ConnectionReset`,
   * `ConnectionAborted`, `BrokenPipe`, `NotConnected`, `UnexpectedEof`); a
   * timeout ran out (`TimeoutError`: `timeout`, `idleTimeout`,
   * `requestTimeout`; or any `Deno.errors.TimedOut`); a line was over the
   * limit (`LineTooLongError`); or `serverClose()` closed the connection at
   * the end of its grace period (whatever the handler then threw). These are
   * what hostile, slow or vanished clients cause, so by default they are
   * dropped silently: the connection is closed and serving goes on. Override
   * it to log or count them. Every other error reaches `handleError()`.
   *
   * @param _request The request.
   * @param _clientAddress The client's address.
   * @param _error What ended the request.
   * @returns When recorded.
   *
   * @example Count the drops by reason
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   *
   * class Counting extends TCPServer {
   *   drops = new Map<string, number>();
   *   override handleDrop(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
   *     const reason = error instanceof Error ? error.name : String(error);
   *     this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
   *   }
   * }
   * await using _server = new Counting({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  handleDrop(_request: R, _clientAddress: A, _error: unknown): Awaitable<void> {}

  /**
   * Hook: called by {@linkcode BaseServer.handleRequest} when no request came
   * within `timeout`. Does nothing by default. Python: `handle_timeout()`.
   *
   * @returns When done.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
   * and every `pollInterval` ms while idle, never during a request (a
   * `ThreadingMixIn` server's run alongside the tasks of earlier ones) and
   * never twice at once: an idle tick that comes while an async one still
   * runs is skipped. Does nothing by default. Python: `service_actions()`.
   *
   * @returns When done.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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
   * when this is called; a connection accepted but not yet handled is
   * closed), then waits for requests still being handled, at most `graceMs`
   * (default: until they finish). When the grace period runs out, each
   * remaining connection gets a lingering close: its write side is shut so
   * that the client receives everything the handler wrote and then EOF, what
   * the client still sends is discarded for at most `lingerMs`, then it is
   * closed. Until then the connection is `serverClose()`'s: the handler's
   * writes not yet started are refused (`BrokenPipe`), the one in flight is
   * finished first so that no reply is cut in two, and the handler
   * returning or failing does not close it, so every byte of a write that
   * resolved reaches the client. It thus takes at most `graceMs + lingerMs`.
   * What its handler throws after that goes to `handleDrop()`, not
   * `handleError()`. Python: `server_close()`. Calling it again only waits
   * again, joining the lingering closes under way.
   *
   * For a clean stop on a signal: `await server.shutdown()` (stop
   * accepting), then `await server.serverClose({ graceMs })`.
   *
   * Awaited inside a handler (`await this.server.serverClose()`, directly or
   * through async functions it awaits), it waits for every other request,
   * not for the caller's own, which it would wait for for ever; the handler
   * then goes on, and its connection is closed when it returns. The caller
   * is found on the async call stack, which a timer's callback does not
   * continue (an awaited `.then()` does), and under the default
   * `processRequest()` (or `ThreadingMixIn`'s `processRequestThread()`): an
   * override that calls `finishRequest()` itself keeps its handler from
   * being recognised.
   *
   * @param options How long to wait for requests in flight, and to linger.
   * @returns Once the socket is closed and no request is left.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   *
   * const server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * await server.serverClose();
   * ```
   */
  async serverClose(options: ServerCloseOptions = {}): Promise<void> {
    // Read first, while the caller is still on the stack: a handler that
    // awaits this is not waited for (it would wait for ever for itself).
    const callers = this.#open.size === 0 ? NO_REQUESTS : this.#callers();
    const graceMs = options.graceMs ?? Infinity;
    const lingerMs = options.lingerMs ?? 1000;
    checkDuration("graceMs", graceMs, false);
    checkDuration("lingerMs", lingerMs, false);
    if (!this.#closed) {
      this.#closed = true;
      this.options.signal?.removeEventListener("abort", this.#onAbort);
      this[kCloseSocket]();
      this.#stopWait?.(STOP);
      this.#wake?.();
      this.#freeSlot();
      const pending = this.#pendingRequest;
      this.#pendingRequest = null;
      // A pending accept holds the socket open until its cancellation lands:
      // wait for it, so that the address is free when this resolves. A
      // connection it took just before the close was never handled: close it.
      this.#socketClosed = pending?.then(([request]) => this.#closeQuietly(request), () => {}) ??
        null;
    }
    // every call waits for it: the first may have come from the signal option
    if (this.#socketClosed !== null) await this.#socketClosed;
    if (this[kBlockOnClose]()) await this.#drain(graceMs, lingerMs, callers);
  }

  /** The open requests whose handlers are calling (see `requestsOnStack()`). */
  #callers(): ReadonlySet<R> {
    const open = this.#open;
    const callers = new Set(requestsOnStack().filter((request) => open.has(request as R)) as R[]);
    return callers.size === 0 ? NO_REQUESTS : callers;
  }

  /**
   * Internal: whether `serverClose()` waits; `ThreadingMixIn` overrides it.
   *
   * @ignore
   */
  [kBlockOnClose](): boolean {
    return true;
  }

  /**
   * Internal: closes the transport's socket; transports override it.
   *
   * @ignore
   */
  [kCloseSocket](): void {}

  /**
   * Stops serving and closes the server: `await using server = new
   * TCPServer(...)` calls it at the end of the scope.
   *
   * @returns Once `shutdown()` and `serverClose()` are done.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
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

  async #drain(graceMs: number, lingerMs: number, exempt: ReadonlySet<R>): Promise<void> {
    if (this.#open.size === 0) return;
    if (exempt.size > 0) return await this.#drainExcept(graceMs, lingerMs, exempt);
    this.#drained ??= Promise.withResolvers<void>();
    const drained = this.#drained.promise;
    if (graceMs === Infinity) {
      await drained;
    } else if (await deadline(drained, graceMs, expired) === TIMEOUT) {
      await Promise.all([...this.#open].map((request) => this.#forceClose(request, lingerMs)));
    }
    this.#drained = null;
  }

  /** `#drain()` for a `serverClose()` awaited by handlers: every open
   * request but theirs. */
  async #drainExcept(graceMs: number, lingerMs: number, exempt: ReadonlySet<R>): Promise<void> {
    const waiter = { exempt, ...Promise.withResolvers<void>() };
    this.#drainedExcept.add(waiter);
    try {
      this.#wakeDrainers();
      if (graceMs === Infinity) {
        await waiter.promise;
      } else if (await deadline(waiter.promise, graceMs, expired) === TIMEOUT) {
        const others = [...this.#open].filter((request) => !exempt.has(request));
        await Promise.all(others.map((request) => this.#forceClose(request, lingerMs)));
      }
    } finally {
      this.#drainedExcept.delete(waiter);
    }
  }

  /** Resolves the `#drainExcept()` waits whose other requests are all done. */
  #wakeDrainers(): void {
    for (const waiter of this.#drainedExcept) {
      let done = true;
      for (const request of this.#open) {
        if (!waiter.exempt.has(request)) {
          done = false;
          break;
        }
      }
      if (done) waiter.resolve();
    }
  }

  /** Ends a request at the close deadline, once even if `serverClose()` is
   * called again meanwhile: lingers (see `linger()`), then closes it; errors
   * its handler throws from now on are drops. */
  #forceClose(request: R, lingerMs: number): Promise<void> {
    let forcing = this.#forcing.get(request);
    if (forcing === undefined) {
      forcing = this.#lingerThenClose(request, lingerMs);
      this.#forcing.set(request, forcing);
    }
    return forcing;
  }

  async #lingerThenClose(request: R, lingerMs: number): Promise<void> {
    this.#forced.add(request);
    // Until the linger ends the connection is this method's: the handler
    // returning, or failing on its next write, must not close it under the
    // lingering read — closing with unread input resets the connection and
    // destroys the replies the client has not read yet
    this.#lingering.add(request);
    let pending: { read: Promise<void> } | null = null;
    try {
      if (lingerMs > 0) pending = await linger(request, lingerMs);
    } finally {
      this.#lingering.delete(request);
    }
    await this.#closeQuietly(request);
    if (this.#open.delete(request)) {
      if (this.#open.size === 0) this.#drained?.resolve();
      if (this.#drainedExcept.size > 0) this.#wakeDrainers();
      this.#freeSlot();
    }
    this.#forcing.delete(request);
    // closing cancels the lingering read; let it settle (bounded, should an
    // override of closeRequest() not close the connection)
    if (pending !== null) await deadline(pending.read, 100, expired);
  }

  /**
   * Internal: counts a descriptor that a request, though over, still
   * holds — its close waits on an operation Deno has yet to cancel, a TLS
   * handshake Deno cannot abort — against `maxConnections` until `released`
   * settles, so that the limit bounds the descriptors and not only the
   * requests.
   *
   * @ignore
   */
  [kHoldSlot](released: Promise<unknown>): void {
    this.#held++;
    const done = () => {
      this.#held--;
      this.#freeSlot();
    };
    released.then(done, done);
  }

  /**
   * Internal: whether `serverClose()` is lingering on `request`, which the
   * ordinary close path must then leave to it.
   *
   * @ignore
   */
  [kLingering](request: R): boolean {
    return this.#lingering.size > 0 && this.#lingering.has(request);
  }

  async #closeQuietly(request: R): Promise<void> {
    try {
      await this.closeRequest(request);
    } catch {
      // already closed
    }
  }

  /** `true` when the caller may take a request now, else a promise of
   * `true` when its turn comes, or `false` if `until` comes first. */
  #takeTurn(until: number): true | Promise<boolean> {
    if (!this.#taking) return this.#taking = true;
    const turns = this.#turns;
    const { promise, resolve } = Promise.withResolvers<boolean>();
    turns.push(resolve);
    return deadline(promise, Math.max(0, until - performance.now()), () => {
      const at = turns.indexOf(resolve);
      if (at !== -1) turns.splice(at, 1);
      return false;
    });
  }

  /** Hands the turn to the next waiting `handleRequest()`, if any. */
  #passTurn(): void {
    const next = this.#turns.shift();
    if (next !== undefined) next(true);
    else this.#taking = false;
  }

  /** Wakes whoever waits for a request to end (`maxConnections`). */
  #freeSlot(): void {
    const slot = this.#slot;
    if (slot !== null) {
      this.#slot = null;
      slot.resolve();
    }
  }

  /** `getRequest()` once fewer than `maxConnections` requests are open. */
  async #getRequestWhenFree(): Promise<[R, A]> {
    for (;;) {
      if (this.#closed) throw this.#closedError("getRequest()");
      const limit = this.maxConnections;
      if (limit === null || this.#open.size + this.#held < limit) break;
      this.#slot ??= Promise.withResolvers<void>();
      await this.#slot.promise;
    }
    return await this.getRequest();
  }

  /** The request being waited for; one that lost a race against a shutdown
   * or a timeout is kept for the next call rather than accepted twice. */
  #nextRequest(): Promise<[R, A]> {
    let pending = this.#pendingRequest;
    if (pending === null) {
      const limit = this.maxConnections;
      try {
        const got = limit !== null && this.#open.size + this.#held >= limit
          ? this.#getRequestWhenFree()
          : this.getRequest();
        pending = got instanceof Promise ? got : Promise.resolve(got);
      } catch (error) {
        pending = Promise.reject(error);
      }
      this.#pendingRequest = pending;
    }
    return pending;
  }

  /** `promise`, or STOP once `shutdown()` or `serverClose()` is called. A
   * resolver per wait rather than `Promise.race()` against one stop promise:
   * each race would leave a reaction on that promise, kept until the loop
   * stops — one per request, a leak on a long-running server. */
  #untilStop<T>(promise: Promise<T>): Promise<T | typeof STOP> {
    if (this.#shutdownRequested || this.#closed) {
      promise.catch(ignore); // abandoned: it may reject unobserved
      return Promise.resolve(STOP);
    }
    const { promise: woken, resolve, reject } = Promise.withResolvers<T | typeof STOP>();
    this.#stopWait = resolve;
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
   * `handleError()` is printed rather than stopping the server.
   *
   * @ignore
   */
  async [kReportError](request: R, clientAddress: A, error: unknown): Promise<void> {
    const drop = this.#forced.has(request) || isRoutineDrop(error);
    if (drop && request !== null && typeof request === "object") {
      // one drop per request: a reset fails the read and the writes the
      // handler did not await alike
      if (this.#dropped.has(request)) return;
      this.#dropped.add(request);
    }
    try {
      if (drop) await this.handleDrop(request, clientAddress, error);
      else await this.handleError(request, clientAddress, error);
    } catch (secondary) {
      const hook = drop ? "handleDrop()" : "handleError()";
      console.error(`${hook} threw:`, secondary, "while handling:", error);
    }
  }

  /**
   * A `getRequest()` failure other than the socket closing. Python ignores
   * `OSError` here and retries at once, which turns `EMFILE` into a busy
   * loop. Here a client that vanished before its accept (reset, aborted, not
   * connected) is retried at once, with no timer; anything else — above all
   * a process out of descriptors or memory — backs off
   * (at once, then 10 ms doubling to 1 s) until a request comes through, and
   * logs one line per episode (failures no more than 5 s apart).
   */
  async #requestFailed(error: unknown): Promise<void> {
    if (isClientFailure(error)) {
      // No timer: each one cost a client reset before its accept ~2 ms, and
      // a burst of them stalled every client queued behind. A real accept
      // waits on the event loop anyway; a getRequest() override failing
      // synchronously gets a timer now and then, so it cannot starve it.
      if (++this.#clientFailures % 1024 === 0) await this.#sleep(0);
      return;
    }
    const now = performance.now();
    if (now - this.#lastFailure > EPISODE_QUIET_MS) {
      const code = (error as { code?: unknown } | null)?.code;
      const exhausted = typeof code === "string" && EXHAUSTION_CODES.has(code);
      console.error(
        `${this.constructor.name} at ${
          formatAddress(this.serverAddress)
        }: taking a request failed (${
          error instanceof Error ? error.message : String(error)
        }); retrying with back-off, at most every ${BACKOFF_MAX_MS} ms, until it succeeds${
          exhausted
            ? ': the process is out of descriptors or memory, raise "ulimit -n" or set "maxConnections"'
            : ""
        }`,
      );
    }
    this.#lastFailure = now;
    const failures = ++this.#failures;
    await this.#sleep(
      failures === 1 ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (failures - 2)),
    );
  }

  /** Sleeps `ms`, or less if `shutdown()` or `serverClose()` wakes it. */
  async #sleep(ms: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, ms);
    this.#wake = () => (clearTimeout(timer), resolve());
    try {
      await promise;
    } finally {
      this.#wake = null;
    }
  }

  #runServiceActions(): Promise<void> | void {
    try {
      const result = this.serviceActions();
      if (result instanceof Promise) {
        const running: Promise<void> = result
          .catch((error) => console.error("serviceActions() threw:", error))
          .finally(() => {
            if (this.#actions === running) this.#actions = null;
          });
        this.#actions = running;
        return running;
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

declareAttributes(BaseServer, { timeout: nullableDuration, maxConnections: checkLimit });
