/**
 * {@linkcode MemoryConn} and {@linkcode MemoryTcpConn}: the two ends of an
 * in-memory stream connection, made by `connPair()` or a `MemoryNetwork`.
 *
 * @module
 */

import { badResource, brokenPipe, connectionReset, streamClosed } from "./_errors.ts";
import { closeSide, pump, shutNow, type Side, tryRead, tryWrite, WAIT } from "./_pipe.ts";

/** The chunk size of a conn's `readable`, Deno's. */
const READABLE_CHUNK_SIZE = 64 * 1024;

/**
 * One end of an in-memory stream connection: a `Deno.Conn` (and so a
 * `Deno.UnixConn` with Unix addresses) whose bytes never leave the process,
 * for tests that need no permissions. {@linkcode connPair} makes two
 * connected ends; a `MemoryNetwork` makes them by `connect()` and
 * `accept()`.
 *
 * It behaves as Deno's sockets do on Linux (checked side by side in this
 * package's tests): each direction holds at most `bufferSize` bytes, so a
 * write takes what fits (a partial write) and waits while nothing does; a
 * read returns what is buffered; {@linkcode MemoryConn.closeWrite},
 * {@linkcode MemoryConn.close} and {@linkcode MemoryConn.reset} end it as a
 * socket's half-close, close and abortive close do; `readable` and
 * `writable` close the connection when they end, as Deno's do.
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
   * `Interrupted`, later ones with `BadResource`; the peer reads what this
   * end wrote, then EOF. The peer's writes then fail with `BrokenPipe`: over
   * TCP from its second write, unless this end closed with bytes unread (the
   * kernel resets only once data reaches a closed socket); over Unix at once,
   * and its next read fails with `ConnectionReset` if bytes were unread.
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
