/**
 * {@linkcode OpenRequests}: the requests a server has taken and not yet
 * closed, and what `maxConnections` and `serverClose()` do with them.
 *
 * @module
 */

import { stopWrites } from "./_conn_files.ts";
import { deadline } from "./_deadline.ts";

const TIMEOUT = Symbol("timeout");
const KEEP = Symbol("keep");
const expired = (): typeof TIMEOUT => TIMEOUT;
const ignore = () => {};

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
  /** The open requests, after `KEEP`: a set that empties shrinks its
   * table, and one request at a time would reallocate it per request. */
  #open = new Set<R | typeof KEEP>([KEEP]);
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
  }

  /** Forgets a request that was closed, waking the drains and a slot waiter. */
  delete(request: R): void {
    if (!this.#open.delete(request)) return;
    if (this.#open.size === 1) this.#drained?.resolve();
    if (this.#drainers.size > 0) this.#wakeDrainers();
    this.freeSlot();
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

  /**
   * Waits for every open request but those in `exempt`, at most `graceMs`;
   * then gives each one left a lingering close (see `linger()`), which
   * `close` ends.
   */
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
      if (drainer === null) this.#drained = null;
      else this.#drainers.delete(drainer);
    }
  }

  #wakeDrainers(): void {
    for (const drainer of this.#drainers) {
      let done = true;
      for (const request of this.#open) {
        if (request !== KEEP && !drainer.exempt.has(request as R)) {
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
    // Until the linger ends the connection is ours: the handler returning, or
    // failing on its next write, must not close it under the lingering read,
    // which would reset it and destroy replies the client has yet to read
    this.#lingering.add(request);
    let pending: { read: Promise<void> } | null = null;
    try {
      if (lingerMs > 0) pending = await linger(request, lingerMs);
    } finally {
      this.#lingering.delete(request);
    }
    await close(request);
    this.delete(request);
    this.#forcing.delete(request);
    // closing cancels the lingering read; let it settle (bounded, should an
    // override of closeRequest() not close the connection)
    if (pending !== null) await deadline(pending.read, 100, expired);
  }
}

/**
 * A lingering close's first half: shuts the write side of a stream
 * connection (everything written goes out, then EOF), then reads and
 * discards until the peer closes or `ms` pass. Resolves to the read still
 * pending, boxed, which closing the connection cancels. Not a connection:
 * nothing to do.
 */
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
    for (;;) {
      const read = conn.read(buffer);
      const n = await deadline(read, left(), expired);
      if (n === TIMEOUT) return { read: read.then(ignore, ignore) };
      if (n === null) return null;
    }
  } catch {
    return null; // reset, or closed already
  }
}
