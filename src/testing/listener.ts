/**
 * {@linkcode MemoryListener}: an in-memory `Deno.Listener`, made by a
 * `MemoryNetwork`.
 *
 * @module
 */

import { badResource, busy } from "./_errors.ts";
import type { MemoryConn } from "./conn.ts";

/** Internal: makes a listener at `addr`; `onClose` frees the address. */
export let createListener: <C extends MemoryConn>(
  addr: C["localAddr"],
  onClose: () => void,
) => MemoryListener<C>;

/** Internal: hands `listener` the server end of a new connection. */
export let enqueue: <C extends MemoryConn>(listener: MemoryListener<C>, conn: C) => void;

/**
 * An in-memory `Deno.Listener`: `MemoryNetwork.listen()` makes one, and
 * `MemoryNetwork.connect()` queues the server end of each new connection on
 * it for `accept()`. A stream server whose `socket` is one —
 * `bindInMemory(server)` sets it — serves without touching the network.
 *
 * As Deno's: `close()` rejects a pending `accept()` with `BadResource`
 * ("Listener has been closed"), and so does every later `accept()`; a
 * second `close()` throws `BadResource`; iterating ends once it is closed.
 * Connections queued and never accepted are reset when it closes (their
 * clients read `ConnectionReset`), as the kernel does.
 *
 * @typeParam C The connection type: `MemoryTcpConn` or
 *   `MemoryConn<Deno.UnixAddr>`.
 *
 * @example
 * ```ts
 * import { MemoryNetwork } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * using listener = network.listen({ hostname: "127.0.0.1", port: 8000 });
 * const client = await network.connect({ hostname: "127.0.0.1", port: 8000 });
 * const conn = await listener.accept();
 * assert.equal(conn.remoteAddr.port, client.localAddr.port);
 * client.close();
 * conn.close();
 * ```
 */
export class MemoryListener<C extends MemoryConn = MemoryConn>
  implements Deno.Listener<C, C["localAddr"]> {
  #addr: C["localAddr"];
  #queue: C[] = [];
  #accepts: PromiseWithResolvers<C>[] = [];
  #closed = false;
  #refed = true;
  #onClose: () => void;

  /**
   * Internal: use `MemoryNetwork.listen()`.
   *
   * @param addr The address it listens on.
   * @param onClose Frees the address in the network.
   */
  protected constructor(addr: C["localAddr"], onClose: () => void) {
    this.#addr = addr;
    this.#onClose = onClose;
  }

  /** The address it listens on (a copy). */
  get addr(): C["localAddr"] {
    return { ...this.#addr };
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether it keeps the event loop alive as far as `ref()` / `unref()` go
   * (an in-memory listener never does). */
  get refed(): boolean {
    return this.#refed;
  }

  /** How many connections wait to be accepted. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Waits for the next connection.
   *
   * @returns The server end of the connection.
   * @throws {Deno.errors.BadResource} The listener is closed.
   * @throws {Deno.errors.Busy} Another `accept()` waits, as Deno's listener refuses it.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * const listener = network.listen({ port: 7 });
   * const accepted = listener.accept();
   * const client = await network.connect({ port: 7 });
   * (await accepted).close();
   * assert.equal(await client.read(new Uint8Array(1)), null);
   * client.close();
   * listener.close();
   * await assert.rejects(listener.accept(), Deno.errors.BadResource);
   * ```
   */
  accept(): Promise<C> {
    if (this.#closed) return Promise.reject(badResource("Listener has been closed"));
    // one accept at a time, as Deno's listener allows (its words per transport)
    if (this.#accepts.length > 0) {
      return Promise.reject(
        busy(
          this.#addr.transport === "unix"
            ? "Listener already in use"
            : "Another accept task is ongoing",
        ),
      );
    }
    const conn = this.#queue.shift();
    if (conn !== undefined) return Promise.resolve(conn);
    const waiter = Promise.withResolvers<C>();
    this.#accepts.push(waiter);
    return waiter.promise;
  }

  static {
    enqueue = (listener, conn) => listener.#enqueue(conn);
    createListener = (addr, onClose) => new MemoryListener(addr, onClose);
  }

  /** Hands the server end of a new connection to `accept()`. */
  #enqueue(conn: C): void {
    const waiter = this.#accepts.shift();
    if (waiter !== undefined) waiter.resolve(conn);
    else this.#queue.push(conn);
  }

  /**
   * Stops listening: the address is free again, pending and later
   * `accept()` calls reject, queued connections are reset.
   *
   * @throws {Deno.errors.BadResource} It is already closed.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * const listener = network.listen({ port: 7 });
   * listener.close();
   * await assert.rejects(network.connect({ port: 7 }), Deno.errors.ConnectionRefused);
   * ```
   */
  close(): void {
    if (this.#closed) throw badResource();
    this.#closed = true;
    this.#onClose();
    const error = badResource("Listener has been closed");
    for (const waiter of this.#accepts.splice(0)) waiter.reject(error);
    for (const conn of this.#queue.splice(0)) conn.reset();
  }

  /**
   * Yields each connection as it is accepted, until the listener is closed.
   *
   * @returns The iterator.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * const listener = network.listen({ port: 7 });
   * (await network.connect({ port: 7 })).close();
   * for await (const conn of listener) {
   *   assert.equal(await conn.read(new Uint8Array(1)), null);
   *   conn.close();
   *   listener.close();
   * }
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<C> {
    for (;;) {
      try {
        yield await this.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource) return;
        throw error;
      }
    }
  }

  /**
   * Records in `refed` that it should keep the event loop alive.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   *
   * using listener = new MemoryNetwork().listen({ port: 7 });
   * listener.unref();
   * listener.ref();
   * ```
   */
  ref(): void {
    this.#refed = true;
  }

  /**
   * Records in `refed` that it should not keep the event loop alive.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * using listener = new MemoryNetwork().listen({ port: 7 });
   * listener.unref();
   * assert.equal(listener.refed, false);
   * ```
   */
  unref(): void {
    this.#refed = false;
  }

  /** Closes it unless it is closed already; `using` calls it. */
  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}
