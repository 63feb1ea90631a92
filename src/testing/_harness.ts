/**
 * What the in-memory runs share: a harness per server that wraps the
 * server's hooks on that instance to see each request through to its end.
 *
 * @module
 */

import type { AnyServer } from "../base_server.ts";
import { DatagramRequestHandler } from "../datagram_request_handler.ts";
import { DatagramServer } from "../datagram_server.ts";
import { formatAddress } from "../_format.ts";
import { bindInMemory, isBoundInMemory } from "./bind_in_memory.ts";
import type { MemoryNetwork } from "./network.ts";

/**
 * How a request run in memory ended, once the server has closed it.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler } from "@x/socketserver";
 * import { type RequestOutcome, runHandler } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Patient extends StreamRequestHandler {
 *   override timeout = 10;
 *   override async handle() {
 *     await this.rfile.readline(); // nothing comes: TimeoutError
 *   }
 * }
 * await using run = runHandler(Patient);
 * const outcome: RequestOutcome = await run.done;
 * assert.equal((outcome.drops[0] as Error).name, "TimeoutError");
 * ```
 */
export interface RequestOutcome {
  /** What reached the server's `handleDrop()` for this request, in order:
   * a reset, a timeout, a line over the limit... Empty when it ended
   * normally. */
  readonly drops: readonly unknown[];
}

/** What one request's hooks report. */
export class Tracker {
  readonly drops: unknown[] = [];
  readonly settled: PromiseWithResolvers<RequestOutcome> = Promise.withResolvers();
  #error: { value: unknown } | null = null;
  #ended = false;
  /** The server has taken the request (it reached `verifyRequest()`). */
  taken = false;
  /** `finishRequest()` is running: the handler has not returned yet. */
  handling = false;

  constructor() {
    // observed through `done` or dispose, never an unhandled rejection
    this.settled.promise.catch(() => {});
  }

  fail(error: unknown): void {
    this.#error ??= { value: error };
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#error !== null) this.settled.reject(this.#error.value);
    else this.settled.resolve({ drops: this.drops });
  }

  abort(error: unknown): void {
    this.fail(error);
    this.end();
  }
}

/** A server the kit drives: its network, the requests it tracks, and the
 * queue of `handleRequest()` calls (one at a time, as the serve loop). */
export class Harness {
  readonly requests = new Map<unknown, Tracker>();
  /** Datagram requests by their sender's address, until `verifyRequest()`
   * meets them. */
  readonly senders = new Map<string, Tracker>();
  readonly network: MemoryNetwork;
  #queue: Promise<void>;

  constructor(readonly server: AnyServer, readonly own: boolean, network?: MemoryNetwork) {
    // a server bound in memory by its caller was activated by the caller
    const fresh = !isBoundInMemory(server);
    this.network = bindInMemory(server, network);
    const activated = fresh ? server.serverActivate() : undefined;
    this.#queue = activated instanceof Promise ? activated : Promise.resolve();
    this.#observe();
  }

  /** Has the server take the next request, unless its serve loop does. */
  schedule(tracker: Tracker): void {
    if (this.server.serving) return;
    const next = this.#queue.then(() => this.server.handleRequest());
    next.catch((error) => tracker.abort(error));
    this.#queue = next.catch(() => {});
  }

  /** Wraps the hooks that report on a request, on this instance only: each
   * still runs the server's own, except that a server the kit made does not
   * print errors, which the run reports instead. */
  #observe(): void {
    const server = this.server;
    const { handleError, handleDrop, closeRequest, verifyRequest, finishRequest } = server;
    const requests = this.requests;
    const own = this.own;
    server.handleError = function (request: unknown, address: unknown, error: unknown) {
      const tracker = requests.get(request);
      tracker?.fail(error);
      if (tracker !== undefined && own) return;
      return handleError.call(this, request, address, error);
    };
    server.handleDrop = function (request: unknown, address: unknown, error: unknown) {
      requests.get(request)?.drops.push(error);
      return handleDrop.call(this, request, address, error);
    };
    server.finishRequest = function (request: unknown, address: unknown) {
      const tracker = requests.get(request);
      if (tracker === undefined) return finishRequest.call(this, request, address);
      tracker.handling = true;
      let finished: unknown;
      try {
        finished = finishRequest.call(this, request, address);
      } catch (error) {
        tracker.handling = false;
        throw error;
      }
      if (finished instanceof Promise) return finished.finally(() => tracker.handling = false);
      tracker.handling = false;
      return finished as Promise<void>;
    };
    server.closeRequest = function (request: unknown) {
      const tracker = requests.get(request);
      const end = () => {
        // closed under a running handler (serverClose()'s deadline): the
        // request ends when the handler has, with the closeRequest() that
        // follows it
        if (tracker === undefined || tracker.handling) return;
        requests.delete(request);
        tracker.end();
      };
      let closed: unknown;
      try {
        closed = closeRequest.call(this, request);
      } catch (error) {
        end();
        throw error;
      }
      if (closed instanceof Promise) return closed.finally(end);
      end();
      return closed as void;
    };
    // verifyRequest() is the first hook a request taken by the server meets,
    // and is looked up per request even by a serve loop already running
    const senders = server instanceof DatagramServer ? this.senders : null;
    server.verifyRequest = function (request: unknown, address: unknown) {
      if (senders !== null) {
        // a datagram request is a new array: find its run by the sender
        const key = formatAddress(address);
        const tracker = senders.get(key);
        if (tracker !== undefined) {
          senders.delete(key);
          requests.set(request, tracker);
        }
      }
      const tracker = requests.get(request);
      if (tracker !== undefined) tracker.taken = true;
      return verifyRequest.call(this, request, address);
    };
  }
}

const harnesses = new WeakMap<AnyServer, Harness>();

export function harness(server: AnyServer, own: boolean, network?: MemoryNetwork): Harness {
  let h = harnesses.get(server);
  if (h === undefined) {
    h = new Harness(server, own, network);
    harnesses.set(server, h);
  } else if (network !== undefined && network !== h.network) {
    throw new Error(
      `${server.constructor.name} already runs on another in-memory network: leave out "network", or pass the one it runs on`,
    );
  }
  return h;
}

export function closedServer(server: AnyServer): Deno.errors.BadResource {
  return new Deno.errors.BadResource(
    `Cannot run a request on a closed ${server.constructor.name}: create a new server for it`,
  );
}

export function checkHandler(
  Handler: unknown,
  server: AnyServer | undefined,
  datagram: boolean,
): void {
  const proto = (Handler as { prototype?: unknown } | null)?.prototype;
  const isDatagram = typeof Handler === "function" &&
    proto instanceof DatagramRequestHandler;
  if (isDatagram && !datagram) {
    throw new TypeError(
      `${
        (Handler as { name: string }).name
      } is a DatagramRequestHandler: run it with runDatagramHandler()`,
    );
  }
  if (server !== undefined && server.RequestHandlerClass !== Handler) {
    throw new TypeError(
      `The server runs ${server.RequestHandlerClass?.name}, not ${
        (Handler as { name?: string } | null)?.name ?? String(Handler)
      }: construct the server with the handler class under test`,
    );
  }
}
