/**
 * {@linkcode RequestLoop}: the engine under `BaseServer`'s methods — the
 * serve loop, `handleRequest()`, the stop and the close — which calls the
 * server's hooks in Python's order. One per server.
 *
 * @module
 */

import { AcceptBackoff } from "./_accept_backoff.ts";
import { callers } from "./_caller.ts";
import { checkDuration, checkSignal } from "./_checks.ts";
import { childStats, dropReason } from "./_counters.ts";
import { deadline } from "./_deadline.ts";
import { GuardedRunner } from "./_guarded.ts";
import { observerFor } from "./_observer.ts";
import { OpenRequests } from "./_open_requests.ts";
import { kBlockOnClose, kCloseSocket } from "./_symbols.ts";
import { Turns } from "./_turns.ts";
import { isRoutineDrop, NotBoundError } from "./errors.ts";
import type { ServerStats } from "./server_stats.ts";

/** What the loop calls on its server: `BaseServer`'s hooks and attributes. */
export interface Hooks<R, A> {
  readonly serverAddress: unknown;
  readonly timeout: number | null;
  readonly maxConnections: number | null;
  getRequest(): [R, A] | Promise<[R, A]>;
  verifyRequest(request: R, clientAddress: A): boolean | Promise<boolean>;
  processRequest(request: R, clientAddress: A): unknown;
  shutdownRequest(request: R): unknown;
  closeRequest(request: R): unknown;
  handleError(request: R, clientAddress: A, error: unknown): unknown;
  handleDrop(request: R, clientAddress: A, error: unknown): unknown;
  handleTimeout(): unknown;
  serviceActions(): unknown;
  shutdown(): Promise<void>;
  serverClose(): Promise<void>;
  [kCloseSocket](): void;
  [kBlockOnClose](): boolean;
}

/** What `serverClose()` is given. */
export interface CloseOptions {
  graceMs?: number;
  lingerMs?: number;
}

const STOP = Symbol("stop");
const TIMEOUT = Symbol("timeout");
const expired = (): typeof TIMEOUT => TIMEOUT;
const ignore = () => {};

/** The request loop of one server, and its state. */
export class RequestLoop<R, A> {
  /** The requests taken, open, and closing. */
  readonly requests: OpenRequests<R, A> = new OpenRequests<R, A>();
  serving = false;
  /** Set by `shutdown()`; kept when not serving, as Python keeps its flag. */
  #shutdownRequested = false;
  #idle = false;
  #server: Hooks<R, A>;
  #turns = new Turns();
  #backoff = new AcceptBackoff();
  #actions: GuardedRunner;
  /** Ends the wait `serveForever()` is in (see `#untilStop()`). */
  #stopWait: ((stop: typeof STOP) => void) | null = null;
  #stopped: PromiseWithResolvers<void> | null = null;
  /** Requests already reported to `handleDrop()`. */
  #dropped = new WeakSet<object>();
  /** Settles once the socket `serverClose()` closed is let go of. */
  #socketClosed: Promise<void> | null = null;
  #signal: AbortSignal | undefined;
  /** Stops and closes the server when its `signal` aborts, as `Deno.serve()`'s does. */
  #onAbort = (): void => {
    const server = this.#server;
    server.shutdown().catch((error) => console.error("shutdown() on abort threw:", error));
    server.serverClose().catch((error) => console.error("serverClose() on abort threw:", error));
  };

  /** Whether `serverClose()` was called (or the server's signal was aborted first). */
  get closed(): boolean {
    return this.requests.closed;
  }
  set closed(closed: boolean) {
    this.requests.closed = closed;
  }

  /**
   * @param server The server whose hooks the loop calls.
   * @param signal Its `signal` option: already aborted, the server is closed.
   */
  constructor(server: Hooks<R, A>, signal: AbortSignal | undefined) {
    this.#server = server;
    this.#actions = new GuardedRunner(() => server.serviceActions(), "serviceActions()");
    checkSignal(signal);
    this.#signal = signal;
    this.requests.observer = observerFor(server, this.requests.counters);
    if (signal?.aborted) this.closed = true; // nothing bound, nothing to serve
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** `BaseServer.serveForever()`. */
  async serveForever(pollInterval: number | null): Promise<void> {
    if (this.#signal?.aborted) return; // stopped by its signal, as Deno.serve()
    const server = this.#server;
    if (this.closed) throw closedError(server, "serveForever()");
    if (this.serving) {
      throw new Error("serveForever() is already running: call shutdown() before serving again");
    }
    if (this.#turns.busy) {
      throw new Error(
        "serveForever() cannot start while handleRequest() is waiting for a request: await it (or let its timeout run out) first",
      );
    }
    checkDuration("pollInterval", pollInterval, true);
    if (this.#shutdownRequested) return void (this.#shutdownRequested = false); // kept, used up
    this.serving = true;
    this.#stopped = Promise.withResolvers<void>();
    const requests = this.requests;
    const actions = this.#actions;
    const stopTicking = actions.every(pollInterval, () => this.#idle);
    try {
      while (!this.#shutdownRequested) {
        this.#idle = true;
        let next: [R, A] | typeof STOP;
        try {
          next = await this.#untilStop(requests.next(server));
        } catch (error) {
          requests.pending = null;
          if (this.closed) break;
          if (error instanceof NotBoundError) throw error;
          await this.#backoff.failed(error, server);
          continue;
        } finally {
          this.#idle = false;
        }
        if (next === STOP) break;
        requests.pending = null;
        this.#backoff.reset();
        if (this.closed) break; // serverClose() took it over and closes it
        // Python's loop never runs a request and serviceActions() at once
        if (actions.running !== null && await this.#untilStop(actions.running) === STOP) {
          if (this.closed) await this.#closeQuietly(next[0]);
          else requests.pending = Promise.resolve(next); // for the next taker
          break;
        }
        // A ThreadingMixIn server's request returns at once: no turn of the event loop
        const handled = this.#handle(next[0], next[1]);
        if (handled !== undefined && await this.#untilStop(handled) === STOP) break;
        const ran = actions.run();
        if (ran !== undefined) await ran;
      }
    } finally {
      stopTicking();
      this.serving = this.#shutdownRequested = false;
      this.#stopWait = null;
      this.#stopped.resolve();
    }
  }

  /** `BaseServer.shutdown()`. */
  async shutdown(): Promise<void> {
    this.#shutdownRequested = true;
    if (!this.serving) return;
    this.#stopWait?.(STOP);
    this.#backoff.wake();
    await this.#stopped?.promise;
  }

  /** `BaseServer.handleRequest()`. */
  async handleRequest(): Promise<void> {
    const server = this.#server;
    if (this.closed) throw closedError(server, "handleRequest()");
    if (this.serving) {
      throw new Error(
        "handleRequest() cannot run while serveForever() is serving: call shutdown() first, or serve with one of the two only",
      );
    }
    const timeout = server.timeout;
    checkDuration("timeout", timeout, true);
    const until = timeout === null ? Infinity : performance.now() + timeout; // from the call
    const turn = this.#turns.take(until);
    let ourTurn = turn === true;
    let next: [R, A] | typeof TIMEOUT = TIMEOUT;
    try {
      if (!ourTurn) ourTurn = await turn;
      if (ourTurn) {
        if (this.closed) throw closedError(server, "handleRequest()");
        const taking = this.requests.next(server);
        // no clock read nor race without a timeout: this is the per-request path
        next = until === Infinity
          ? await taking
          : await deadline(taking, Math.max(0, until - performance.now()), expired);
        if (next !== TIMEOUT) this.requests.pending = null;
      }
    } catch (error) {
      this.requests.pending = null;
      if (this.closed) throw closedError(server, "handleRequest()");
      if (error instanceof NotBoundError) throw error;
      return await this.#backoff.failed(error, server);
    } finally {
      if (ourTurn) this.#turns.pass();
    }
    if (next === TIMEOUT) return void await server.handleTimeout();
    this.#backoff.reset();
    if (!this.closed) await this.#handle(next[0], next[1]); // else serverClose() closes it
  }

  /** `BaseServer.serverClose()`. */
  async close(options: CloseOptions): Promise<void> {
    const exempt = callers(this.requests); // read while a handler calling is on the stack
    const { graceMs = Infinity, lingerMs = 1000 } = options;
    checkDuration("graceMs", graceMs, false);
    checkDuration("lingerMs", lingerMs, false);
    if (!this.closed) {
      this.closed = true;
      this.#signal?.removeEventListener("abort", this.#onAbort);
      this.#server[kCloseSocket]();
      this.#stopWait?.(STOP);
      this.#backoff.wake();
      this.requests.freeSlot();
      // A pending accept holds the socket until its cancellation lands, and a
      // connection it took just before the close was never handled: close it
      const pending = this.requests.pending;
      this.requests.pending = null;
      this.#socketClosed = pending?.then(([r]) => this.#closeQuietly(r), ignore) ?? null;
    }
    if (this.#socketClosed !== null) await this.#socketClosed; // the first may be the signal's
    if (!this.#server[kBlockOnClose]()) return;
    await this.requests.drain(graceMs, lingerMs, exempt, (r) => this.#closeQuietly(r));
  }

  /** `BaseServer.stats()`: the counters, and a forking parent's children's. */
  stats(): ServerStats {
    const own = this.requests.counters.snapshot(this.requests.size);
    return childStats.get(this.#server)?.(own) ?? own;
  }

  /** `handleDrop()` (once per request) for a routine drop or a request
   * closed at the close deadline, else `handleError()`; what the hook itself
   * throws is printed. */
  async report(request: R, clientAddress: A, error: unknown): Promise<void> {
    const forced = this.requests.forced(request);
    const drop = forced || isRoutineDrop(error);
    if (drop && request !== null && typeof request === "object") {
      if (this.#dropped.has(request)) return; // a reset fails the read and the writes alike
      this.#dropped.add(request);
    }
    this.requests.settle(request, drop ? forced ? "closed" : dropReason(error) : "error", error);
    try {
      if (drop) await this.#server.handleDrop(request, clientAddress, error);
      else await this.#server.handleError(request, clientAddress, error);
    } catch (secondary) {
      const hook = drop ? "handleDrop()" : "handleError()";
      console.error(`${hook} threw:`, secondary, "while handling:", error);
    }
  }

  async #closeQuietly(request: R): Promise<void> {
    try {
      await this.#server.closeRequest(request);
    } catch {
      // already closed
    }
  }

  /** `promise`, or STOP once `shutdown()` or `serverClose()` is called. A
   * resolver per wait, not a race against one stop promise, which would keep
   * a reaction per request until the loop stops. */
  #untilStop<T>(promise: Promise<T>): Promise<T | typeof STOP> {
    if (this.#shutdownRequested || this.closed) {
      promise.catch(ignore); // abandoned: it may reject unobserved
      return Promise.resolve(STOP);
    }
    const { promise: woken, resolve, reject } = Promise.withResolvers<T | typeof STOP>();
    this.#stopWait = resolve;
    promise.then(resolve, reject);
    return woken;
  }

  /** Python's `_handle_request_noblock()` after `get_request()`: nothing
   * when every hook returned synchronously (a ThreadingMixIn server's do). */
  #handle(request: R, clientAddress: A, observed = false): Promise<void> | undefined {
    const observer = this.requests.observer;
    if (observer !== null && !observed) {
      return observer.request(
        request,
        clientAddress,
        () => this.#handle(request, clientAddress, true),
      );
    }
    const server = this.#server;
    this.requests.add(request);
    try {
      const verified = server.verifyRequest(request, clientAddress);
      if (verified instanceof Promise) {
        return this.#handleVerified(request, clientAddress, verified);
      }
      if (!verified) this.requests.settle(request, "refused");
      const done = verified
        ? server.processRequest(request, clientAddress)
        : server.shutdownRequest(request);
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
      if (await verified) await this.#server.processRequest(request, clientAddress);
      else {
        this.requests.settle(request, "refused");
        await this.#server.shutdownRequest(request);
      }
    } catch (error) {
      await this.#handleFailed(request, clientAddress, error);
    }
  }

  /** An error on the way: `handleError()` (or `handleDrop()`), then `shutdownRequest()`. */
  async #handleFailed(request: R, clientAddress: A, error: unknown): Promise<void> {
    await this.report(request, clientAddress, error);
    try {
      await this.#server.shutdownRequest(request);
    } catch {
      this.requests.delete(request);
    }
  }
}

function closedError(server: object, what: string): Deno.errors.BadResource {
  return new Deno.errors.BadResource(
    `Cannot call ${what} on a closed server: create a new ${server.constructor.name}`,
  );
}
