/**
 * {@linkcode OpenRequests}: the requests a server has taken and not yet
 * closed, and what `maxConnections` and `serverClose()` do with them.
 *
 * @module
 */

import { callers } from "./_caller.ts";
import { holdOpen, stopWrites, untilBetweenReplies } from "./_conn_files.ts";
import { type Outcome, ServerCounters } from "./_counters.ts";
import { deadline } from "./_deadline.ts";
import type { RequestObserver } from "./_observer.ts";
import { kReleaseRequest, kRequests } from "./_symbols.ts";

/** Marks `request` over once its `closeRequest()` has `closed` it, for an override ported from
 * Python that did not call `super` (idempotent): the server's own step (`kReleaseRequest`), else
 * the open set's. */
export function markOver<R>(
  server: { readonly [kRequests]: OpenRequests<R>; [kReleaseRequest]?(request: R): void },
  request: R,
  closed?: unknown,
): void | Promise<void> {
  if (closed instanceof Promise) return closed.then(() => markOver(server, request));
  if (server[kReleaseRequest] !== undefined) server[kReleaseRequest](request);
  else server[kRequests].delete(request);
}

const TIMEOUT = Symbol("timeout");
const KEEP = Symbol("keep");
const expired = (): typeof TIMEOUT => TIMEOUT;
const ignore = () => {};

/** A step before `verifyRequest()` that may refuse a request or give it
 * another client address: the PROXY protocol's (`_proxy_admission.ts`). */
export interface Admission<R, A> {
  /** Whether it runs in the request's own task (`ThreadingMixIn`), the loop
   * taking the next request meanwhile. */
  readonly concurrent: boolean;
  /** The error to drop a request from `peer` with at once, or `null`. */
  refuse(peer: A): Error | null;
  /** Resolves to the client's address; rejects (a drop) to refuse it. */
  admit(request: R, peer: A): Promise<A>;
  /** The server closed, or replaced it: it lets go of its timer once the
   * requests it is admitting are done. */
  close(): void;
}

/** A drain by a `serverClose()` that handlers await: every request but theirs. */
interface Drainer<R> {
  exempt: ReadonlySet<R>;
  resolve: () => void;
}

/** What `OpenRequests.next()` needs of its server. */
interface Taker<R, A> {
  readonly maxConnections: number | null;
  getRequest(): [R, A] | Promise<[R, A]>;
}

/** The requests of one server: the one being taken, and those open. */
export class OpenRequests<R, A = unknown> {
  /** The request being taken; one that lost a race against a stop or a
   * timeout is kept for the next taker rather than accepted twice. */
  pending: Promise<[R, A]> | null = null;
  /** Set by `serverClose()`: a wait for a slot ends. */
  closed = false;
  /** A plain server's request in hand (see `inHand()`). */
  handling: Promise<void> | null = null;
  /** What `stats()` reads: requests are counted as they are taken and end. */
  readonly counters: ServerCounters = new ServerCounters();
  /** Told of every request's outcome and end, when one is attached. */
  observer: RequestObserver | null = null;
  /** What a request taken goes through before `verifyRequest()`, or `null`:
   * set by the server when its options change, read once per request. */
  admission: Admission<R, A> | null = null;
  /** The open requests, after `KEEP`: a set that empties shrinks its
   * table, and one request at a time would reallocate it per request. */
  #open = new Set<R | typeof KEEP>([KEEP]);
  /** The outcome of open requests refused, dropped or failed, counted as they end. */
  #outcomes = new Map<R, Outcome>();
  /** Settles when no request is left, for `drain()`. */
  #drained: PromiseWithResolvers<void> | null = null;
  #drainers = new Set<Drainer<R>>();
  /** Wakes whoever waits for a slot of `maxConnections`. */
  #slot: PromiseWithResolvers<void> | null = null;
  /** Descriptors that ended requests still hold: they count as open ones. */
  #held = 0;
  /** Requests closed at the close deadline: what their handlers throw is a drop. */
  #forced = new Set<R>();
  /** The lingering closes under way: a second `serverClose()` joins them. */
  #forcing = new Map<R, Promise<void>>();
  /** Requests in their lingering close: nothing else may close them. */
  #lingering = new Set<R>();
  /** Requests whose hooks await `serverClose()` (how many times): no drain waits for them, or two
   * handlers awaiting it would each wait for the other for ever. */
  #closers = new Map<R, number>();

  /** How many requests are open. */
  get size(): number {
    return this.#open.size - 1;
  }

  /** Whether `request` is open. */
  has(request: R): boolean {
    return this.#open.has(request);
  }

  /** Records a request taken. */
  add(request: R): void {
    this.#open.add(request);
    this.counters.accepted++;
  }

  /** Records how an open request turned out, if nothing did before (it is
   * counted so when it ends), and tells the observer. */
  settle(request: R, outcome: Outcome, error?: unknown): void {
    if (!this.#open.has(request) || this.#outcomes.has(request)) return;
    this.#outcomes.set(request, outcome);
    this.observer?.reported(request, outcome, error);
  }

  /** Settles once a plain server's request in hand ends, which `shutdown()` does not wait for and
   * the next taker does, as Python's loop ends after it; `null` with none, or if it is the caller. */
  inHand(): Promise<void> | null {
    if (this.handling === null || callers(this).size > 0) return null;
    return this.handling.then(ignore, ignore);
  }

  /** Forgets a request that was closed, counting its outcome, waking the
   * drains and a slot waiter. */
  delete(request: R): void {
    if (!this.#open.delete(request)) return;
    const outcome = this.#outcomes.size === 0 ? "completed" : this.#takeOutcome(request);
    if (outcome === "completed") this.counters.completed++;
    else this.counters.ended(outcome);
    this.observer?.ended(request, outcome);
    if (this.#open.size === 1 && this.#drained !== null) {
      this.#drained.resolve();
      this.#drained = null; // a later drain waits for the requests open then
    }
    if (this.#drainers.size > 0) this.#wakeDrainers();
    this.freeSlot();
  }

  #takeOutcome(request: R): Outcome {
    const outcome = this.#outcomes.get(request);
    if (outcome === undefined) return "completed";
    this.#outcomes.delete(request);
    return outcome;
  }

  /** The request being taken, from `server.getRequest()` once fewer than
   * `maxConnections` requests (and held descriptors) are open. */
  next(server: Taker<R, A>): Promise<[R, A]> {
    let pending = this.pending;
    if (pending === null) {
      try {
        const got = this.#full(server.maxConnections)
          ? this.#getRequestWhenFree(server)
          : server.getRequest();
        pending = got instanceof Promise ? got : Promise.resolve(got);
      } catch (error) {
        pending = Promise.reject(error);
      }
      this.pending = pending;
    }
    return pending;
  }

  #full(limit: number | null): boolean {
    return limit !== null && this.#open.size - 1 + this.#held >= limit;
  }

  async #getRequestWhenFree(server: Taker<R, A>): Promise<[R, A]> {
    for (;;) {
      if (this.closed) {
        throw new Deno.errors.BadResource(
          `Cannot call getRequest() on a closed server: create a new ${server.constructor.name}`,
        );
      }
      if (!this.#full(server.maxConnections)) return await server.getRequest();
      await (this.#slot ??= Promise.withResolvers<void>()).promise;
    }
  }

  /** Wakes the wait for a slot: a request ended, the limit or the server changed. */
  freeSlot(): void {
    const slot = this.#slot;
    if (slot !== null) {
      this.#slot = null;
      slot.resolve();
    }
  }

  /** Counts a descriptor an ended request still holds (Deno has yet to
   * cancel an operation on it) against the limit until `released` settles. */
  hold(released: Promise<unknown>): void {
    this.#held++;
    const done = () => {
      this.#held--;
      this.freeSlot();
    };
    released.then(done, done);
  }

  /** Whether `serverClose()` lingers on `request`. */
  lingering(request: R): boolean {
    return this.#lingering.size > 0 && this.#lingering.has(request);
  }

  /** Whether `serverClose()` closed `request` at its deadline. */
  forced(request: R): boolean {
    return this.#forced.size > 0 && this.#forced.has(request);
  }

  /** Waits for every open request but those in `exempt`, at most `graceMs`; then gives each one
   * left a lingering close (see `linger()`), which `close` ends. */
  async drain(
    graceMs: number,
    lingerMs: number,
    exempt: ReadonlySet<R>,
    close: (request: R) => Promise<void>,
  ): Promise<void> {
    if (this.#open.size === 1) return;
    let done: Promise<void>;
    let drainer: Drainer<R> | null = null;
    if (exempt.size === 0) {
      done = (this.#drained ??= Promise.withResolvers<void>()).promise;
    } else {
      const { promise, resolve } = Promise.withResolvers<void>();
      drainer = { exempt, resolve };
      for (const request of exempt) {
        this.#closers.set(request, (this.#closers.get(request) ?? 0) + 1);
      }
      this.#drainers.add(drainer);
      this.#wakeDrainers();
      done = promise;
    }
    try {
      if (graceMs === 0 || await deadline(done, graceMs, expired) === TIMEOUT) {
        const left = [...this.#open].filter((request): request is R =>
          request !== KEEP && !exempt.has(request as R)
        );
        await Promise.all(left.map((request) => this.#forceClose(request, lingerMs, close)));
      }
    } finally {
      // #drained stays until no request is left: a drain joining this one
      // (a second serverClose(), the connection a pending accept took) waits on it
      if (drainer !== null) {
        this.#drainers.delete(drainer);
        for (const request of exempt) {
          const count = this.#closers.get(request)! - 1;
          if (count === 0) this.#closers.delete(request);
          else this.#closers.set(request, count);
        }
      }
    }
  }

  #wakeDrainers(): void {
    for (const drainer of this.#drainers) {
      let done = true;
      for (const request of this.#open) {
        if (
          request !== KEEP && !drainer.exempt.has(request as R) && !this.#closers.has(request as R)
        ) {
          done = false;
          break;
        }
      }
      if (done) drainer.resolve();
    }
  }

  /** Lingers on a request, then closes it: once, even when `serverClose()`
   * is called again meanwhile. */
  #forceClose(request: R, lingerMs: number, close: (request: R) => Promise<void>): Promise<void> {
    let forcing = this.#forcing.get(request);
    if (forcing === undefined) {
      forcing = this.#lingerThenClose(request, lingerMs, close);
      this.#forcing.set(request, forcing);
    }
    return forcing;
  }

  async #lingerThenClose(
    request: R,
    lingerMs: number,
    close: (request: R) => Promise<void>,
  ): Promise<void> {
    this.#forced.add(request);
    this.settle(request, "closed");
    // Until the linger ends the connection is ours: the handler returning, or
    // failing on its next write, must not close it under the lingering read,
    // which would reset it and destroy replies the client has yet to read
    this.#lingering.add(request);
    let pending: { read: Promise<void> } | null = null;
    const closed = Promise.withResolvers<void>();
    try {
      if (lingerMs > 0) {
        // The handler answers the requests it has read, and is closed before
        // it reads another: in the middle of a reply, the connection would
        // lose a request its client sent
        endReads(request, closed.promise);
        holdOpen(request as object); // a write timing out meanwhile must not reset it
        // the reply gets half of lingerMs, the lingering close the rest: the
        // whole close stays within graceMs + lingerMs
        const until = performance.now() + lingerMs;
        await untilBetweenReplies(request as object, lingerMs / 2);
        pending = await linger(request, Math.max(0, until - performance.now()));
      }
    } finally {
      this.#lingering.delete(request);
    }
    await close(request);
    closed.resolve();
    this.delete(request);
    this.#forcing.delete(request);
    // closing cancels the lingering read; let it settle (bounded, should an
    // override of closeRequest() not close the connection)
    if (pending !== null) await deadline(pending.read, 100, expired);
  }
}

/** The connection's own `read()`, past the own properties that
 * `endReads()` (or a PROXY header's replay) put on it. */
function connRead(conn: Partial<Deno.Conn>): Deno.Conn["read"] | undefined {
  return Object.getPrototypeOf(conn)?.read ?? conn.read;
}

/** From now on, a read of a stream connection not yet started waits until
 * `closed` settles, then fails as a read of a closed connection does: its
 * handler answers the requests it has read (an EOF would hand it a request
 * cut short as if whole), then waits, which `untilBetweenReplies()` sees. */
function endReads(request: unknown, closed: Promise<void>): void {
  const conn = request as Partial<Deno.Conn> | null;
  if (typeof conn?.closeWrite !== "function" || typeof conn.read !== "function") return;
  const read = connRead(conn)!;
  Object.defineProperty(conn, "read", {
    value: (p: Uint8Array) => closed.then(() => read.call(conn, p)),
    configurable: true,
    writable: true,
  });
}

/** A lingering close's first half: shuts a stream's write side (all written goes out, then EOF),
 * then discards input until the peer closes or `ms` pass. Resolves to the read still pending,
 * boxed, which closing the connection cancels. */
async function linger(request: unknown, ms: number): Promise<{ read: Promise<void> } | null> {
  const conn = request as Partial<Deno.Conn> | null;
  if (typeof conn?.closeWrite !== "function" || typeof conn.read !== "function") return null;
  const until = performance.now() + ms;
  const left = () => Math.max(0, until - performance.now());
  const buffer = new Uint8Array(4096);
  try {
    // The write in flight ends first and later ones are refused: shutting the
    // stream between the parts of one write would deliver half a reply
    const writes = stopWrites(
      conn,
      new Deno.errors.BrokenPipe(
        "Cannot write: serverClose() ended this connection at the end of its grace period",
      ),
    );
    if (writes !== null && await deadline(writes, ms, expired) === TIMEOUT) return null;
    // closeWrite() waits for the handshake of a TLS connection that has none yet
    const closing = conn.closeWrite();
    closing.catch(ignore);
    if (await deadline(closing, left(), expired) === TIMEOUT) return null;
    const readInput = connRead(conn)!;
    for (;;) {
      const read = readInput.call(conn, buffer);
      const n = await deadline(read, left(), expired);
      if (n === TIMEOUT) return { read: read.then(ignore, ignore) };
      if (n === null) return null;
    }
  } catch {
    return null; // reset, or closed already
  }
}
