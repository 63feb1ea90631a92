/**
 * {@linkcode MemoryConn} and {@linkcode MemoryTcpConn}: the two ends of an
 * in-memory stream connection, made by {@linkcode connPair} or a
 * `MemoryNetwork`.
 *
 * @module
 */

import { badResource, brokenPipe, connectionReset, interrupted, streamClosed } from "./_errors.ts";

/** How many bytes each direction of an in-memory connection holds by
 * default before a write waits: 64 KiB. */
export const DEFAULT_CONN_BUFFER_SIZE = 64 * 1024;

/** The chunk size of a conn's `readable`, Deno's. */
const READABLE_CHUNK_SIZE = 64 * 1024;

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

const WAIT = Symbol("wait");

/** One end's state. Each end holds what its peer wrote and it has not read
 * yet (`inbound`), at most the link's `capacity` bytes. */
class Side {
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
class Link {
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

function tryRead(side: Side, p: Uint8Array): number | null | Error | typeof WAIT {
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
function tryWrite(side: Side, p: Uint8Array): number | Error | typeof WAIT {
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
function pump(link: Link): void {
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
function shutNow(side: Side): void {
  side.peer.ended = true;
}

/** Ends `side`: its own pending operations are cancelled as Deno's are
 * (`Interrupted`), what it had not read is dropped. */
function closeSide(side: Side): boolean {
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

/**
 * Options of {@linkcode connPair}.
 *
 * @typeParam A The address type: `Deno.NetAddr` or `Deno.UnixAddr`.
 *
 * @example A Unix pair with a small buffer
 * ```ts
 * import { connPair, type ConnPairOptions } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const options = {
 *   serverAddr: { transport: "unix", path: "/run/app.sock" },
 *   bufferSize: 16,
 * } satisfies ConnPairOptions<Deno.UnixAddr>;
 * const [client, server] = connPair(options);
 * assert.equal(client.remoteAddr.path, "/run/app.sock");
 * assert.equal(await client.write(new Uint8Array(100)), 16); // a partial write
 * client.close();
 * server.close();
 * ```
 */
export interface ConnPairOptions<A extends Deno.NetAddr | Deno.UnixAddr> {
  /** The first end's (the client's) own address, the second end's
   * `remoteAddr`. Default: `127.0.0.1` on a port from the ephemeral range
   * for TCP, an unnamed socket (`path: null`, as Deno reports it) for Unix. */
  clientAddr?: A;
  /** The second end's (the server's) own address, the first end's
   * `remoteAddr`. Default: `127.0.0.1` on a port from the ephemeral range.
   * Its `transport` decides the socket rules followed: `"tcp"` or
   * `"unix"`. */
  serverAddr?: A;
  /** How many bytes each direction holds before a write waits for the peer
   * to read. @default {65536} */
  bufferSize?: number;
}

let nextPort = 49152;

/** A port from the ephemeral range (49152–65535), for addresses made up
 * without a network. */
function ephemeralPort(): number {
  const port = nextPort;
  nextPort = nextPort === 65535 ? 49152 : nextPort + 1;
  return port;
}

/**
 * One end of an in-memory stream connection: a `Deno.Conn` (and so a
 * `Deno.UnixConn` with Unix addresses) whose bytes never leave the process,
 * for tests that need no permissions. {@linkcode connPair} makes two
 * connected ends; a `MemoryNetwork` makes them by `connect()` and
 * `accept()`.
 *
 * It behaves as Deno's sockets do on Linux (checked side by side in this
 * package's tests):
 *
 * - each direction holds at most `bufferSize` bytes: a write takes what
 *   fits and resolves with that count (a partial write, as a socket's
 *   `write()`), and waits while nothing fits; a read returns what is
 *   buffered, up to its buffer's length, and waits while nothing is;
 * - `closeWrite()` waits for the writes queued before it, then the peer
 *   reads the rest and EOF (`null`) and may still write back; a write after
 *   it fails with `BrokenPipe`;
 * - `close()` cancels this end's pending operations (`Interrupted`), and
 *   any later one fails with `BadResource` (a second `close()` too); the
 *   peer reads the rest, then EOF. Its writes then fail with `BrokenPipe` —
 *   over TCP only from its second write, unless this end closed with bytes
 *   unread (as the kernel resets only once data reaches a closed socket);
 *   over Unix at once, and its next read fails with `ConnectionReset` if this
 *   end closed with bytes unread;
 * - {@linkcode MemoryConn.reset} is an abortive close: the peer reads what
 *   is buffered, then its next read or write fails with `ConnectionReset`,
 *   after which reads return EOF and writes fail with `BrokenPipe`;
 * - `readable` and `writable` are Web Streams over the same bytes that, as
 *   Deno's, close the connection once the readable ends, is cancelled, or
 *   the writable is closed or aborted.
 *
 * Nothing here keeps the event loop alive: a test that waits for bytes that
 * never come ends with Deno's "Promise resolution is still pending" error
 * instead of hanging.
 *
 * @typeParam A The address type.
 *
 * @example Half-close: the peer reads EOF and still answers
 * ```ts
 * import { connPair } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const [client, server] = connPair();
 * await client.write(new TextEncoder().encode("ping"));
 * await client.closeWrite();
 * const buffer = new Uint8Array(16);
 * assert.equal(await server.read(buffer), 4);
 * assert.equal(await server.read(buffer), null); // EOF
 * await server.write(new TextEncoder().encode("pong"));
 * server.close();
 * assert.equal(await new Response(client.readable).text(), "pong");
 * ```
 */
export class MemoryConn<A extends Deno.NetAddr | Deno.UnixAddr = Deno.NetAddr | Deno.UnixAddr>
  implements Deno.Conn<A> {
  #side: Side;
  #localAddr: A;
  #remoteAddr: A;
  #refed = true;
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;

  /**
   * Internal: use {@linkcode connPair} or a `MemoryNetwork`.
   *
   * @param side The end's state.
   * @param localAddr Its address.
   * @param remoteAddr The peer's address.
   */
  protected constructor(side: unknown, localAddr: A, remoteAddr: A) {
    this.#side = side as Side;
    this.#localAddr = localAddr;
    this.#remoteAddr = remoteAddr;
  }

  /** This end's address (a copy). */
  get localAddr(): A {
    return { ...this.#localAddr };
  }

  /** The peer's address (a copy). */
  get remoteAddr(): A {
    return { ...this.#remoteAddr };
  }

  /** Whether `close()` (or `reset()`) has been called, or the `readable` /
   * `writable` closed the connection. */
  get closed(): boolean {
    return this.#side.closed;
  }

  /** How many bytes the peer wrote that this end has not read yet. */
  get buffered(): number {
    return this.#side.size;
  }

  /** Whether the connection keeps the event loop alive, as far as `ref()` and
   * `unref()` go (an in-memory one never does): `false` after `unref()`. */
  get refed(): boolean {
    return this.#refed;
  }

  /**
   * Reads what the peer wrote into `p`: at most `p.length` bytes, and at
   * least one unless `p` is empty.
   *
   * @param p Where to read into.
   * @returns The number of bytes read, or `null` at EOF.
   * @throws {Deno.errors.BadResource} The connection is closed.
   * @throws {Deno.errors.ConnectionReset} The peer reset the connection.
   * @throws {Deno.errors.Interrupted} `close()` was called while it waited.
   *
   * @example
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * await client.write(new TextEncoder().encode("hello"));
   * const buffer = new Uint8Array(3);
   * assert.equal(await server.read(buffer), 3); // a partial read
   * assert.equal(await server.read(buffer), 2);
   * client.close();
   * server.close();
   * ```
   */
  read(p: Uint8Array): Promise<number | null> {
    const side = this.#side;
    if (side.closed) return Promise.reject(badResource());
    if (side.reads.length === 0) {
      const result = tryRead(side, p);
      if (result !== WAIT) {
        pump(side.link); // room was made: wake the peer's writes
        return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
      }
    }
    return new Promise((resolve, reject) => side.reads.push({ p, resolve, reject }));
  }

  /**
   * Writes what fits of `p` into the peer's buffer, waiting while nothing
   * fits. Like a socket's, it may write only part of `p`: loop, or use
   * `writable`, to send it all.
   *
   * @param p The bytes to send.
   * @returns How many bytes were written.
   * @throws {Deno.errors.BadResource} The connection is closed.
   * @throws {Deno.errors.BrokenPipe} `closeWrite()` was called, or the peer
   *   is gone.
   * @throws {Deno.errors.ConnectionReset} The peer reset the connection.
   * @throws {Deno.errors.Interrupted} `close()` was called while it waited.
   *
   * @example Back-pressure: a write waits until the peer reads
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair({ bufferSize: 4 });
   * assert.equal(await client.write(new Uint8Array(6)), 4);
   * const second = client.write(new Uint8Array(2)); // waits: the buffer is full
   * assert.equal(await server.read(new Uint8Array(8)), 4);
   * assert.equal(await second, 2);
   * client.close();
   * server.close();
   * ```
   */
  write(p: Uint8Array): Promise<number> {
    const side = this.#side;
    if (side.closed) return Promise.reject(badResource());
    if (side.writeShut) return Promise.reject(brokenPipe());
    if (side.writes.length === 0) {
      const result = tryWrite(side, p);
      if (result !== WAIT) {
        pump(side.link); // bytes arrived: wake the peer's reads
        return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
      }
    }
    return new Promise((resolve, reject) => side.writes.push({ p, resolve, reject }));
  }

  /**
   * Shuts the write side down: once the writes queued before it are done,
   * the peer reads the rest and then EOF. Reading and the peer's writing go
   * on. A second call does nothing.
   *
   * @returns Once the write side is shut.
   * @throws {Deno.errors.BadResource} The connection is closed.
   *
   * @example
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * await client.closeWrite();
   * assert.equal(await server.read(new Uint8Array(1)), null);
   * await assert.rejects(client.write(new Uint8Array(1)), Deno.errors.BrokenPipe);
   * client.close();
   * server.close();
   * ```
   */
  closeWrite(): Promise<void> {
    const side = this.#side;
    if (side.closed) return Promise.reject(badResource());
    side.writeShut = true;
    if (side.writes.length === 0) {
      shutNow(side);
      pump(side.link);
      return Promise.resolve();
    }
    const waiter = Promise.withResolvers<void>();
    side.shutWaiters.push(waiter);
    return waiter.promise;
  }

  /**
   * Closes this end. Its pending reads and writes reject with
   * `Interrupted`; the peer reads what this end wrote, then EOF, and its
   * writes fail (see the class).
   *
   * @throws {Deno.errors.BadResource} It is already closed.
   *
   * @example
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * client.close();
   * assert.equal(await server.read(new Uint8Array(1)), null);
   * await assert.rejects(client.read(new Uint8Array(1)), Deno.errors.BadResource);
   * server.close();
   * ```
   */
  close(): void {
    const side = this.#side;
    if (side.closed) throw badResource();
    const unread = closeSide(side);
    const peer = side.peer;
    if (!peer.closed) {
      const unix = side.link.unix;
      peer.ended = true;
      peer.peerGone = true;
      peer.graceWrites = unix || unread ? 0 : 1;
      if (unix && unread) peer.readError = connectionReset();
    }
    pump(side.link);
  }

  /**
   * Closes this end abortively, as a socket closed with `SO_LINGER` 0 (or
   * Node's `socket.resetAndDestroy()`) does: the peer reads what is
   * buffered, then its next read or write fails with
   * `Deno.errors.ConnectionReset`; after that its reads return EOF and its
   * writes fail with `BrokenPipe`. This end is closed. Deno's own sockets
   * have no such method.
   *
   * @throws {Deno.errors.BadResource} It is already closed.
   *
   * @example A client that resets mid-request
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * await client.write(new TextEncoder().encode("half a li"));
   * client.reset();
   * const buffer = new Uint8Array(64);
   * assert.equal(await server.read(buffer), 9); // what came before the reset
   * await assert.rejects(server.read(buffer), Deno.errors.ConnectionReset);
   * assert.equal(await server.read(buffer), null);
   * server.close();
   * ```
   */
  reset(): void {
    const side = this.#side;
    if (side.closed) throw badResource();
    closeSide(side);
    const peer = side.peer;
    if (!peer.closed) {
      peer.ended = true;
      peer.peerGone = true;
      peer.graceWrites = 0;
      peer.error = connectionReset();
    }
    pump(side.link);
  }

  /**
   * Does what `Deno.Conn.ref()` does to the event loop — nothing, for an
   * in-memory connection — and records it in `refed`.
   *
   * @example
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * client.unref();
   * client.ref();
   * assert.equal(client.refed, true);
   * client.close();
   * server.close();
   * ```
   */
  ref(): void {
    this.#refed = true;
  }

  /**
   * Records in `refed` that the connection should not keep the event loop
   * alive (a `ThreadingMixIn` server with `daemonThreads` calls it).
   *
   * @example
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * server.unref();
   * assert.equal(server.refed, false);
   * client.close();
   * server.close();
   * ```
   */
  unref(): void {
    this.#refed = false;
  }

  /**
   * The bytes the peer writes, as a byte stream (BYOB readers work). As
   * Deno's, it closes the connection when it ends or is cancelled, so that
   * `close()` afterwards throws `BadResource`.
   *
   * @example
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * await server.write(new TextEncoder().encode("hello"));
   * server.close();
   * assert.equal(await new Response(client.readable).text(), "hello");
   * assert.equal(client.closed, true);
   * ```
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: READABLE_CHUNK_SIZE,
      pull: async (controller) => {
        const request = controller.byobRequest!;
        const view = request.view!;
        try {
          const n = await this.read(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
          if (n === null) {
            this.#tryClose();
            controller.close();
            request.respond(0);
          } else {
            request.respond(n);
          }
        } catch (error) {
          controller.error(toStreamError(error));
          this.#tryClose();
        }
      },
      cancel: () => this.#tryClose(),
    }) as ReadableStream<Uint8Array<ArrayBuffer>>;
  }

  /**
   * A stream that writes every chunk whole to the peer. As Deno's, closing
   * or aborting it closes the connection (the peer reads EOF).
   *
   * @example
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * const reply = new Response(client.readable).text();
   * await ReadableStream.from([new TextEncoder().encode("one "), new TextEncoder().encode("two")])
   *   .pipeTo(server.writable);
   * assert.equal(await reply, "one two");
   * ```
   */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      write: async (chunk) => {
        try {
          let n = 0;
          while (n < chunk.length) n += await this.write(chunk.subarray(n));
        } catch (error) {
          this.#tryClose();
          throw toStreamError(error);
        }
      },
      close: () => this.#tryClose(),
      abort: () => this.#tryClose(),
    });
  }

  /** Closes the connection unless it is closed already; `using` calls it. */
  [Symbol.dispose](): void {
    this.#tryClose();
  }

  #tryClose(): void {
    if (!this.#side.closed) this.close();
  }
}

/** Deno's streams report their own closed connection in these words. */
function toStreamError(error: unknown): unknown {
  return error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted
    ? streamClosed()
    : error;
}

/**
 * One end of an in-memory TCP connection: a {@linkcode MemoryConn} with a
 * `Deno.TcpConn`'s socket options, which it records (`noDelay`,
 * `keepAlive`) so that a test can check a handler set them.
 *
 * @example `disableNagleAlgorithm` sets `TCP_NODELAY`
 * ```ts
 * import { connPair } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const [client, server] = connPair();
 * assert.equal(server.noDelay, null); // never set
 * server.setNoDelay(true);
 * server.setKeepAlive();
 * assert.equal(server.noDelay, true);
 * assert.equal(server.keepAlive, true);
 * client.close();
 * server.close();
 * ```
 */
export class MemoryTcpConn extends MemoryConn<Deno.NetAddr> implements Deno.TcpConn {
  #noDelay: boolean | null = null;
  #keepAlive: boolean | null = null;

  /** The last value given to `setNoDelay()`, or `null` if it was never
   * called. */
  get noDelay(): boolean | null {
    return this.#noDelay;
  }

  /** The last value given to `setKeepAlive()`, or `null` if it was never
   * called. */
  get keepAlive(): boolean | null {
    return this.#keepAlive;
  }

  /**
   * Records `TCP_NODELAY`.
   *
   * @param noDelay `true` (the default) disables Nagle's algorithm.
   * @throws {Deno.errors.BadResource} The connection is closed.
   *
   * @example
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * client.setNoDelay(false);
   * assert.equal(client.noDelay, false);
   * client.close();
   * assert.throws(() => client.setNoDelay(), Deno.errors.BadResource);
   * server.close();
   * ```
   */
  setNoDelay(noDelay: boolean = true): void {
    if (this.closed) throw badResource();
    this.#noDelay = noDelay;
  }

  /**
   * Records `SO_KEEPALIVE`.
   *
   * @param keepAlive `true` (the default) enables keep-alive probes.
   * @throws {Deno.errors.BadResource} The connection is closed.
   *
   * @example
   * ```ts
   * import { connPair } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const [client, server] = connPair();
   * client.setKeepAlive(true);
   * assert.equal(client.keepAlive, true);
   * client.close();
   * server.close();
   * ```
   */
  setKeepAlive(keepAlive: boolean = true): void {
    if (this.closed) throw badResource();
    this.#keepAlive = keepAlive;
  }
}

/** Subclasses reach the protected constructor through these. */
class TcpEnd extends MemoryTcpConn {
  constructor(side: Side, localAddr: Deno.NetAddr, remoteAddr: Deno.NetAddr) {
    super(side, localAddr, remoteAddr);
  }
}
class UnixEnd extends MemoryConn<Deno.UnixAddr> {
  constructor(side: Side, localAddr: Deno.UnixAddr, remoteAddr: Deno.UnixAddr) {
    super(side, localAddr, remoteAddr);
  }
}

/**
 * Internal: makes two connected ends with these addresses, following TCP's
 * rules for `"tcp"` addresses and Unix's for `"unix"` ones.
 *
 * @param clientAddr The first end's address.
 * @param serverAddr The second end's address.
 * @param bufferSize Bytes per direction.
 * @returns `[first, second]`.
 */
export function makePair(
  clientAddr: Deno.NetAddr | Deno.UnixAddr,
  serverAddr: Deno.NetAddr | Deno.UnixAddr,
  bufferSize: number,
): [MemoryConn, MemoryConn] {
  if (!Number.isInteger(bufferSize) || bufferSize < 1) {
    throw new RangeError(
      `"bufferSize" must be a positive integer number of bytes, got ${String(bufferSize)}`,
    );
  }
  if (clientAddr.transport !== serverAddr.transport) {
    throw new TypeError(
      `Both ends of a connection need the same transport, got "${clientAddr.transport}" and "${serverAddr.transport}"`,
    );
  }
  if (serverAddr.transport === "tcp") {
    const link = new Link(bufferSize, false);
    const c = clientAddr as Deno.NetAddr;
    const s = serverAddr as Deno.NetAddr;
    return [new TcpEnd(link.a, c, s), new TcpEnd(link.b, s, c)];
  }
  if (serverAddr.transport === "unix") {
    const link = new Link(bufferSize, true);
    const c = clientAddr as Deno.UnixAddr;
    const s = serverAddr as Deno.UnixAddr;
    return [new UnixEnd(link.a, c, s), new UnixEnd(link.b, s, c)];
  }
  throw new TypeError(
    `An in-memory connection is "tcp" or "unix", got transport "${
      (serverAddr as Deno.Addr).transport
    }"`,
  );
}

/**
 * Makes an in-memory connected pair — a client end and a server end, each
 * the other's peer — like Go's `net.Pipe()` or Tokio's `io::duplex()`, but
 * with a socket's buffering, partial writes, half-close and errors (see
 * {@linkcode MemoryConn}). Needs no permission.
 *
 * @param options The addresses and the buffer size.
 * @returns `[client, server]`: TCP ends by default, Unix ones for a
 *   `"unix"` `serverAddr`.
 * @throws {TypeError} The two addresses have different transports.
 * @throws {RangeError} `bufferSize` is not a positive integer.
 *
 * @example
 * ```ts
 * import { connPair } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const [client, server] = connPair({
 *   clientAddr: { transport: "tcp", hostname: "192.0.2.7", port: 40000 },
 * });
 * assert.equal(server.remoteAddr.hostname, "192.0.2.7");
 * await client.write(new TextEncoder().encode("hi"));
 * client.close();
 * assert.equal(await new Response(server.readable).text(), "hi");
 * ```
 */
export function connPair(options?: ConnPairOptions<Deno.NetAddr>): [MemoryTcpConn, MemoryTcpConn];
/**
 * Makes an in-memory Unix stream pair, following Unix sockets' rules (a
 * write to a closed peer fails at once).
 *
 * @param options The addresses (`serverAddr` with `transport: "unix"`) and
 *   the buffer size.
 * @returns `[client, server]`.
 *
 * @example
 * ```ts
 * import { connPair } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const [client, server] = connPair({ serverAddr: { transport: "unix", path: "/run/app.sock" } });
 * assert.equal(server.remoteAddr.path, null); // an unnamed client, as Deno reports one
 * server.close();
 * await assert.rejects(client.write(new Uint8Array(1)), Deno.errors.BrokenPipe);
 * client.close();
 * ```
 */
export function connPair(
  options: ConnPairOptions<Deno.UnixAddr> & { serverAddr: Deno.UnixAddr },
): [MemoryConn<Deno.UnixAddr>, MemoryConn<Deno.UnixAddr>];
export function connPair(
  options: ConnPairOptions<Deno.NetAddr> | ConnPairOptions<Deno.UnixAddr> = {},
): [MemoryConn, MemoryConn] {
  const serverAddr = options.serverAddr ??
    { transport: "tcp", hostname: "127.0.0.1", port: ephemeralPort() };
  const clientAddr = options.clientAddr ??
    (serverAddr.transport === "unix"
      ? { transport: "unix", path: null as unknown as string }
      : { transport: "tcp", hostname: "127.0.0.1", port: ephemeralPort() });
  return makePair(clientAddr, serverAddr, options.bufferSize ?? DEFAULT_CONN_BUFFER_SIZE);
}
