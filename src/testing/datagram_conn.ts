/**
 * {@linkcode MemoryDatagramConn}: an in-memory `Deno.DatagramConn`, made by
 * a `MemoryNetwork`.
 *
 * @module
 */

import {
  badResource,
  busy,
  connectionRefused,
  interrupted,
  messageTooLong,
  notFound,
} from "./_errors.ts";

/** A datagram address: UDP or Unix. */
export type DatagramAddr = Deno.NetAddr | Deno.UnixAddr;

/** A datagram on its way: a private copy of the bytes, and the sender's
 * address (one object per datagram). */
interface Datagram {
  data: Uint8Array<ArrayBuffer>;
  from: DatagramAddr;
}

interface PendingReceive {
  p: Uint8Array | undefined;
  resolve(value: [Uint8Array<ArrayBuffer>, Deno.Addr]): void;
  reject(error: unknown): void;
}

interface BlockedSend {
  datagram: Datagram;
  sender: MemoryDatagramConn;
  resolve(): void;
  reject(error: unknown): void;
}

/** Where a datagram goes: the socket bound at the address; `null` when
 * nothing is, so that UDP loses it; an error when Unix refuses it. */
export type Route = MemoryDatagramConn | null | Error;

/** Internal: what a socket needs from its network. */
export interface DatagramHost {
  /** The limits of the socket's transport. */
  limits: { receiveBufferSize: number; maxQueuedDatagrams: number; maxDatagramSize: number };
  /** The socket bound at `addr`. */
  route(addr: Deno.Addr): Route;
  /** Frees the socket's address. */
  unbind(): void;
}

function shape(data: Uint8Array<ArrayBuffer>, p: Uint8Array | undefined): Uint8Array<ArrayBuffer> {
  if (p === undefined) return data;
  // a datagram longer than the buffer is cut, as the kernel's recvfrom() does
  const n = Math.min(data.length, p.length);
  p.set(data.subarray(0, n));
  return p.subarray(0, n) as Uint8Array<ArrayBuffer>;
}

/** Internal: makes a socket bound at `addr` on a network. */
export let createDatagramConn: (addr: DatagramAddr, host: DatagramHost) => MemoryDatagramConn;

/** Internal: takes every datagram queued on `conn`, without waiting. */
export let drain: (conn: MemoryDatagramConn) => [Uint8Array<ArrayBuffer>, Deno.Addr][];

/**
 * An in-memory datagram socket: a `Deno.DatagramConn` that
 * `MemoryNetwork.listenDatagram()` binds to a UDP address or a Unix
 * (`"unixpacket"`) path, and that exchanges datagrams with the network's
 * other sockets. Datagram boundaries are kept: every `receive()` returns one
 * whole datagram — cut to the buffer given, as the kernel does — with the
 * sender's address.
 *
 * It behaves as Deno's sockets do on Linux: empty datagrams are datagrams;
 * one longer than the transport carries fails with `EMSGSIZE`; over UDP a
 * datagram to an address where nothing is bound is lost without an error,
 * and one that finds the receiver's buffer full is dropped; over Unix a
 * send to a path where nothing was ever bound fails with `NotFound`, to a
 * closed socket's path with `ConnectionRefused`, and a send to a socket
 * whose queue is full waits until it reads, and a second `receive()` while
 * one waits fails with `Busy` (UDP takes several). `close()` rejects pending
 * receives with `Interrupted`, and every later call with `BadResource`.
 * Multicast is not supported.
 *
 * @example Two UDP sockets
 * ```ts
 * import { MemoryNetwork } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * using a = network.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 5000 });
 * using b = network.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * await b.send(new TextEncoder().encode("one"), a.addr);
 * await b.send(new Uint8Array(0), a.addr);
 * const [first, from] = await a.receive();
 * assert.equal(new TextDecoder().decode(first), "one");
 * assert.deepEqual(from, b.addr);
 * assert.equal((await a.receive())[0].length, 0); // boundaries kept
 * ```
 */
export class MemoryDatagramConn implements Deno.DatagramConn {
  #addr: DatagramAddr;
  #host: DatagramHost;
  #queue: Datagram[] = [];
  #queuedBytes = 0;
  #receives: PendingReceive[] = [];
  /** Sends to this socket waiting for room in its queue (Unix). */
  #blocked: BlockedSend[] = [];
  /** This socket's own sends waiting for room elsewhere. */
  #waiting = new Set<BlockedSend>();
  #closed = false;

  /**
   * Internal: use `MemoryNetwork.listenDatagram()`.
   *
   * @param addr Its address.
   * @param host Its network.
   */
  protected constructor(addr: DatagramAddr, host: unknown) {
    this.#addr = addr;
    this.#host = host as DatagramHost;
  }

  static {
    createDatagramConn = (addr, host) => new MemoryDatagramConn(addr, host);
  }

  /** Its address (a copy). */
  get addr(): DatagramAddr {
    return { ...this.#addr };
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** How many datagrams wait to be received. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Receives the next datagram.
   *
   * @param p A buffer to receive into: a longer datagram is cut to its
   *   length. Without one, the datagram comes whole in a new buffer.
   * @returns `[data, sender's address]`.
   * @throws {Deno.errors.BadResource} The socket is closed.
   * @throws {Deno.errors.Interrupted} `close()` was called while it waited.
   * @throws {Deno.errors.Busy} Unix: another `receive()` waits, as Deno's
   *   Unix socket refuses it (UDP takes several at once).
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * using server = network.listenDatagram({ transport: "udp", port: 53 });
   * using client = network.listenDatagram({ transport: "udp", port: 0 });
   * await client.send(new Uint8Array(10), { transport: "udp", hostname: "127.0.0.1", port: 53 });
   * const [data] = await server.receive(new Uint8Array(4));
   * assert.equal(data.length, 4); // cut to the buffer
   * ```
   */
  receive(p?: Uint8Array): Promise<[Uint8Array<ArrayBuffer>, Deno.Addr]> {
    if (this.#closed) return Promise.reject(badResource("Socket has been closed"));
    const datagram = this.#take();
    if (datagram !== undefined) return Promise.resolve([shape(datagram.data, p), datagram.from]);
    // Deno's Unix datagram socket takes one receive at a time; UDP queues them
    if (this.#receives.length > 0 && this.#addr.transport === "unixpacket") {
      return Promise.reject(busy("Socket already in use"));
    }
    const waiter = Promise.withResolvers<[Uint8Array<ArrayBuffer>, Deno.Addr]>();
    this.#receives.push({ p, resolve: waiter.resolve, reject: waiter.reject });
    return waiter.promise;
  }

  /**
   * Sends `p` as one datagram to `addr`.
   *
   * @param p The datagram's bytes (copied).
   * @param addr Where to: a UDP address, or a Unix datagram socket's path.
   * @returns `p.length`.
   * @throws {Deno.errors.BadResource} The socket is closed.
   * @throws {Error} `p` is longer than the transport carries (`code`
   *   `"EMSGSIZE"`).
   * @throws {Deno.errors.NotFound} Unix: nothing was ever bound at the path.
   * @throws {Deno.errors.ConnectionRefused} Unix: the socket there is closed.
   * @throws {TypeError} `addr` is of another transport.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * using client = network.listenDatagram({ transport: "udp", port: 0 });
   * const nobody = { transport: "udp" as const, hostname: "127.0.0.1", port: 9 };
   * assert.equal(await client.send(new Uint8Array(3), nobody), 3); // lost, as UDP loses it
   * ```
   */
  send(p: Uint8Array, addr: Deno.Addr): Promise<number> {
    if (this.#closed) return Promise.reject(badResource("Socket has been closed"));
    const own = this.#addr.transport;
    if (addr?.transport !== own) {
      return Promise.reject(
        new TypeError(
          `A "${own}" socket sends to "${own}" addresses, got ${JSON.stringify(addr)}`,
        ),
      );
    }
    if (p.length > this.#host.limits.maxDatagramSize) return Promise.reject(messageTooLong());
    const target = this.#host.route(addr);
    if (target instanceof Error) return Promise.reject(target);
    const n = p.length;
    if (target === null) return Promise.resolve(n);
    const datagram: Datagram = { data: p.slice() as Uint8Array<ArrayBuffer>, from: this.addr };
    const blocked = target.#deliver(datagram, this);
    if (blocked === null) return Promise.resolve(n);
    this.#waiting.add(blocked);
    return new Promise<void>((resolve, reject) => {
      blocked.resolve = () => (this.#waiting.delete(blocked), resolve());
      blocked.reject = (error) => (this.#waiting.delete(blocked), reject(error));
    }).then(() => n);
  }

  /** Takes a datagram sent to this socket. Returns `null` once it is
   * delivered or dropped, or the send that waits for room (Unix). */
  #deliver(datagram: Datagram, sender: MemoryDatagramConn): BlockedSend | null {
    const receive = this.#receives.shift();
    if (receive !== undefined) {
      receive.resolve([shape(datagram.data, receive.p), datagram.from]);
      return null;
    }
    const limits = this.#host.limits;
    if (this.#addr.transport === "udp") {
      // a full receive buffer drops the datagram, silently
      if (this.#queuedBytes + datagram.data.length <= limits.receiveBufferSize) {
        this.#queue.push(datagram);
        this.#queuedBytes += datagram.data.length;
      }
      return null;
    }
    if (this.#queue.length < limits.maxQueuedDatagrams) {
      this.#queue.push(datagram);
      this.#queuedBytes += datagram.data.length;
      return null;
    }
    const blocked: BlockedSend = { datagram, sender, resolve() {}, reject() {} };
    this.#blocked.push(blocked);
    return blocked;
  }

  static {
    drain = (conn) => conn.#drain();
  }

  #drain(): [Uint8Array<ArrayBuffer>, Deno.Addr][] {
    const out: [Uint8Array<ArrayBuffer>, Deno.Addr][] = [];
    for (let d = this.#take(); d !== undefined; d = this.#take()) out.push([d.data, d.from]);
    return out;
  }

  #take(): Datagram | undefined {
    const datagram = this.#queue.shift();
    if (datagram === undefined) return undefined;
    this.#queuedBytes -= datagram.data.length;
    // room for a send that waited (Unix flow control)
    for (let next = this.#blocked.shift(); next !== undefined; next = this.#blocked.shift()) {
      if (next.sender.closed) continue;
      this.#queue.push(next.datagram);
      this.#queuedBytes += next.datagram.data.length;
      next.resolve();
      break;
    }
    return datagram;
  }

  /**
   * Closes the socket and frees its address.
   *
   * @throws {Deno.errors.BadResource} It is already closed.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const socket = new MemoryNetwork().listenDatagram({ transport: "udp", port: 0 });
   * const receiving = socket.receive();
   * socket.close();
   * await assert.rejects(receiving, Deno.errors.Interrupted);
   * await assert.rejects(socket.receive(), Deno.errors.BadResource);
   * ```
   */
  close(): void {
    if (this.#closed) throw badResource();
    this.#closed = true;
    this.#host.unbind();
    const cancelled = interrupted();
    for (const receive of this.#receives.splice(0)) receive.reject(cancelled);
    for (const send of this.#waiting) send.reject(cancelled);
    const refused = connectionRefused();
    for (const send of this.#blocked.splice(0)) send.reject(refused);
    this.#queue = [];
    this.#queuedBytes = 0;
  }

  /**
   * Not supported in memory.
   *
   * @param _address The group.
   * @param _networkInterface The interface.
   * @returns Never: it rejects.
   * @throws {Deno.errors.NotSupported} Always.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * using socket = new MemoryNetwork().listenDatagram({ transport: "udp", port: 0 });
   * await assert.rejects(socket.joinMulticastV4("224.0.0.1", "0.0.0.0"), Deno.errors.NotSupported);
   * ```
   */
  joinMulticastV4(
    _address: string,
    _networkInterface: string,
  ): Promise<Deno.MulticastV4Membership> {
    return Promise.reject(multicast());
  }

  /**
   * Not supported in memory.
   *
   * @param _address The group.
   * @param _networkInterface The interface index.
   * @returns Never: it rejects.
   * @throws {Deno.errors.NotSupported} Always.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * using socket = new MemoryNetwork().listenDatagram({ transport: "udp", port: 0 });
   * await assert.rejects(socket.joinMulticastV6("ff02::1", 0), Deno.errors.NotSupported);
   * ```
   */
  joinMulticastV6(
    _address: string,
    _networkInterface: number,
  ): Promise<Deno.MulticastV6Membership> {
    return Promise.reject(multicast());
  }

  /**
   * Yields each datagram received, until the socket is closed.
   *
   * @returns The iterator.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * const server = network.listenDatagram({ transport: "udp", port: 53 });
   * using client = network.listenDatagram({ transport: "udp", port: 0 });
   * await client.send(new Uint8Array([1]), { transport: "udp", hostname: "127.0.0.1", port: 53 });
   * for await (const [data] of server) {
   *   assert.deepEqual([...data], [1]);
   *   server.close();
   * }
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<[Uint8Array<ArrayBuffer>, Deno.Addr]> {
    for (;;) {
      try {
        yield await this.receive();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
          return;
        }
        throw error;
      }
    }
  }

  /** Closes it unless it is closed already; `using` calls it. */
  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }
}

function multicast(): Deno.errors.NotSupported {
  return new Deno.errors.NotSupported(
    "Multicast is not supported by the in-memory network: test it with Deno.listenDatagram",
  );
}

/** Internal: the error of a Unix send to a path with no socket. */
export function unixRouteError(everBound: boolean): Error {
  return everBound ? connectionRefused() : notFound();
}
