/**
 * {@linkcode RequestLoop}: the engine under `BaseServer`'s methods — the
 * serve loop, `handleRequest()`, the stop and the close — which calls the
 * server's hooks in Python's order. One per server.
 *
 * @module
 */

import { AcceptBackoff } from "./_accept_backoff.ts";
import { callers, type Flow, framed } from "./_caller.ts";
import { checkDuration, checkSignal } from "./_checks.ts";
import { childStats, dropReason } from "./_counters.ts";
import { deadline } from "./_deadline.ts";
import { type FlowServer, FULL, FusedFlow } from "./_fused_flow.ts";
import { errorText } from "./_format.ts";
import { GuardedRunner } from "./_guarded.ts";
import { observerFor } from "./_observer.ts";
import { type Admission, OpenRequests } from "./_open_requests.ts";
import { kBlockOnClose, kCloseDeferred, kCloseSocket } from "./_symbols.ts";
import { Turns } from "./_turns.ts";
import { isRoutineDrop, NotBoundError } from "./errors.ts";
import type { ServerStats } from "./server_stats.ts";

/** What the loop calls on its server: `BaseServer`'s hooks and attributes. */
export interface Hooks<R, A> extends FlowServer<R, A> {
  readonly serverAddress: unknown;
  readonly timeout: number | null;
  readonly maxConnections: number | null;
  getRequest(): [R, A] | Promise<[R, A]>;
  verifyRequest(request: R, clientAddress: A): boolean | Promise<boolean>;
  processRequest(request: R, clientAddress: A): unknown;
  finishRequest(request: R, clientAddress: A): unknown;
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
  readonly [kCloseDeferred]?: boolean;
}

/** What `serverClose()` is given. */
export interface CloseOptions {
  graceMs?: number;
  lingerMs?: number;
}

/** One run of `serveForever()`. */
interface Run {
  /** Until `shutdown()` or `serverClose()` ends it. */
  live: boolean;
  /** Waiting for a request: when `serviceActions()` runs on its own. */
  idle: boolean;
  /** Settles when it ends: what `serveForever()` returns. */
  ended: PromiseWithResolvers<void>;
  /** Resolves once `serveForever()` has returned: what `shutdown()` awaits. */
  returned: PromiseWithResolvers<void>;
  stopTicking: () => void;
}

const TIMEOUT = Symbol("timeout");
const expired = (): typeof TIMEOUT => TIMEOUT;
const ignore = () => {};

/** The request loop of one server, and its state. */
export class RequestLoop<R, A> implements Flow<R, A> {
  /** The requests taken, open, and closing. */
  readonly requests: OpenRequests<R, A> = new OpenRequests<R, A>();
  serving = false;
  /** Set by `shutdown()`; kept when not serving, as Python keeps its flag. */
  #shutdownRequested = false;
  #server: Hooks<R, A>;
  #turns = new Turns();
  #backoff = new AcceptBackoff();
  #actions: GuardedRunner;
  /** Runs each request whose hooks are the library's own from `verifyRequest()` on. */
  readonly flow: FusedFlow<R, A>;
  /** The run of `serveForever()` under way. */
  #run: Run | null = null;
  /** Requests already reported to `handleDrop()`. */
  #dropped = new WeakSet<object>();
  /** Settles once the socket `serverClose()` closed is let go of: to whether
   * the accept pending then took a connection (served like the others). */
  #socketClosed: Promise<boolean> | null = null;
  #signal: AbortSignal | undefined;
  #defaultProcess: unknown;
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
   * @param defaultProcess `BaseServer`'s own `processRequest()`, which the loop inlines.
   */
  constructor(server: Hooks<R, A>, signal: AbortSignal | undefined, defaultProcess: unknown) {
    this.#server = server;
    this.#defaultProcess = defaultProcess;
    this.#actions = new GuardedRunner(() => server.serviceActions(), "serviceActions()");
    this.flow = new FusedFlow(server, this);
    checkSignal(signal);
    this.#signal = signal;
    this.requests.observer = observerFor(server, this.requests.counters);
    if (signal?.aborted) this.closed = true; // nothing bound, nothing to serve
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** `BaseServer.serveForever()`. */
  serveForever(pollInterval: number | null): Promise<void> {
    const before = this.#run;
    const serving = this.#serveForever(pollInterval);
    const run = this.#run;
    if (run !== null && run !== before) {
      // the first reaction to `serving`: shutdown() resumes after its caller's own
      const returned = () => {
        if (this.#returning === run.returned.promise) this.#returning = null;
        run.returned.resolve();
      };
      serving.then(returned, returned);
    }
    return serving;
  }

  async #serveForever(pollInterval: number | null): Promise<void> {
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
    const run: Run = {
      live: true,
      idle: false,
      ended: Promise.withResolvers(),
      returned: Promise.withResolvers(),
      stopTicking: ignore,
    };
    run.stopTicking = this.#actions.every(pollInterval, () => run.idle);
    this.#run = run;
    this.#serve(run).then(() => this.#end(run), (error) => this.#end(run, error));
    this.#returning = run.returned.promise;
    await run.ended.promise;
    // as in Python, serveForever() returns after the actions it ran, once shutdown() (which they
    // may await) has been let return
    const running = this.#actions.running;
    if (running !== null) await running;
  }
  #returning: Promise<void> | null = null; // the `returned` of the run still returning

  /** The loop of one run. A stop ends the run without waiting for the loop's awaits (no race per
   * wait, so nothing allocated for one): the loop wakes, sees the run over and leaves, and a
   * request it was taking stays pending for the next taker. */
  async #serve(run: Run): Promise<void> {
    const server = this.#server;
    const requests = this.requests;
    const actions = this.#actions;
    const before = this.requests.inHand(); // left by an earlier run: Python's loop ends after it
    if (before !== null && !await before.then(() => run.live)) return;
    while (run.live) {
      run.idle = true;
      let next: [R, A];
      try {
        next = await requests.next(server);
      } catch (error) {
        if (!run.live) return; // the next taker meets the failure
        requests.pending = null;
        if (error instanceof NotBoundError) throw error;
        await this.#backoff.failed(error, server);
        continue;
      } finally {
        run.idle = false;
      }
      // stopped meanwhile: the request stays pending for the next taker, or serverClose() serves it
      if (!run.live) return;
      this.#backoff.reset();
      // Python's loop never runs a request and serviceActions() at once
      if (actions.running !== null) {
        // kept as the one being taken: a stop leaves it to the next taker, a close to serverClose()
        requests.pending = Promise.resolve(next);
        await actions.running;
        if (!run.live) return;
      }
      requests.pending = null;
      // A ThreadingMixIn server's request returns at once: no turn of the event loop
      const handled = this.#dispatch(next[0], next[1]);
      if (handled !== undefined) {
        requests.handling = handled;
        await handled; // the flow never rejects
        if (requests.handling === handled) requests.handling = null;
      }
      if (!run.live) return;
      // the actions may await shutdown(), which ends the run without waiting for them
      const ran = actions.run();
      if (ran !== undefined) await ran;
    }
  }

  /** Ends `run`: `serveForever()` returns (or throws `error`). */
  #end(run: Run, error?: unknown): void {
    if (!run.live) return;
    run.live = false;
    run.stopTicking();
    this.serving = this.#shutdownRequested = false;
    this.#run = null;
    if (error === undefined) run.ended.resolve();
    else run.ended.reject(error);
  }

  /** `BaseServer.shutdown()`. */
  shutdown(): Promise<void> {
    // from serviceActions(), which serveForever() waits for: at once, else a deadlock
    const fromActions = this.#actions.calling();
    const run = this.#run;
    if (run === null) {
      // a run still returning is the one this stops; else kept for the next, as in Python
      if (this.#returning !== null) return fromActions ? Promise.resolve() : this.#returning;
      this.#shutdownRequested = true;
      return Promise.resolve();
    }
    this.#backoff.wake();
    this.#end(run);
    // once serveForever() has returned, as Python's
    return fromActions ? Promise.resolve() : run.returned.promise;
  }

  /** `BaseServer.handleRequest()`. */
  async handleRequest(): Promise<void> {
    const server = this.#server;
    if (this.closed) throw closedError(server, "handleRequest()");
    checkNotServing(this);
    const timeout = server.timeout;
    checkDuration("timeout", timeout, true);
    const until = timeout === null ? Infinity : performance.now() + timeout; // from the call
    const before = this.requests.inHand(); // left by serveForever(): it ends first, as in Python
    if (before !== null && !await before.then(() => !this.closed && checkNotServing(this))) return;
    const turn = this.#turns.take(until);
    let ourTurn = turn === true;
    let next: [R, A] | typeof TIMEOUT = TIMEOUT;
    try {
      if (!ourTurn) ourTurn = await turn;
      if (ourTurn) {
        if (this.closed) return; // closed while it waited its turn: as serveForever() returns
        const taking = this.requests.next(server);
        // no clock read nor race without a timeout: this is the per-request path
        next = until === Infinity
          ? await taking
          : await deadline(taking, Math.max(0, until - performance.now()), expired);
        if (next !== TIMEOUT) this.requests.pending = null;
      }
    } catch (error) {
      this.requests.pending = null;
      if (this.closed) return;
      if (error instanceof NotBoundError) throw error;
      return await this.#backoff.failed(error, server);
    } finally {
      if (ourTurn) this.#turns.pass();
    }
    if (next === TIMEOUT) return void await server.handleTimeout();
    this.#backoff.reset();
    if (!this.closed) await this.#dispatch(next[0], next[1]); // else serverClose() serves it
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
      this.requests.admission?.close();
      if (this.#run !== null) this.#end(this.#run);
      this.#backoff.wake();
      this.requests.freeSlot();
      // A connection the pending accept took has left the kernel's queue, where no other
      // reusePort listener can take it over: serve it (docs/deployment.md)
      const pending = this.requests.pending;
      this.requests.pending = null;
      this.#socketClosed = pending?.then(([r, a]) => {
        void this.#dispatch(r, a);
        return true;
      }, () => false) ?? null;
    }
    const until = performance.now() + graceMs;
    const blocks = this.#server[kBlockOnClose]();
    const close = (request: R) => this.#closeQuietly(request);
    // started before any await: with no grace left the lingering closes own their connections
    // now, before a timer due meanwhile (a writeTimeout) can close one under them
    const draining = blocks ? this.requests.drain(graceMs, lingerMs, exempt, close) : null;
    // the first may be the signal's; the connection it took is one of those in flight,
    // waited for within what is left of the grace and closed at its end like the others. Not
    // awaited when the close does not block, nor from a request's hooks when the socket's close
    // waits for that request: a datagram server's socket stays open until its last reply
    const accepting = this.#socketClosed !== null && !(exempt.size && this.#server[kCloseDeferred]);
    if (blocks && accepting && await this.#socketClosed) {
      const left = Math.max(0, until - performance.now());
      await this.requests.drain(left, lingerMs, exempt, close);
    }
    if (draining !== null) await draining;
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
    const drop = forced || isDrop(error);
    if (drop && request !== null && typeof request === "object") {
      if (this.#dropped.has(request)) return; // a reset fails the read and the writes alike
      this.#dropped.add(request);
    }
    this.requests.settle(request, drop ? forced ? "closed" : dropReason(error) : "error", error);
    try {
      if (drop) await this.#server.handleDrop(request, clientAddress, error);
      else await this.#server.handleError(request, clientAddress, error);
    } catch (secondary) {
      printHookFailure(drop ? "handleDrop()" : "handleError()", secondary, error);
    }
  }

  async #closeQuietly(request: R): Promise<void> {
    try {
      await this.#server.closeRequest(request);
    } catch {
      // already closed
    }
  }

  #dispatch(request: R, clientAddress: A): Promise<void> | undefined {
    const admission = this.requests.admission;
    return admission === null
      ? this.#handle(request, clientAddress)
      : this.#admit(request, clientAddress, admission);
  }

  /** `#handle()` after the admission, under the request's frame too: an
   * untrusted peer is dropped before any read; the header is read in the
   * request's own task when the server has one per request, else before the
   * next request is taken. */
  #admit(request: R, peer: A, admission: Admission<R, A>): Promise<void> | undefined {
    this.requests.add(request);
    const flow = this.#admitting ??= this.#admitFlow();
    const observer = this.requests.observer;
    const admitting = observer === null
      ? framed(flow, request, peer)
      : observer.request(request, peer, () => framed(flow, request, peer));
    return admission.concurrent ? undefined : admitting;
  }

  #admitting: Flow<R, A> | null = null;

  /** The admission's flow, made once: it reads the server's admission when it runs. */
  #admitFlow(): Flow<R, A> {
    return {
      run: (request, peer) => {
        const admission = this.requests.admission!;
        const refused = admission.refuse(peer);
        if (refused !== null) throw refused;
        return this.#admitted(request, peer, admission);
      },
      failed: (request, peer, error) => this.failed(request, peer, error),
    };
  }

  async #admitted(request: R, peer: A, admission: Admission<R, A>): Promise<void> {
    const clientAddress = await admission.admit(request, peer);
    this.requests.observer?.admitted(request, clientAddress);
    const handled = framed(this, request, clientAddress);
    if (handled !== undefined) await handled;
  }

  /** Python's `_handle_request_noblock()` after `get_request()`, under the
   * request's frame (`_caller.ts`): nothing when every hook returned
   * synchronously (a ThreadingMixIn server's do). */
  #handle(request: R, clientAddress: A): Promise<void> | undefined {
    this.requests.add(request);
    const observer = this.requests.observer;
    if (observer === null) return this.#flow(request, clientAddress);
    return observer.request(request, clientAddress, () => this.#flow(request, clientAddress));
  }

  /** The fused flow when it serves the request's hooks, else the loop's own. */
  #flow(request: R, clientAddress: A): Promise<void> | undefined {
    const fused = this.flow.run(request, clientAddress);
    return fused !== FULL ? fused : framed(this, request, clientAddress);
  }

  /** Set by `run()` for `framed()`: the promise it returned is `finishRequest()`'s, and
   * `shutdownRequest()` comes after it, as the default `processRequest()` does. */
  shutdownAfter = false;

  /** The request's flow, for `framed()`: verify, then process or shut down. */
  run(request: R, clientAddress: A): Promise<void> | undefined {
    const server = this.#server;
    const verified = server.verifyRequest(request, clientAddress);
    if (verified instanceof Promise) return this.#handleVerified(request, clientAddress, verified);
    if (verified && server.processRequest === this.#defaultProcess) {
      // the default processRequest(), without its async call: the frame shuts the request down
      const finished = server.finishRequest(request, clientAddress);
      if (finished instanceof Promise) {
        this.shutdownAfter = true;
        return finished;
      }
      const shut = server.shutdownRequest(request);
      return shut instanceof Promise ? shut as Promise<void> : undefined;
    }
    if (!verified) this.requests.settle(request, "refused");
    const done = verified
      ? server.processRequest(request, clientAddress)
      : server.shutdownRequest(request);
    return done instanceof Promise ? done : undefined;
  }

  /** `shutdownRequest()`, for `framed()` (see `shutdownAfter`). */
  shutdownRequest(request: R): unknown {
    return this.#server.shutdownRequest(request);
  }

  async #handleVerified(request: R, clientAddress: A, verified: Promise<boolean>): Promise<void> {
    if (await verified) {
      await this.#server.processRequest(request, clientAddress);
      return;
    }
    this.requests.settle(request, "refused");
    await this.#server.shutdownRequest(request);
  }

  /** An error on the way, for `framed()`: `handleError()` (or
   * `handleDrop()`), then `shutdownRequest()`. */
  async failed(request: R, clientAddress: A, error: unknown): Promise<void> {
    await this.report(request, clientAddress, error);
    try {
      await this.#server.shutdownRequest(request);
    } catch {
      this.requests.delete(request);
    }
  }
}

/** `isRoutineDrop()`, false when `instanceof` throws (a revoked Proxy thrown): `handleError()`'s. */
function isDrop(error: unknown): boolean {
  try {
    return isRoutineDrop(error);
  } catch {
    return false;
  }
}

/** Prints what a `handleDrop()` or `handleError()` threw, even values that cannot be inspected. */
function printHookFailure(hook: string, secondary: unknown, error: unknown): void {
  try {
    console.error(`${hook} threw:`, secondary, "while handling:", error);
  } catch {
    console.error(`${hook} threw:`, errorText(secondary), "while handling:", errorText(error));
  }
}

/** Throws unless `loop` is not serving: `handleRequest()` during `serveForever()`. */
function checkNotServing(loop: { serving: boolean }): true {
  if (!loop.serving) return true;
  throw new Error(
    "handleRequest() cannot run while serveForever() is serving: call shutdown() first, or serve with one of the two only",
  );
}

function closedError(server: object, what: string): Deno.errors.BadResource {
  return new Deno.errors.BadResource(
    `Cannot call ${what} on a closed server: create a new ${server.constructor.name}`,
  );
}
