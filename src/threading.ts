/**
 * {@linkcode ThreadingMixIn}, one async task per request, and its servers.
 *
 * @module
 */

import type { AnyServer, Awaitable, ServerCloseOptions } from "./base_server.ts";
import type { ServerStats } from "./server_stats.ts";
import type { DatagramRequest } from "./datagram_server.ts";
import { TCPServer } from "./tcp_server.ts";
import { TLSServer } from "./tls_server.ts";
import { UDPServer } from "./udp_server.ts";
import { declareAttributes } from "./_attributes.ts";
import { framed } from "./_caller.ts";
import { flowOf, FusedFlow, registerBuiltins } from "./_fused_flow.ts";
import { releaseRequest, ThreadFlow } from "./_thread_flow.ts";
import { kAttribute, kBlockOnClose, kReportError } from "./_symbols.ts";

/**
 * A server class that a mix-in can extend.
 *
 * @example A mix-in of one's own
 * ```ts
 * import { type ServerClass, TCPServer } from "@x/socketserver";
 *
 * function Logged<C extends ServerClass>(Base: C) {
 *   return class extends Base {
 *     override serviceActions() {
 *       console.log("idle");
 *     }
 *   };
 * }
 * const LoggedTCPServer = Logged(TCPServer);
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
 *
 * await using server = new ThreadingTCPServer(["127.0.0.1", 0], BaseRequestHandler);
 * const threading: ThreadingServer = server;
 * threading.daemonThreads = true; // serverClose() no longer waits for handlers
 * ```
 */
export interface ThreadingServer {
  /** Whether `serverClose()` waits for the requests in flight (at most its `graceMs`), like
   * Python's non-daemon threads. Python: `block_on_close`. */
  blockOnClose: boolean;
  /** When `true`, `serverClose()` does not wait for requests in flight, and their connections
   * are unref'd so the process may exit under them. Python: `daemon_threads`. */
  daemonThreads: boolean;
  /**
   * The body of a request's task: `finishRequest()`, `handleError()` if it threw, then always
   * `shutdownRequest()`. Python: `process_request_thread()`.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, ThreadingTCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * class Counted extends ThreadingTCPServer {
   *   tasks = 0;
   *   override async processRequestThread(request: unknown, address: unknown) {
   *     this.tasks++;
   *     await super.processRequestThread(request, address);
   *   }
   * }
   * await using server = new Counted(["127.0.0.1", 0], BaseRequestHandler);
   * using _client = await Deno.connect(server.serverAddress);
   * await server.handleRequest(); // returns once the task has started
   * assert.equal(server.tasks, 1);
   * ```
   */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
}

/**
 * What {@linkcode ThreadingMixIn} adds to a server class: its attributes' defaults.
 *
 * @example
 * ```ts
 * import { type ThreadingServerClass, ThreadingTCPServer } from "@x/socketserver";
 *
 * const defaults: ThreadingServerClass = ThreadingTCPServer; // blockOnClose true, daemonThreads false
 * ```
 */
export interface ThreadingServerClass {
  /** Class attribute: {@linkcode ThreadingServer.blockOnClose}. */
  blockOnClose: boolean;
  /** Class attribute: {@linkcode ThreadingServer.daemonThreads}. */
  daemonThreads: boolean;
}

/**
 * Options {@linkcode ThreadingMixIn} adds to a server's constructor.
 *
 * @example
 * ```ts
 * import type { ThreadingServerOptions } from "@x/socketserver";
 *
 * const detached: ThreadingServerOptions = { daemonThreads: true };
 * ```
 */
export interface ThreadingServerOptions {
  /** {@linkcode ThreadingServer.blockOnClose} for this instance.
   * @default {true} */
  blockOnClose?: boolean;
  /** {@linkcode ThreadingServer.daemonThreads} for this instance.
   * @default {false} */
  daemonThreads?: boolean;
}

/**
 * A server constructor's parameters with a mix-in's options `X` added to its options.
 *
 * @example
 * ```ts
 * import type { TCPServer, WithMixInOptions } from "@x/socketserver";
 *
 * type Params = WithMixInOptions<ConstructorParameters<typeof TCPServer>, { verbose?: boolean }>;
 * const options: Params[2] = { timeout: 1000, verbose: true };
 * ```
 */
export type WithMixInOptions<P extends unknown[], X> = P extends [
  serverAddress: infer SA,
  handler: infer H,
  options?: infer O,
] ? [serverAddress: SA, RequestHandlerClass: H, options?: O & X]
  : P;

/**
 * A server constructor's parameters with {@linkcode ThreadingServerOptions} added to its options.
 *
 * @example
 * ```ts
 * import type { TCPServer, WithThreadingOptions } from "@x/socketserver";
 *
 * type Options = WithThreadingOptions<ConstructorParameters<typeof TCPServer>>[2];
 * ```
 */
export type WithThreadingOptions<P extends unknown[]> = WithMixInOptions<P, ThreadingServerOptions>;

/**
 * The class {@linkcode ThreadingMixIn} returns for a server class `C`: `C`,
 * with {@linkcode ThreadingServerOptions} and {@linkcode ThreadingServer}s.
 *
 * @example
 * ```ts
 * import { ThreadingMixIn, type ThreadingMixInClass, UDPServer } from "@x/socketserver";
 *
 * class Syslog extends UDPServer {
 *   static override maxPacketSize = 2048;
 * }
 * const ThreadingSyslog: ThreadingMixInClass<typeof Syslog> = ThreadingMixIn(Syslog);
 * ```
 */
export type ThreadingMixInClass<C extends ServerClass> =
  & Pick<C, keyof C>
  & ThreadingServerClass
  & (new (
    ...args: WithThreadingOptions<ConstructorParameters<C>>
  ) => InstanceType<C> & ThreadingServer);

/**
 * Returns `Base` extended so that every request runs in its own async task, as Python's
 * `ThreadingMixIn` runs a thread: a stuck handler holds up nobody else, but all share one core
 * (CPU-bound handlers: `ForkingMixIn`). See docs/concurrency.md.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TCPServer, ThreadingMixIn } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Quick extends ThreadingMixIn(TCPServer) {
 *   static override daemonThreads = true;
 * }
 * await using server = new Quick(["127.0.0.1", 0], BaseRequestHandler);
 * assert.equal(server.daemonThreads, true);
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
      if (FusedFlow.isThreadTask(this.processRequestThread)) {
        return void flowOf(this).task(request, clientAddress);
      }
      // Nothing is kept for the task but the request's entry in the open set
      framed(this.#flow ??= new ThreadFlow(this), request, clientAddress);
    }
    #flow: ThreadFlow | undefined;

    async processRequestThread(request: unknown, clientAddress: unknown): Promise<void> {
      try {
        await this.finishRequest(request, clientAddress);
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
  registerBuiltins(Threading.prototype, ["processRequest", "processRequestThread"], {
    threadProcess: "processRequest",
    threadTask: "processRequestThread",
  });
  // Named as in Python (ThreadingTCPServer), for messages naming the class
  Object.defineProperty(Threading, "name", { value: `Threading${Base.name}` });
  return Threading as unknown as ThreadingMixInClass<C>;
}

/**
 * A {@linkcode TCPServer} handling each connection in its own task:
 * `ThreadingMixIn(TCPServer)`. Python: `ThreadingTCPServer`.
 *
 * @example
 * ```ts
 * import { sendall, StreamRequestHandler, ThreadingTCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler<ThreadingTCPServer> {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * await using server = new ThreadingTCPServer(["127.0.0.1", 0], Echo);
 * server.serveForever();
 * using idle = await Deno.connect(server.serverAddress); // holds up nobody
 * const conn = await Deno.connect(server.serverAddress);
 * await sendall(conn, "hi\n");
 * await conn.closeWrite();
 * assert.equal(await new Response(conn.readable).text(), "hi\n");
 * ```
 */
export const ThreadingTCPServer: ThreadingMixInClass<typeof TCPServer> = ThreadingMixIn(TCPServer);
/** The methods of a {@linkcode ThreadingTCPServer}, listed on its page. */
export interface ThreadingTCPServer extends TCPServer, ThreadingServer {
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
  /** See {@linkcode ThreadingMixIn}. */
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
  /** See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  // doc-pages: end
}

/**
 * A {@linkcode UDPServer} handling each datagram in its own task:
 * `ThreadingMixIn(UDPServer)`. Python: `ThreadingUDPServer`.
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler, ThreadingUDPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DatagramRequestHandler<ThreadingUDPServer> {
 *   override async handle() {
 *     await this.wfile.write(this.packet);
 *   }
 * }
 * await using server = new ThreadingUDPServer(["127.0.0.1", 0], Echo);
 * assert.equal(server.socketType, "SOCK_DGRAM");
 * ```
 */
export const ThreadingUDPServer: ThreadingMixInClass<typeof UDPServer> = ThreadingMixIn(UDPServer);
/** The methods of a {@linkcode ThreadingUDPServer}, listed on its page. */
export interface ThreadingUDPServer extends UDPServer, ThreadingServer {
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
  /** See {@linkcode ThreadingMixIn}. */
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
  /** See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  // doc-pages: end
}

/**
 * A {@linkcode TLSServer} handling each connection, its handshake included,
 * in its own task: `ThreadingMixIn(TLSServer)`.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, ThreadingTLSServer } from "@x/socketserver";
 * import { localhostCert } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Hello extends StreamRequestHandler<ThreadingTLSServer> {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * await using server = new ThreadingTLSServer(["127.0.0.1", 0], Hello, localhostCert);
 * assert.equal(server.handshakeTimeout, 60_000);
 * ```
 */
export const ThreadingTLSServer: ThreadingMixInClass<typeof TLSServer> = ThreadingMixIn(TLSServer);
/** The methods of a {@linkcode ThreadingTLSServer}, listed on its page. */
export interface ThreadingTLSServer extends TLSServer, ThreadingServer {
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
  getRequest(): Promise<[Deno.TlsConn, Deno.NetAddr]>;
  /** See {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** See {@linkcode ThreadingMixIn}. */
  processRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** See {@linkcode TLSServer.finishRequest}. */
  finishRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Promise<void>;
  /** See {@linkcode TLSServer.shutdownRequest}. */
  shutdownRequest(request: Deno.TlsConn): Promise<void>;
  /** See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.TlsConn): void;
  /** See {@linkcode BaseServer.handleError}. */
  handleError(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** See {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** See {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** See {@linkcode BaseServer.serverClose}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
  /** See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  // doc-pages: end
}
