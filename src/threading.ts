/**
 * {@linkcode ThreadingMixIn}: one async task per request.
 *
 * @module
 */

import {
  type AnyServer,
  type Awaitable,
  BaseServer,
  type ServerCloseOptions,
} from "./base_server.ts";
import type { DatagramRequest } from "./datagram_server.ts";
import { TCPServer } from "./tcp_server.ts";
import { TLSServer } from "./tls_server.ts";
import { UDPServer } from "./udp_server.ts";
import { UnixDatagramServer } from "./unix_datagram_server.ts";
import { UnixStreamServer } from "./unix_stream_server.ts";
import { declareAttributes } from "./_attributes.ts";
import { finishRequestFramed } from "./_caller.ts";
import { kAttribute, kBlockOnClose, kReportError } from "./_symbols.ts";

/**
 * A server class that a mix-in can extend.
 *
 * @example A mix-in of one's own
 * ```ts
 * import { BaseRequestHandler, type ServerClass, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * function Counting<C extends ServerClass>(Base: C) {
 *   return class extends Base {
 *     handled = 0;
 *     override async finishRequest(request: unknown, address: unknown): Promise<void> {
 *       this.handled++;
 *       await super.finishRequest(request, address);
 *     }
 *   };
 * }
 * const CountingTCPServer = Counting(TCPServer);
 * await using server = new CountingTCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
 * const handled = server.handleRequest();
 * (await Deno.connect(server.serverAddress)).close();
 * await handled;
 * assert.equal(server.handled, 1);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type ServerClass<T extends AnyServer = AnyServer> = new (...args: any[]) => T;

/**
 * What {@linkcode ThreadingMixIn} adds to a server instance.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type ThreadingServer, ThreadingTCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * function detach(server: ThreadingServer): void {
 *   server.daemonThreads = true; // serverClose() no longer waits for handlers
 * }
 * await using server = new ThreadingTCPServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   BaseRequestHandler,
 * );
 * detach(server);
 * assert.equal(server.daemonThreads, true);
 * ```
 */
export interface ThreadingServer {
  /**
   * Whether `serverClose()` waits for every request in flight (default
   * `true`), at most its `graceMs`. With `false` it returns once the
   * listener is closed; the handlers still running go on to the end, and
   * their connections keep the process alive until then, like Python's
   * non-daemon threads at exit. Python: `block_on_close`.
   */
  blockOnClose: boolean;
  /**
   * When `true`, `serverClose()` does not wait for requests in flight, and
   * their connections are unref'd (`Deno.Conn.unref()`), so that a pending
   * read no longer keeps the process alive: once nothing else is pending the
   * process exits under them, like Python's daemon threads. A handler
   * waiting on something other than its connection (a timer, a fetch) still
   * keeps the process alive. Default `false`. Python: `daemon_threads`.
   */
  daemonThreads: boolean;
  /**
   * The body of a request's task: `finishRequest()`, `handleError()` if it
   * threw, then always `shutdownRequest()`; a request whose
   * `shutdownRequest()` throws is still released, so `serverClose()` never
   * waits for it. Python: `process_request_thread()`.
   *
   * @param request The request.
   * @param clientAddress The client's address.
   * @returns When the request is over.
   */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
}

/**
 * What {@linkcode ThreadingMixIn} adds to a server class: the class
 * attributes' defaults.
 *
 * @example
 * ```ts
 * import { type ThreadingServerClass, ThreadingTCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const defaults: ThreadingServerClass = ThreadingTCPServer;
 * assert.equal(defaults.blockOnClose, true);
 * assert.equal(defaults.daemonThreads, false);
 * ```
 */
export interface ThreadingServerClass {
  /** Class attribute, default `true`. See {@linkcode ThreadingServer.blockOnClose}. */
  blockOnClose: boolean;
  /** Class attribute, default `false`. See {@linkcode ThreadingServer.daemonThreads}. */
  daemonThreads: boolean;
}

/**
 * Options {@linkcode ThreadingMixIn} adds to a server's constructor.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, ThreadingTCPServer, type ThreadingServerOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: ThreadingServerOptions = { blockOnClose: false };
 * await using server = new ThreadingTCPServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   BaseRequestHandler,
 *   options,
 * );
 * assert.equal(server.blockOnClose, false);
 * ```
 */
export interface ThreadingServerOptions {
  /** {@linkcode ThreadingServer.blockOnClose} for this instance. */
  blockOnClose?: boolean;
  /** {@linkcode ThreadingServer.daemonThreads} for this instance. */
  daemonThreads?: boolean;
}

/**
 * A server constructor's parameters with a mix-in's options `X` added to
 * its options (the third parameter).
 *
 * @example The parameters of a mix-in's class
 * ```ts
 * import type { TCPServer, WithMixInOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * type Params = WithMixInOptions<ConstructorParameters<typeof TCPServer>, { verbose?: boolean }>;
 * const options: Params[2] = { timeout: 1000, verbose: true };
 * assert.equal(options?.verbose, true);
 * ```
 */
export type WithMixInOptions<P extends unknown[], X> = P extends [
  serverAddress: infer SA,
  handler: infer H,
  options?: infer O,
] ? [serverAddress: SA, RequestHandlerClass: H, options?: O & X]
  : P;

/**
 * A server constructor's parameters with {@linkcode ThreadingServerOptions}
 * added to its options (the third parameter).
 *
 * @example
 * ```ts
 * import type { TCPServer, WithThreadingOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * type Params = WithThreadingOptions<ConstructorParameters<typeof TCPServer>>;
 * const options: Params[2] = { timeout: 1000, daemonThreads: true };
 * assert.equal(options?.daemonThreads, true);
 * ```
 */
export type WithThreadingOptions<P extends unknown[]> = WithMixInOptions<P, ThreadingServerOptions>;

/**
 * The class {@linkcode ThreadingMixIn} returns for a server class `C`: `C`'s
 * statics and constructor (whose options also take
 * {@linkcode ThreadingServerOptions}), with instances that are also
 * {@linkcode ThreadingServer}s.
 *
 * @example Declaring a ready class, as this package does
 * ```ts
 * import { ThreadingMixIn, type ThreadingMixInClass, UDPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Syslog extends UDPServer {
 *   static override maxPacketSize = 2048;
 * }
 * const ThreadingSyslog: ThreadingMixInClass<typeof Syslog> = ThreadingMixIn(Syslog);
 * assert.equal(ThreadingSyslog.maxPacketSize, 2048);
 * assert.equal(ThreadingSyslog.daemonThreads, false);
 * ```
 */
export type ThreadingMixInClass<C extends ServerClass> =
  & Pick<C, keyof C>
  & ThreadingServerClass
  & (new (
    ...args: WithThreadingOptions<ConstructorParameters<C>>
  ) => InstanceType<C> & ThreadingServer);

/**
 * Returns `Base` extended so that every request runs in its own async task:
 * `processRequest()` starts the task and returns at once, so the accept loop
 * (or the datagram receive loop) never waits for a handler, and a handler
 * that throws or never returns holds up nobody else. Python's
 * `ThreadingMixIn`, with tasks where Python has threads — cheap enough for
 * tens of thousands of connections, but sharing one core: for CPU-bound
 * handlers see `ForkingMixIn`.
 *
 * Finished requests leave nothing behind (Python kept every finished thread
 * until bpo-37193); `serverClose()` waits for the ones in flight unless
 * `blockOnClose` is false or `daemonThreads` true.
 *
 * @param Base The server class to extend.
 * @returns The threading class; extend it to override anything.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, TCPServer, ThreadingMixIn } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Quick extends ThreadingMixIn(TCPServer) {
 *   static override daemonThreads = true;
 * }
 * class Hello extends StreamRequestHandler {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * await using server = new Quick({ hostname: "127.0.0.1", port: 0 }, Hello);
 * server.serveForever();
 * const conn = await Deno.connect(server.serverAddress);
 * assert.equal(await new Response(conn.readable).text(), "hello\n");
 * ```
 */
export function ThreadingMixIn<C extends ServerClass>(
  Base: C,
): ThreadingMixInClass<C> {
  class Threading extends Base implements ThreadingServer {
    static blockOnClose = true;
    static daemonThreads = false;

    get blockOnClose(): boolean {
      return this[kAttribute]("blockOnClose");
    }
    set blockOnClose(value: boolean) {
      this[kAttribute]("blockOnClose", value);
    }

    get daemonThreads(): boolean {
      return this[kAttribute]("daemonThreads");
    }
    set daemonThreads(value: boolean) {
      this[kAttribute]("daemonThreads", value);
    }

    override processRequest(request: unknown, clientAddress: unknown): Awaitable<void> {
      if (this.daemonThreads) (request as Partial<Deno.Conn>).unref?.();
      // Nothing is kept for the task: the request's entry in the server's
      // open set (removed by closeRequest()) is the only trace of it. An
      // override of processRequestThread() that rejects is reported, never
      // left as an unhandled rejection that would end the process.
      let task: Promise<void>;
      try {
        task = Promise.resolve(this.processRequestThread(request, clientAddress));
      } catch (error) {
        task = Promise.reject(error);
      }
      task.catch(async (error) => {
        await this[kReportError](request, clientAddress, error);
        await releaseRequest(this, request);
      });
    }

    async processRequestThread(request: unknown, clientAddress: unknown): Promise<void> {
      try {
        await finishRequestFramed(this, request, clientAddress);
      } catch (error) {
        await this[kReportError](request, clientAddress, error);
      }
      try {
        await this.shutdownRequest(request);
      } catch (error) {
        await this[kReportError](request, clientAddress, error);
        await releaseRequest(this, request);
      }
    }

    override [kBlockOnClose](): boolean {
      return this.blockOnClose && !this.daemonThreads;
    }
  }
  declareAttributes(Threading, { blockOnClose: null, daemonThreads: null });
  // Named after what it is (ThreadingTCPServer), as in Python, so that
  // messages naming `this.constructor.name` say which class it is.
  Object.defineProperty(Threading, "name", { value: `Threading${Base.name}` });
  return Threading as unknown as ThreadingMixInClass<C>;
}

/** Releases a request whose `shutdownRequest()` threw: `closeRequest()`,
 * then `BaseServer`'s own `closeRequest()` in case an override threw before
 * calling it, so that no request is kept (and waited for by `serverClose()`)
 * after its task ended. */
async function releaseRequest(server: AnyServer, request: unknown): Promise<void> {
  try {
    await server.closeRequest(request);
  } catch {
    // an override that throws: drop the entry below
  }
  BaseServer.prototype.closeRequest.call(server, request);
}

/**
 * A {@linkcode TCPServer} that handles each connection in its own async
 * task: `ThreadingMixIn(TCPServer)`. Python: `ThreadingTCPServer`.
 *
 * @example A line echo server for many clients at once
 * ```ts
 * import { sendall, StreamRequestHandler, ThreadingTCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Echo);
 * server.serveForever();
 * const [a, b] = await Promise.all([
 *   Deno.connect(server.serverAddress),
 *   Deno.connect(server.serverAddress),
 * ]);
 * await sendall(b, "b\n");
 * const reply = new Uint8Array(2);
 * await b.read(reply); // served while a is still open
 * assert.equal(new TextDecoder().decode(reply), "b\n");
 * a.close();
 * b.close();
 * ```
 */
export const ThreadingTCPServer: ThreadingMixInClass<typeof TCPServer> = ThreadingMixIn(TCPServer);
/**
 * An instance of {@linkcode ThreadingTCPServer}, with every method it has listed: each is
 * defined by the class or mix-in its note names, and declared again here
 * only so that this page shows it.
 *
 * @example Typing a handler's server
 * ```ts
 * import { StreamRequestHandler, ThreadingTCPServer } from "@x/socketserver";
 *
 * class Stats extends StreamRequestHandler<ThreadingTCPServer> {
 *   override async handle() {
 *     await this.wfile.write(`${this.server.activeRequests} connections open\n`);
 *   }
 * }
 * await using _server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Stats);
 * ```
 */
export interface ThreadingTCPServer extends TCPServer, ThreadingServer {
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
  /** Starts the request's own task, `processRequestThread()`, and returns at once. See
   * {@linkcode ThreadingMixIn}. */
  processRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** The body of a request's task: `finishRequest()`, `handleError()` if it threw, then
   * `shutdownRequest()`. See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
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

/**
 * A {@linkcode UDPServer} that handles each datagram in its own async task:
 * `ThreadingMixIn(UDPServer)`. Python: `ThreadingUDPServer`.
 *
 * @example A slow reply does not hold up the next datagram
 * ```ts
 * import { DatagramRequestHandler, ThreadingUDPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const release = Promise.withResolvers<void>();
 * class Echo extends DatagramRequestHandler {
 *   override async handle() {
 *     const line = await this.rfile.readline();
 *     if (new TextDecoder().decode(line) === "slow\n") await release.promise;
 *     await this.wfile.write(line);
 *   }
 * }
 * await using server = new ThreadingUDPServer({ hostname: "127.0.0.1", port: 0 }, Echo);
 * server.serveForever();
 * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("slow\n"), server.serverAddress);
 * await client.send(new TextEncoder().encode("fast\n"), server.serverAddress);
 * const [first] = await client.receive();
 * assert.equal(new TextDecoder().decode(first), "fast\n");
 * release.resolve();
 * const [second] = await client.receive();
 * assert.equal(new TextDecoder().decode(second), "slow\n");
 * client.close();
 * ```
 */
export const ThreadingUDPServer: ThreadingMixInClass<typeof UDPServer> = ThreadingMixIn(UDPServer);
/**
 * An instance of {@linkcode ThreadingUDPServer}, with every method it has listed: each is
 * defined by the class or mix-in its note names, and declared again here
 * only so that this page shows it.
 *
 * @example Typing a handler's server
 * ```ts
 * import { DatagramRequestHandler, ThreadingUDPServer } from "@x/socketserver";
 *
 * class Busy extends DatagramRequestHandler<ThreadingUDPServer> {
 *   override async handle() {
 *     await this.wfile.write(`${this.server.activeRequests} datagrams in flight`);
 *   }
 * }
 * await using _server = new ThreadingUDPServer({ hostname: "127.0.0.1", port: 0 }, Busy);
 * ```
 */
export interface ThreadingUDPServer extends UDPServer, ThreadingServer {
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
  /** Checks that the datagram API is enabled and the `net` permission, then binds with
   * `Deno.listenDatagram` and sets `serverAddress` to the bound address. See
   * {@linkcode UDPServer.serverBind}. */
  serverBind(): void;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Receives the next datagram. See {@linkcode DatagramServer.getRequest}. */
  getRequest(): Promise<[DatagramRequest, Deno.NetAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: DatagramRequest, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** Starts the request's own task, `processRequestThread()`, and returns at once. See
   * {@linkcode ThreadingMixIn}. */
  processRequest(request: DatagramRequest, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** The body of a request's task: `finishRequest()`, `handleError()` if it threw, then
   * `shutdownRequest()`. See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
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

/**
 * A {@linkcode UnixStreamServer} that handles each connection in its own
 * async task: `ThreadingMixIn(UnixStreamServer)`. Python:
 * `ThreadingUnixStreamServer`.
 *
 * @example Two clients at once
 * ```ts
 * import { sendall, StreamRequestHandler, ThreadingUnixStreamServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler<ThreadingUnixStreamServer> {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * const dir = await Deno.makeTempDir();
 * {
 *   await using server = new ThreadingUnixStreamServer({ path: `${dir}/echo.sock` }, Echo);
 *   server.serveForever();
 *   const a = await Deno.connect(server.serverAddress);
 *   const b = await Deno.connect(server.serverAddress);
 *   await sendall(b, "b\n");
 *   const reply = new Uint8Array(2);
 *   await b.read(reply); // served while a is still open
 *   assert.equal(new TextDecoder().decode(reply), "b\n");
 *   a.close();
 *   b.close();
 * }
 * await Deno.remove(dir);
 * ```
 */
export const ThreadingUnixStreamServer: ThreadingMixInClass<typeof UnixStreamServer> =
  ThreadingMixIn(UnixStreamServer);
/**
 * An instance of {@linkcode ThreadingUnixStreamServer}, with every method it has listed: each is
 * defined by the class or mix-in its note names, and declared again here
 * only so that this page shows it.
 *
 * @example Typing a handler's server
 * ```ts
 * import { StreamRequestHandler, type ThreadingUnixStreamServer } from "@x/socketserver";
 *
 * class Where extends StreamRequestHandler<ThreadingUnixStreamServer> {
 *   override async handle() {
 *     // this.request is a Deno.UnixConn, this.server a ThreadingUnixStreamServer
 *     await this.wfile.write(`${this.server.serverAddress.path}\n`);
 *   }
 * }
 * ```
 */
export interface ThreadingUnixStreamServer extends UnixStreamServer, ThreadingServer {
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
  /** Checks the permissions and the path, then binds and listens with `Deno.listen`. See
   * {@linkcode UnixStreamServer.serverBind}. */
  serverBind(): Awaitable<void>;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Accepts the next connection. See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.UnixConn, Deno.UnixAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.UnixConn, clientAddress: Deno.UnixAddr): Awaitable<boolean>;
  /** Starts the request's own task, `processRequestThread()`, and returns at once. See
   * {@linkcode ThreadingMixIn}. */
  processRequest(request: Deno.UnixConn, clientAddress: Deno.UnixAddr): Awaitable<void>;
  /** The body of a request's task: `finishRequest()`, `handleError()` if it threw, then
   * `shutdownRequest()`. See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  /** Runs the handler — constructs `RequestHandlerClass` and calls its `setup()`, `handle()` and,
   * even when `handle()` throws, `finish()`. See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: Deno.UnixConn, clientAddress: Deno.UnixAddr): Promise<void>;
  /** Shuts the write side down (the client sees EOF after everything that was written), then
   * closes the connection. See {@linkcode StreamServer.shutdownRequest}. */
  shutdownRequest(request: Deno.UnixConn): Promise<void>;
  /** Closes the connection. See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.UnixConn): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(
    request: Deno.UnixConn,
    clientAddress: Deno.UnixAddr,
    error: unknown,
  ): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.UnixConn, clientAddress: Deno.UnixAddr, error: unknown): Awaitable<void>;
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

/**
 * A {@linkcode UnixDatagramServer} that handles each datagram in its own
 * async task: `ThreadingMixIn(UnixDatagramServer)`. Python:
 * `ThreadingUnixDatagramServer`.
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler, ThreadingUnixDatagramServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DatagramRequestHandler<ThreadingUnixDatagramServer> {
 *   override async handle() {
 *     await this.wfile.write(this.packet);
 *   }
 * }
 * const dir = await Deno.makeTempDir();
 * {
 *   await using server = new ThreadingUnixDatagramServer({ path: `${dir}/echo.sock` }, Echo);
 *   server.serveForever();
 *   const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
 *   await client.send(new TextEncoder().encode("ping"), server.serverAddress);
 *   const [reply] = await client.receive();
 *   assert.equal(new TextDecoder().decode(reply), "ping");
 *   client.close();
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export const ThreadingUnixDatagramServer: ThreadingMixInClass<typeof UnixDatagramServer> =
  ThreadingMixIn(UnixDatagramServer);
/**
 * An instance of {@linkcode ThreadingUnixDatagramServer}, with every method it has listed: each is
 * defined by the class or mix-in its note names, and declared again here
 * only so that this page shows it.
 *
 * @example Typing a handler's server
 * ```ts
 * import { DatagramRequestHandler, type ThreadingUnixDatagramServer } from "@x/socketserver";
 *
 * class Where extends DatagramRequestHandler<ThreadingUnixDatagramServer> {
 *   override async handle() {
 *     // this.clientAddress is a Deno.UnixAddr
 *     await this.wfile.write(`you are ${this.clientAddress.path || "unnamed"}`);
 *   }
 * }
 * ```
 */
export interface ThreadingUnixDatagramServer extends UnixDatagramServer, ThreadingServer {
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
  /** Checks that the datagram API is enabled, the permissions and the path, then binds with
   * `Deno.listenDatagram`. See {@linkcode UnixDatagramServer.serverBind}. */
  serverBind(): Awaitable<void>;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Receives the next datagram. See {@linkcode DatagramServer.getRequest}. */
  getRequest(): Promise<[DatagramRequest, Deno.UnixAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: DatagramRequest, clientAddress: Deno.UnixAddr): Awaitable<boolean>;
  /** Starts the request's own task, `processRequestThread()`, and returns at once. See
   * {@linkcode ThreadingMixIn}. */
  processRequest(request: DatagramRequest, clientAddress: Deno.UnixAddr): Awaitable<void>;
  /** The body of a request's task: `finishRequest()`, `handleError()` if it threw, then
   * `shutdownRequest()`. See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  /** Runs the handler — constructs `RequestHandlerClass` and calls its `setup()`, `handle()` and,
   * even when `handle()` throws, `finish()`. See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: DatagramRequest, clientAddress: Deno.UnixAddr): Promise<void>;
  /** Ends a request — for streams, shuts the write side down, then calls `closeRequest()`. See
   * {@linkcode BaseServer.shutdownRequest}. */
  shutdownRequest(request: DatagramRequest): Awaitable<void>;
  /** Marks the request over. See {@linkcode DatagramServer.closeRequest}. */
  closeRequest(request: DatagramRequest): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(
    request: DatagramRequest,
    clientAddress: Deno.UnixAddr,
    error: unknown,
  ): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(
    request: DatagramRequest,
    clientAddress: Deno.UnixAddr,
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

/**
 * A {@linkcode TLSServer} that handles each connection — its TLS handshake
 * included — in its own async task: `ThreadingMixIn(TLSServer)`.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, ThreadingTLSServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * // PEM text of a certificate and its key: here the repository's test pair for localhost
 * const cert = await Deno.readTextFile(new URL("../tests/tls/localhost.crt", import.meta.url));
 * const key = await Deno.readTextFile(new URL("../tests/tls/localhost.key", import.meta.url));
 * class Hello extends StreamRequestHandler<ThreadingTLSServer> {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * await using server = new ThreadingTLSServer({ hostname: "127.0.0.1", port: 0 }, Hello, {
 *   cert,
 *   key,
 * });
 * server.serveForever();
 * const conn = await Deno.connectTls({
 *   hostname: "localhost",
 *   port: server.serverAddress.port,
 *   caCerts: [cert],
 * });
 * assert.equal(await new Response(conn.readable).text(), "hello\n");
 * ```
 */
export const ThreadingTLSServer: ThreadingMixInClass<typeof TLSServer> = ThreadingMixIn(TLSServer);
/**
 * An instance of {@linkcode ThreadingTLSServer}, with every method it has listed: each is
 * defined by the class or mix-in its note names, and declared again here
 * only so that this page shows it.
 *
 * @example Typing a handler's server
 * ```ts
 * import { StreamRequestHandler, type ThreadingTLSServer } from "@x/socketserver";
 *
 * class Alpn extends StreamRequestHandler<ThreadingTLSServer> {
 *   override async handle() {
 *     const { alpnProtocol } = await this.request.handshake(); // a Deno.TlsConn
 *     await this.wfile.write(`${alpnProtocol ?? "no ALPN"}\n`);
 *   }
 * }
 * ```
 */
export interface ThreadingTLSServer extends TLSServer, ThreadingServer {
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
  getRequest(): Promise<[Deno.TlsConn, Deno.NetAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** Starts the request's own task, `processRequestThread()`, and returns at once. See
   * {@linkcode ThreadingMixIn}. */
  processRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** The body of a request's task: `finishRequest()`, `handleError()` if it threw, then
   * `shutdownRequest()`. See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  /** Completes the TLS handshake (at most `handshakeTimeout` ms), then runs the handler. See
   * {@linkcode TLSServer.finishRequest}. */
  finishRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Promise<void>;
  /** Ends the connection: after a completed handshake like every stream server (`closeWrite()`,
   * which sends TLS's `close_notify`, then `closeRequest()`); after a failed or unfinished one it
   * only closes it, as `closeWrite()` would wait for the handshake. See
   * {@linkcode TLSServer.shutdownRequest}. */
  shutdownRequest(request: Deno.TlsConn): Promise<void>;
  /** Closes the connection. See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.TlsConn): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
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
