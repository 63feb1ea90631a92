/**
 * A workaround for a Deno bug, to delete once it is fixed:
 * https://github.com/denoland/deno/issues/6290 — Deno 2.9 runs one operation
 * at a time on a `unixpacket` socket (a send while a receive is pending fails
 * with `Busy`) and cannot cancel a pending receive, so a threading
 * `UnixDatagramServer`, which always has a receive pending, could never
 * reply. It also bounds what clients that do not read their replies cost
 * (docs/datagrams.md, "Faults and floods").
 *
 * @module
 */

import { asDrop } from "./errors.ts";
import { MAX_TIMER_MS } from "./_deadline.ts";

/** How many sockets a Unix datagram server may hold for its replies (idle,
 * sending, or stuck on a client that does not read) beside its own. */
const MAX_REPLY_SOCKETS = 16;

/**
 * A `unixpacket` socket that never lets a receive and a send overlap: sends
 * queue up; a receive waits for the queued sends; a send made while a
 * receive is pending goes out through one of at most
 * {@linkcode MAX_REPLY_SOCKETS} unbound reply sockets, one send at a time
 * each. Every send has a deadline (`replyTimeout`): when it runs out the
 * reply is dropped (`TimedOut`), the socket it is stuck on is set aside (the
 * server's own is bound anew at its path), and replies to that client are
 * dropped at once until the stuck send ends.
 */
export class SerialUnixDatagramConn implements Deno.DatagramConn {
  #socket: Deno.DatagramConn;
  #rebind: () => Deno.DatagramConn;
  #replyTimeout: () => number | null;
  #sends: Promise<unknown> = Promise.resolve();
  #pendingSends = 0;
  #sent: PromiseWithResolvers<void> | null = null;
  #receiving = false;
  /** Unbound reply sockets with no send in flight. */
  #idle: Deno.DatagramConn[] = [];
  /** Reply sockets in existence (idle, sending or stuck), and server
   * sockets set aside while a send is stuck on them. */
  #replySockets = 0;
  /** Replies waiting for a reply socket, oldest first. */
  #waiters: Array<(socket: Deno.DatagramConn | null) => void> = [];
  /** Client paths with a send stuck past its deadline, and how many. */
  #stuck = new Map<string, number>();
  #watchdog = new Watchdog();
  #closed = false;

  /**
   * @param socket The bound socket.
   * @param rebind Binds a new socket at the same path, for when a send is
   *   stuck on the current one.
   * @param replyTimeout Reads the deadline of a send, in ms (`null`: none).
   */
  constructor(
    socket: Deno.DatagramConn,
    rebind: () => Deno.DatagramConn,
    replyTimeout: () => number | null,
  ) {
    this.#socket = socket;
    this.#rebind = rebind;
    this.#replyTimeout = replyTimeout;
  }

  get addr(): Deno.Addr {
    return this.#socket.addr;
  }

  async receive(p?: Uint8Array): Promise<[Uint8Array<ArrayBuffer>, Deno.Addr]> {
    while (this.#pendingSends > 0) {
      this.#sent ??= Promise.withResolvers<void>();
      await this.#sent.promise;
    }
    this.#receiving = true;
    try {
      return await this.#socket.receive(p);
    } finally {
      this.#receiving = false;
    }
  }

  send(p: Uint8Array, addr: Deno.Addr): Promise<number> {
    const path = (addr as Partial<Deno.UnixAddr>).path || null;
    if (path !== null && this.#stuck.has(path)) return Promise.reject(droppedAtOnce());
    // the server's own socket only when it is not receiving, and when a send
    // stuck on it could still be set aside
    if (this.#receiving || this.#replySockets >= MAX_REPLY_SOCKETS) {
      return this.#sendAside(p, addr, path);
    }
    const send = () => {
      // queued behind a send that got stuck: the budget may be spent now
      if (this.#replySockets >= MAX_REPLY_SOCKETS) return this.#sendAside(p, addr, path);
      const socket = this.#socket;
      return this.#deadline(
        path,
        () => socket.send(p, addr),
        (sending) => this.#retire(socket, sending),
      );
    };
    // nothing queued: send now rather than a turn later, behind a settled
    // promise
    const sent = this.#pendingSends === 0 ? send() : this.#sends.then(send, send);
    this.#pendingSends++;
    const done = () => {
      if (--this.#pendingSends === 0) {
        this.#sent?.resolve();
        this.#sent = null;
      }
    };
    this.#sends = sent.then(done, done);
    return sent;
  }

  /** Sends through a reply socket: an idle one, a new one while fewer than
   * {@linkcode MAX_REPLY_SOCKETS} exist, else the first one freed within the
   * deadline. */
  async #sendAside(p: Uint8Array, addr: Deno.Addr, path: string | null): Promise<number> {
    if (this.#closed) throw closedError();
    const ms = this.#replyTimeout();
    const began = performance.now();
    const socket = this.#idle.pop() ?? this.#newReplySocket() ?? await this.#waitForSocket(ms);
    const left = ms === null ? null : Math.max(1, ms - (performance.now() - began));
    let stuck = false;
    try {
      return await this.#deadline(path, () => socket.send(p, addr), (sending) => {
        stuck = true;
        this.#setAside(socket, sending);
      }, left);
    } catch (error) {
      if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
      throw new Deno.errors.PermissionDenied(
        `${error.message}: the client connect()ed its socket to the server's path, so it accepts datagrams from that path only, and this reply came from a second socket because the server was waiting for the next datagram (Deno runs one operation at a time on a unixpacket socket); use a client that does not connect(), or a UnixDatagramServer that handles one datagram at a time`,
        { cause: error },
      );
    } finally {
      if (!stuck) this.#recycle(socket);
    }
  }

  #newReplySocket(): Deno.DatagramConn | null {
    if (this.#replySockets >= MAX_REPLY_SOCKETS) return null;
    const socket = Deno.listenDatagram({ transport: "unixpacket" });
    this.#replySockets++;
    return socket;
  }

  /** The next reply socket freed, within `ms`; else the reply is dropped. */
  #waitForSocket(ms: number | null): Promise<Deno.DatagramConn> {
    return new Promise((resolve, reject) => {
      let watched: Watched | null = null;
      const waiter = (socket: Deno.DatagramConn | null) => {
        if (watched !== null) this.#watchdog.unwatch(watched);
        if (socket === null) reject(closedError());
        else resolve(socket);
      };
      this.#waiters.push(waiter);
      if (ms === null || ms === Infinity) return;
      watched = this.#watchdog.watch(ms, () => {
        const i = this.#waiters.indexOf(waiter);
        if (i !== -1) this.#waiters.splice(i, 1);
        reject(
          replyTimedOut(
            `The reply was dropped after ${ms} ms (replyTimeout): all ${MAX_REPLY_SOCKETS} reply sockets are held by replies to clients that do not read them, which Deno cannot cancel; they are freed as those clients read or close their sockets`,
          ),
        );
      });
    });
  }

  /** A reply socket whose send ended: to the next waiter, or idle. */
  #recycle(socket: Deno.DatagramConn): void {
    const waiter = this.#closed ? undefined : this.#waiters.shift();
    if (waiter !== undefined) return waiter(socket);
    if (!this.#closed) {
      this.#idle.push(socket);
      return;
    }
    this.#replySockets--;
    closeQuietly(socket);
  }

  /** Sets aside a socket whose send is stuck: closed now (which does not
   * end the send), counted until the send ends — its descriptor is held
   * until then — then its place goes to a waiting reply, if any. */
  #setAside(socket: Deno.DatagramConn, sending: Promise<unknown>): void {
    closeQuietly(socket);
    const freed = () => {
      this.#replySockets--;
      if (this.#closed || this.#waiters.length === 0) return;
      let fresh: Deno.DatagramConn | null;
      try {
        fresh = this.#newReplySocket();
      } catch {
        return; // out of descriptors: the waiters' deadlines deal with it
      }
      if (fresh !== null) this.#waiters.shift()!(fresh);
    };
    sending.then(freed, freed);
  }

  /**
   * Runs `send` to `path` with the deadline (`ms`, by default
   * `replyTimeout`). When it runs out, `setAside()` gets the send, which is
   * left to end whenever the client reads or goes, and replies to `path`
   * are refused until then.
   */
  #deadline(
    path: string | null,
    send: () => Promise<number>,
    setAside: (sending: Promise<number>) => void,
    ms: number | null = this.#replyTimeout(),
  ): Promise<number> {
    if (path !== null && this.#stuck.has(path)) return Promise.reject(droppedAtOnce());
    const sending = send();
    if (ms === null || ms === Infinity) return sending;
    const limit = this.#replyTimeout() ?? ms;
    return new Promise((resolve, reject) => {
      const expire = () => {
        if (path !== null) this.#stuck.set(path, (this.#stuck.get(path) ?? 0) + 1);
        const unstuck = () => {
          if (path === null) return;
          const n = this.#stuck.get(path)! - 1;
          if (n === 0) this.#stuck.delete(path);
          else this.#stuck.set(path, n);
        };
        sending.then(unstuck, unstuck);
        try {
          setAside(sending);
        } finally {
          reject(
            replyTimedOut(
              `The reply timed out after ${limit} ms (replyTimeout): the client's receive queue is full because it does not read its replies, and its replies are dropped until it reads or closes its socket: make the client read them, or raise "replyTimeout"`,
            ),
          );
        }
      };
      const watched = this.#watchdog.watch(ms, expire);
      sending.then((n) => {
        this.#watchdog.unwatch(watched);
        resolve(n);
      }, (error) => {
        this.#watchdog.unwatch(watched);
        reject(error);
      });
    });
  }

  /** Replaces the server's socket, on which a send is stuck, by a new one
   * bound at the same path, and sets the old one aside (see `setAside()`);
   * if that fails the stuck socket is kept (and is `Busy` until the send
   * ends). */
  #retire(socket: Deno.DatagramConn, sending: Promise<unknown>): void {
    if (this.#socket !== socket || this.#closed) return;
    try {
      this.#socket = this.#rebind();
    } catch (error) {
      console.error(
        `Could not bind "${
          (socket.addr as Deno.UnixAddr).path
        }" anew after a reply got stuck on the server's socket (${
          error instanceof Error ? error.message : String(error)
        }); the socket is unusable until the client that does not read its replies reads or closes its socket`,
      );
      return;
    }
    this.#replySockets++;
    this.#setAside(socket, sending);
  }

  close(): void {
    this.#closed = true;
    this.#watchdog.close();
    for (const waiter of this.#waiters.splice(0)) waiter(null);
    for (const socket of this.#idle.splice(0)) {
      this.#replySockets--;
      closeQuietly(socket);
    }
    this.#socket.close();
  }

  joinMulticastV4(address: string, networkInterface: string): Promise<Deno.MulticastV4Membership> {
    return this.#socket.joinMulticastV4(address, networkInterface);
  }

  joinMulticastV6(address: string, networkInterface: number): Promise<Deno.MulticastV6Membership> {
    return this.#socket.joinMulticastV6(address, networkInterface);
  }

  async *[Symbol.asyncIterator](): AsyncIterableIterator<[Uint8Array<ArrayBuffer>, Deno.Addr]> {
    for (;;) yield await this.receive();
  }
}

/** One watched send: when it must have ended, and what to do if not. */
interface Watched {
  at: number;
  expire: () => void;
}

/**
 * Deadlines for sends on one timer, set for the earliest: a timer per reply
 * was most of what a Unix datagram reply cost over a raw loop
 * (bench/README.md). A few dozen are watched at most, so a list is enough.
 */
class Watchdog {
  #watched: Watched[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** When the timer fires (performance.now()), if set. */
  #due = Infinity;

  /** Calls `expire` in `ms` unless {@linkcode unwatch} is called first. */
  watch(ms: number, expire: () => void): Watched {
    const watched = { at: performance.now() + ms, expire };
    this.#watched.push(watched);
    if (watched.at < this.#due) this.#arm(watched.at);
    return watched;
  }

  unwatch(watched: Watched): void {
    const i = this.#watched.indexOf(watched);
    if (i !== -1) this.#watched.splice(i, 1);
    // the timer stays set, finding nothing due when it fires (cheaper than
    // clearing and setting it per send), unless the socket is closed
    if (this.#closed && this.#watched.length === 0) this.#disarm();
  }

  /** Sends watched still expire when due (their sockets are retired); the
   * timer goes once nothing is watched. */
  close(): void {
    this.#closed = true;
    if (this.#watched.length === 0) this.#disarm();
  }

  #closed = false;

  #disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#due = Infinity;
  }

  #arm(at: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#due = at;
    // past MAX_TIMER_MS a timer fires at once: fire early, find nothing due, re-arm
    const timer = setTimeout(
      this.#fire,
      Math.min(MAX_TIMER_MS, Math.max(0, at - performance.now())),
    );
    // a send still in flight keeps the process alive; its deadline need not
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #fire = (): void => {
    this.#timer = null;
    this.#due = Infinity;
    const now = performance.now();
    const due = this.#watched.filter((w) => w.at <= now + 0.5);
    this.#watched = this.#watched.filter((w) => w.at > now + 0.5);
    let next = Infinity;
    for (const w of this.#watched) next = Math.min(next, w.at);
    if (next !== Infinity) this.#arm(next);
    for (const w of due) w.expire();
  };
}

function closeQuietly(socket: { close(): void }): void {
  try {
    socket.close();
  } catch {
    // already closed
  }
}

/** A reply the client does not take: a drop that `stats()` counts as a write timeout. */
function replyTimedOut(message: string): Deno.errors.TimedOut {
  return asDrop(new Deno.errors.TimedOut(message), "writeTimeout");
}

function droppedAtOnce(): Deno.errors.TimedOut {
  return replyTimedOut(
    `The reply was dropped at once: an earlier reply to this client is still waiting for room in its receive queue, so it does not read its replies; make the client read them`,
  );
}

function closedError(): Deno.errors.BadResource {
  return new Deno.errors.BadResource("Cannot send on a closed Unix datagram server's socket");
}
