/**
 * The engine of an in-memory stream connection: two ends, each holding what
 * its peer wrote up to a bound, and the pump that serves pending reads and
 * writes as room and bytes appear, following TCP's or Unix's rules.
 *
 * @module
 */

import { brokenPipe, interrupted } from "./_errors.ts";

interface PendingRead {
  p: Uint8Array;
  resolve(n: number | null): void;
  reject(error: unknown): void;
}

interface PendingWrite {
  p: Uint8Array;
  resolve(n: number): void;
  reject(error: unknown): void;
}

export const WAIT = Symbol("wait");

/** One end's state. Each end holds what its peer wrote and it has not read
 * yet (`inbound`), at most the link's `capacity` bytes. */
export class Side {
  peer!: Side;
  link: Link;
  closed = false;
  inbound: Uint8Array[] = [];
  /** Bytes of `inbound[0]` already read. */
  offset = 0;
  size = 0;
  /** The peer shut its write side or is gone: reads drain, then EOF. */
  ended = false;
  /** `closeWrite()` was called: new writes fail with `BrokenPipe`. */
  writeShut = false;
  /** The peer is gone: writes fail, after `graceWrites` are accepted and
   * discarded (a TCP peer that closed cleanly resets only once a write
   * reaches it). */
  peerGone = false;
  graceWrites = 0;
  /** An error for the next read or write, once: a reset. */
  error: Error | null = null;
  /** An error for the next read, once: a Unix peer that closed unread. */
  readError: Error | null = null;
  reads: PendingRead[] = [];
  writes: PendingWrite[] = [];
  /** `closeWrite()` calls waiting for the writes queued before them. */
  shutWaiters: PromiseWithResolvers<void>[] = [];

  constructor(link: Link) {
    this.link = link;
  }
}

/** What both ends share: the transport's rules and the buffer bound. */
export class Link {
  a: Side;
  b: Side;
  pumping = false;
  again = false;

  constructor(readonly capacity: number, readonly unix: boolean) {
    this.a = new Side(this);
    this.b = new Side(this);
    this.a.peer = this.b;
    this.b.peer = this.a;
  }
}

/** Takes up to `p.length` bytes of `side.inbound` into `p`. */
function take(side: Side, p: Uint8Array): number {
  let n = 0;
  while (n < p.length && side.inbound.length > 0) {
    const chunk = side.inbound[0];
    const count = Math.min(chunk.length - side.offset, p.length - n);
    p.set(chunk.subarray(side.offset, side.offset + count), n);
    n += count;
    side.offset += count;
    if (side.offset === chunk.length) {
      side.inbound.shift();
      side.offset = 0;
    }
  }
  side.size -= n;
  return n;
}

export function tryRead(side: Side, p: Uint8Array): number | null | Error | typeof WAIT {
  if (p.length === 0) return 0;
  if (side.size > 0) return take(side, p);
  if (side.error !== null) {
    const error = side.error;
    side.error = null;
    return error;
  }
  if (side.readError !== null) {
    const error = side.readError;
    side.readError = null;
    return error;
  }
  return side.ended ? null : WAIT;
}

/** Copies what fits of `p` into the peer's buffer: a write takes as many
 * bytes as there is room for at once, like a socket's `write()`. */
export function tryWrite(side: Side, p: Uint8Array): number | Error | typeof WAIT {
  if (side.error !== null) {
    const error = side.error;
    side.error = null;
    return error;
  }
  if (side.peerGone) {
    if (side.graceWrites > 0) {
      side.graceWrites--;
      return p.length;
    }
    return brokenPipe();
  }
  if (p.length === 0) return 0;
  const peer = side.peer;
  const room = side.link.capacity - peer.size;
  if (room <= 0) return WAIT;
  const n = Math.min(room, p.length);
  peer.inbound.push(p.slice(0, n));
  peer.size += n;
  return n;
}

function settleRead(op: PendingRead, result: number | null | Error): void {
  if (result instanceof Error) op.reject(result);
  else op.resolve(result);
}

function settleWrite(op: PendingWrite, result: number | Error): void {
  if (result instanceof Error) op.reject(result);
  else op.resolve(result);
}

/** Serves every pending read and write of both ends that can make progress,
 * until none can. Re-entrant calls only ask for another round. */
export function pump(link: Link): void {
  if (link.pumping) {
    link.again = true;
    return;
  }
  link.pumping = true;
  try {
    do {
      link.again = false;
      for (const side of [link.a, link.b]) {
        while (side.writes.length > 0) {
          const result = tryWrite(side, side.writes[0].p);
          if (result === WAIT) break;
          settleWrite(side.writes.shift()!, result);
          link.again = true;
        }
        if (side.writes.length === 0 && side.shutWaiters.length > 0) {
          shutNow(side);
          for (const waiter of side.shutWaiters.splice(0)) waiter.resolve();
          link.again = true;
        }
        while (side.reads.length > 0) {
          const result = tryRead(side, side.reads[0].p);
          if (result === WAIT) break;
          settleRead(side.reads.shift()!, result);
          link.again = true;
        }
      }
    } while (link.again);
  } finally {
    link.pumping = false;
  }
}

/** The write side is shut: the peer reads what is buffered, then EOF. */
export function shutNow(side: Side): void {
  side.peer.ended = true;
}

/** Ends `side`: its own pending operations are cancelled as Deno's are
 * (`Interrupted`), what it had not read is dropped. */
export function closeSide(side: Side): boolean {
  side.closed = true;
  const cancelled = interrupted();
  for (const op of side.reads.splice(0)) op.reject(cancelled);
  for (const op of side.writes.splice(0)) op.reject(cancelled);
  for (const waiter of side.shutWaiters.splice(0)) waiter.reject(cancelled);
  const unread = side.size > 0;
  side.inbound = [];
  side.offset = side.size = 0;
  side.ended = true;
  return unread;
}
