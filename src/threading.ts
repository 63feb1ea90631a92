/**
 * {@linkcode ThreadingMixIn}: one async task per request.
 *
 * @module
 */

import type { AnyServer } from "./handlers.ts";
import { type Awaitable, BaseServer, kAttribute, kBlockOnClose, kReportError } from "./server.ts";
import { TCPServer } from "./tcp.ts";

/** A server class that a mix-in can extend. */
// deno-lint-ignore no-explicit-any
export type ServerClass<T extends AnyServer = AnyServer> = new (...args: any[]) => T;

/** What {@linkcode ThreadingMixIn} adds to a server instance. */
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

/** What {@linkcode ThreadingMixIn} adds to a server class: the class
 * attributes' defaults. */
export interface ThreadingServerClass {
  /** Class attribute, default `true`. See {@linkcode ThreadingServer.blockOnClose}. */
  blockOnClose: boolean;
  /** Class attribute, default `false`. See {@linkcode ThreadingServer.daemonThreads}. */
  daemonThreads: boolean;
}

/**
 * The options {@linkcode ThreadingMixIn} adds to a server's constructor:
 * per-instance values of its class attributes.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, ThreadingTCPServer } from "../mod.ts";
 *
 * await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
 *   daemonThreads: true,
 * });
 * console.assert(server.daemonThreads && ThreadingTCPServer.daemonThreads === false);
 * ```
 */
export interface ThreadingServerOptions {
  /** {@linkcode ThreadingServer.blockOnClose}. */
  blockOnClose?: boolean;
  /** {@linkcode ThreadingServer.daemonThreads}. */
  daemonThreads?: boolean;
}

/**
 * The constructor parameters of server class `C`, with the options `O` of a
 * mix-in added to its options (the third parameter).
 *
 * @example
 * ```ts
 * import type { MixInParameters, TCPServer, ThreadingServerOptions } from "../mod.ts";
 *
 * type Args = MixInParameters<typeof TCPServer, ThreadingServerOptions>;
 * const options: Args[2] = { requestQueueSize: 64, blockOnClose: false };
 * console.assert(options?.blockOnClose === false);
 * ```
 */
export type MixInParameters<C extends ServerClass, O> = ConstructorParameters<C> extends
  [infer A, infer H, (infer P)?] ? [serverAddress: A, RequestHandlerClass: H, options?: P & O]
  : ConstructorParameters<C>;

/**
 * The class {@linkcode ThreadingMixIn} returns for a server class `C`: `C`'s
 * statics, a constructor that also takes {@linkcode ThreadingServerOptions},
 * and instances that are also {@linkcode ThreadingServer}s.
 *
 * @example Declaring a ready class, as this package does
 * ```ts
 * import { TCPServer, ThreadingMixIn, type ThreadingMixInClass } from "../mod.ts";
 *
 * class MyTCPServer extends TCPServer {}
 * export const MyThreadingServer: ThreadingMixInClass<typeof MyTCPServer> = ThreadingMixIn(
 *   MyTCPServer,
 * );
 * ```
 */
export type ThreadingMixInClass<C extends ServerClass> =
  & Pick<C, keyof C>
  & ThreadingServerClass
  & (new (
    ...args: MixInParameters<C, ThreadingServerOptions>
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
 * import { StreamRequestHandler, TCPServer, ThreadingMixIn } from "../mod.ts";
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
 * console.assert(await new Response(conn.readable).text() === "hello\n");
 * ```
 */
export function ThreadingMixIn<C extends ServerClass>(
  Base: C,
): ThreadingMixInClass<C> {
  class Threading extends Base implements ThreadingServer {
    static blockOnClose = true;
    static daemonThreads = false;

    get blockOnClose(): boolean {
      return this[kAttribute]("blockOnClose") as boolean;
    }
    set blockOnClose(value: boolean) {
      this[kAttribute]("blockOnClose", value);
    }

    get daemonThreads(): boolean {
      return this[kAttribute]("daemonThreads") as boolean;
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
 * import { StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
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
 * await b.write(new TextEncoder().encode("b\n"));
 * const reply = new Uint8Array(2);
 * await b.read(reply); // served while a is still open
 * assert.equal(new TextDecoder().decode(reply), "b\n");
 * a.close();
 * b.close();
 * ```
 */
export const ThreadingTCPServer: ThreadingMixInClass<typeof TCPServer> = ThreadingMixIn(TCPServer);
/** An instance of {@linkcode ThreadingTCPServer}. */
export type ThreadingTCPServer = InstanceType<typeof ThreadingTCPServer>;
