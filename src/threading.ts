/**
 * {@linkcode ThreadingMixIn}: one async task per request. The servers it
 * makes of each transport are in threading_servers.ts.
 *
 * @module
 */

import { type AnyServer, type Awaitable, BaseServer } from "./base_server.ts";
import { declareAttributes } from "./_attributes.ts";
import { finishRequestFramed } from "./_caller.ts";
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
  /** Whether `serverClose()` waits for the requests in flight (at most its
   * `graceMs`), like Python's non-daemon threads. Python: `block_on_close`. */
  blockOnClose: boolean;
  /** When `true`, `serverClose()` does not wait for requests in flight, whose
   * connections are unref'd so the process may exit under them, like Python's
   * daemon threads. Python: `daemon_threads`. */
  daemonThreads: boolean;
  /**
   * The body of a request's task: `finishRequest()`, `handleError()` if it
   * threw, then always `shutdownRequest()`. Python: `process_request_thread()`.
   *
   * @example
   * ```ts
   * import { ThreadingTCPServer } from "@x/socketserver";
   *
   * class Counted extends ThreadingTCPServer {
   *   override async processRequestThread(request: unknown, address: unknown) {
   *     console.log("task for", address);
   *     await super.processRequestThread(request, address);
   *   }
   * }
   * ```
   */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
}

/**
 * What {@linkcode ThreadingMixIn} adds to a server class: its attributes'
 * defaults.
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
 * A server constructor's parameters with a mix-in's options `X` added to
 * its options (the third parameter).
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
 * A server constructor's parameters with {@linkcode ThreadingServerOptions}
 * added to its options.
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
 * Returns `Base` extended so that every request runs in its own async task:
 * `processRequest()` starts it and returns at once, so a slow or stuck
 * handler holds up nobody else. Python's `ThreadingMixIn`, with tasks for
 * threads: cheap, but on one core (for CPU-bound handlers see
 * `ForkingMixIn`). `serverClose()` waits for the tasks in flight unless
 * `blockOnClose` is false or `daemonThreads` true.
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
      // Nothing is kept for the task but the request's entry in the open set;
      // an override of processRequestThread() that rejects is reported, not
      // left as an unhandled rejection that would end the process
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
  // Named as in Python (ThreadingTCPServer), for messages naming the class
  Object.defineProperty(Threading, "name", { value: `Threading${Base.name}` });
  return Threading as unknown as ThreadingMixInClass<C>;
}

/** Releases a request whose `shutdownRequest()` threw: `closeRequest()`,
 * then `BaseServer`'s own in case an override threw before calling it, so
 * that `serverClose()` never waits for it. */
async function releaseRequest(server: AnyServer, request: unknown): Promise<void> {
  try {
    await server.closeRequest(request);
  } catch {
    // an override that throws: drop the entry below
  }
  BaseServer.prototype.closeRequest.call(server, request);
}
