/**
 * {@linkcode MemoryNetwork}: Deno's `listen()` / `connect()` /
 * `listenDatagram()` over in-memory sockets.
 *
 * @module
 */

import { addrInUse, connectionRefused, notFound } from "./_errors.ts";
import type { MemoryConn, MemoryTcpConn } from "./conn.ts";
import { DEFAULT_CONN_BUFFER_SIZE, makePair } from "./conn_pair.ts";
import {
  createDatagramConn,
  type DatagramHost,
  type MemoryDatagramConn,
  type Route,
  unixRouteError,
} from "./datagram_conn.ts";
import { createListener, enqueue, type MemoryListener } from "./listener.ts";

/**
 * Options of {@linkcode MemoryNetwork}: the sizes of its sockets' buffers.
 * The defaults are Linux's.
 *
 * @example
 * ```ts
 * import { MemoryNetwork, type MemoryNetworkOptions } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const options: MemoryNetworkOptions = { bufferSize: 1024 };
 * const network = new MemoryNetwork(options);
 * using _listener = network.listen({ port: 80 });
 * const client = await network.connect({ port: 80 });
 * assert.equal(await client.write(new Uint8Array(4096)), 1024);
 * client.close();
 * ```
 */
export interface MemoryNetworkOptions {
  /** How many bytes each direction of a stream connection holds before a
   * write waits for the peer to read. @default {65536} */
  bufferSize?: number;
  /** How many bytes of datagrams a UDP socket holds unread; one that does
   * not fit is dropped (Linux's `net.core.rmem_default`, counting payload
   * only). @default {212992} */
  udpReceiveBufferSize?: number;
  /** How many datagrams a Unix datagram socket holds unread; a send to a
   * full one waits (Linux's `net.unix.max_dgram_qlen`). @default {10} */
  unixMaxQueuedDatagrams?: number;
  /** The longest datagram a send accepts, in bytes; longer ones fail with
   * `EMSGSIZE`. Default: 65507 over UDP/IPv4, 65527 over UDP/IPv6, 212960
   * over Unix (Linux's `net.core.wmem_default`, 212992, less the 32 bytes
   * it keeps back). */
  maxDatagramSize?: number;
}

/**
 * Where a {@linkcode MemoryNetwork} listener or UDP socket binds: Deno's
 * options. The hostname defaults to `"0.0.0.0"` (every IPv4 address, as
 * `Deno.listen`'s does); port 0 picks a free port from the ephemeral range.
 *
 * @example
 * ```ts
 * import { MemoryNetwork, type MemoryNetAddress } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const address: MemoryNetAddress = { hostname: "::1", port: 0 };
 * using listener = new MemoryNetwork().listen(address);
 * assert.equal(listener.addr.hostname, "::1");
 * assert.ok(listener.addr.port >= 32768);
 * ```
 */
export interface MemoryNetAddress {
  /** `"tcp"` for `listen()`, `"udp"` for `listenDatagram()`. */
  transport?: "tcp" | "udp";
  /** An IP literal or `"localhost"`. @default {"0.0.0.0"} */
  hostname?: string;
  /** The port; 0 for a free one. @default {0} */
  port?: number;
}

/**
 * A Unix socket path to bind or connect to on a {@linkcode MemoryNetwork}:
 * no file is made.
 *
 * @example
 * ```ts
 * import { MemoryNetwork, type MemoryUnixAddress } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const address: MemoryUnixAddress = { transport: "unix", path: "/run/app.sock" };
 * using listener = new MemoryNetwork().listen(address);
 * assert.equal(listener.addr.path, "/run/app.sock");
 * ```
 */
export interface MemoryUnixAddress {
  /** `"unix"` for streams, `"unixpacket"` for datagrams. */
  transport: "unix" | "unixpacket";
  /** The socket's path. */
  path: string;
}

const FIRST_EPHEMERAL = 32768;
const LAST_EPHEMERAL = 60999;
const WILDCARDS = ["0.0.0.0", "::"];

function normalizeHost(hostname: string | undefined, fallback: string): string {
  const host = hostname ?? fallback;
  if (host === "localhost") return "127.0.0.1";
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function checkPort(port: unknown): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`The port must be an integer from 0 to 65535, got ${String(port)}`);
  }
  return port;
}

function checkPath(path: unknown): string {
  if (typeof path !== "string" || path === "") {
    throw new TypeError(`A Unix socket address needs a path, got ${JSON.stringify(path)}`);
  }
  return path;
}

/** The sockets bound on one transport: by `host:port` or by path. */
class Table<T> {
  bound = new Map<string, T>();
  /** Unix paths once bound and since closed. */
  closed = new Set<string>();
  #nextPort = FIRST_EPHEMERAL;

  freePort(host: string): number {
    for (let tries = 0; tries <= LAST_EPHEMERAL - FIRST_EPHEMERAL; tries++) {
      const port = this.#nextPort;
      this.#nextPort = port === LAST_EPHEMERAL ? FIRST_EPHEMERAL : port + 1;
      if (!this.taken(host, port)) return port;
    }
    throw addrInUse();
  }

  taken(host: string, port: number): boolean {
    if (this.bound.has(`${host}:${port}`)) return true;
    if (WILDCARDS.includes(host)) {
      for (const key of this.bound.keys()) if (key.endsWith(`:${port}`)) return true;
      return false;
    }
    return WILDCARDS.some((wildcard) => this.bound.has(`${wildcard}:${port}`));
  }

  /** The socket an address reaches: an exact match, else a wildcard one. */
  find(host: string, port: number): T | undefined {
    const exact = this.bound.get(`${host}:${port}`);
    if (exact !== undefined) return exact;
    // "::" takes IPv4 connections too, as a dual-stack Linux socket does
    if (!host.includes(":")) {
      const any4 = this.bound.get(`0.0.0.0:${port}`);
      if (any4 !== undefined) return any4;
    }
    return this.bound.get(`:::${port}`);
  }
}

/** Internal: `network.connect()` without the wait: `[client, server]`, the
 * server end already queued on the listener. */
export let connectNow: (
  network: MemoryNetwork,
  options: (MemoryNetAddress | MemoryUnixAddress) & { clientAddr?: Deno.NetAddr | Deno.UnixAddr },
) => [MemoryConn, MemoryConn];

/**
 * An in-memory network with Deno's socket API: `listen()`, `connect()` and
 * `listenDatagram()` take Deno's options and return
 * {@linkcode MemoryListener}s, {@linkcode MemoryConn}s and
 * {@linkcode MemoryDatagramConn}s, which behave as Deno's sockets do on
 * Linux but never touch the system, so they need no permission. Ports and
 * paths are the network's own: two networks never see each other.
 *
 * `bindInMemory(server, network)` puts a socketserver server on one; code
 * that takes `Deno.listen` / `Deno.connect` as parameters can use it too.
 *
 * @example A server and two clients, without a port
 * ```ts
 * import { MemoryNetwork } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const network = new MemoryNetwork();
 * using listener = network.listen({ hostname: "127.0.0.1", port: 0 });
 * const a = await network.connect(listener.addr);
 * const b = await network.connect(listener.addr);
 * const [sa, sb] = [await listener.accept(), await listener.accept()];
 * assert.notEqual(a.localAddr.port, b.localAddr.port);
 * assert.equal(sb.remoteAddr.port, b.localAddr.port);
 * for (const conn of [a, b, sa, sb]) conn.close();
 * ```
 */
export class MemoryNetwork {
  #bufferSize: number;
  #options: MemoryNetworkOptions;
  #tcp = new Table<MemoryListener<MemoryTcpConn>>();
  #unix = new Table<MemoryListener<MemoryConn<Deno.UnixAddr>>>();
  #udp = new Table<MemoryDatagramConn>();
  #unixpacket = new Table<MemoryDatagramConn>();
  /** Client ports, shared by every host (a client's port is its own). */
  #clientPorts = new Table<true>();

  /**
   * Creates an empty network.
   *
   * @param options Buffer sizes; Linux's by default.
   * @throws {RangeError} A size that is not a positive integer.
   */
  constructor(options: MemoryNetworkOptions = {}) {
    for (
      const key of [
        "bufferSize",
        "udpReceiveBufferSize",
        "unixMaxQueuedDatagrams",
        "maxDatagramSize",
      ] as const
    ) {
      const value = options[key];
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new RangeError(`"${key}" must be a positive integer, got ${String(value)}`);
      }
    }
    this.#options = { ...options };
    this.#bufferSize = options.bufferSize ?? DEFAULT_CONN_BUFFER_SIZE;
  }

  /**
   * Listens for stream connections, as `Deno.listen()` does.
   *
   * @param options `{ hostname?, port? }` for TCP, `{ transport: "unix",
   *   path }` for a Unix socket.
   * @returns The listener.
   * @throws {Deno.errors.AddrInUse} Something listens there already.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * using _listener = network.listen({ port: 8080 });
   * assert.throws(() => network.listen({ port: 8080 }), Deno.errors.AddrInUse);
   * ```
   */
  listen(options?: MemoryNetAddress): MemoryListener<MemoryTcpConn>;
  /**
   * Listens on a Unix socket path (no file is made), as
   * `Deno.listen({ transport: "unix", path })` does.
   *
   * @param options `{ transport: "unix", path }`.
   * @returns The listener.
   * @throws {Deno.errors.AddrInUse} A socket is bound at the path.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * using listener = network.listen({ transport: "unix", path: "/run/app.sock" });
   * const client = await network.connect({ transport: "unix", path: "/run/app.sock" });
   * const conn = await listener.accept();
   * assert.equal(conn.localAddr.path, "/run/app.sock");
   * client.close();
   * conn.close();
   * ```
   */
  listen(options: MemoryUnixAddress): MemoryListener<MemoryConn<Deno.UnixAddr>>;
  listen(
    options: MemoryNetAddress | MemoryUnixAddress = {},
  ): MemoryListener<MemoryTcpConn> | MemoryListener<MemoryConn<Deno.UnixAddr>> {
    if (options.transport === "unix") {
      const path = checkPath(options.path);
      if (this.#unix.bound.has(path) || this.#unixpacket.bound.has(path)) throw addrInUse();
      const listener = createListener<MemoryConn<Deno.UnixAddr>>(
        { transport: "unix", path },
        () => this.#unix.bound.delete(path), // Deno removes the socket file
      );
      this.#unix.bound.set(path, listener);
      return listener;
    }
    if (options.transport !== undefined && options.transport !== "tcp") {
      throw new TypeError(`listen() takes "tcp" or "unix", got "${options.transport}"`);
    }
    const net = options as MemoryNetAddress;
    const host = normalizeHost(net.hostname, "0.0.0.0");
    let port = checkPort(net.port ?? 0);
    if (port === 0) port = this.#tcp.freePort(host);
    else if (this.#tcp.taken(host, port)) throw addrInUse();
    const key = `${host}:${port}`;
    const listener = createListener<MemoryTcpConn>(
      { transport: "tcp", hostname: host, port },
      () => this.#tcp.bound.delete(key),
    );
    this.#tcp.bound.set(key, listener);
    return listener;
  }

  /**
   * Connects to a listener, as `Deno.connect()` does.
   *
   * @param options `{ hostname?, port }` (the hostname defaults to
   *   `"127.0.0.1"`) or `{ transport: "unix", path }`.
   * @returns The client end; the server end waits in the listener's
   *   `accept()`.
   * @throws {Deno.errors.ConnectionRefused} Nothing listens at the TCP
   *   address.
   * @throws {Deno.errors.NotFound} Nothing listens at the Unix path.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * await assert.rejects(network.connect({ port: 80 }), Deno.errors.ConnectionRefused);
   * await assert.rejects(
   *   network.connect({ transport: "unix", path: "/run/none.sock" }),
   *   Deno.errors.NotFound,
   * );
   * ```
   */
  connect(options: MemoryNetAddress & { port: number }): Promise<MemoryTcpConn>;
  /**
   * Connects to a Unix socket path, as
   * `Deno.connect({ transport: "unix", path })` does.
   *
   * @param options `{ transport: "unix", path }`.
   * @returns The client end, an unnamed socket (`path: null`).
   * @throws {Deno.errors.NotFound} Nothing listens at the path.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * const listener = network.listen({ transport: "unix", path: "/run/app.sock" });
   * listener.close(); // Deno removes the socket file
   * await assert.rejects(
   *   network.connect({ transport: "unix", path: "/run/app.sock" }),
   *   Deno.errors.NotFound,
   * );
   * ```
   */
  connect(options: MemoryUnixAddress): Promise<MemoryConn<Deno.UnixAddr>>;
  connect(
    options: (MemoryNetAddress & { port: number }) | MemoryUnixAddress,
  ): Promise<MemoryConn> {
    try {
      return Promise.resolve(this.#connect(options as MemoryNetAddress)[0]);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  static {
    connectNow = (network, options) => network.#connect(options);
  }

  /** `connect()` without the wait: the client end, and the server end
   * already queued on the listener. */
  #connect(
    options: (MemoryNetAddress | MemoryUnixAddress) & {
      clientAddr?: Deno.NetAddr | Deno.UnixAddr;
    },
  ): [MemoryConn, MemoryConn] {
    if (options.transport === "unix") {
      const path = checkPath((options as MemoryUnixAddress).path);
      const listener = this.#unix.bound.get(path);
      if (listener === undefined) throw notFound();
      const clientAddr = options.clientAddr ??
        { transport: "unix", path: null as unknown as string };
      const [client, server] = makePair(
        clientAddr,
        { transport: "unix", path },
        this.#bufferSize,
      ) as [MemoryConn<Deno.UnixAddr>, MemoryConn<Deno.UnixAddr>];
      enqueue(listener, server);
      return [client, server];
    }
    if (options.transport !== undefined && options.transport !== "tcp") {
      throw new TypeError(`connect() takes "tcp" or "unix", got "${options.transport}"`);
    }
    const net = options as MemoryNetAddress;
    const host = normalizeHost(net.hostname, "127.0.0.1");
    const port = checkPort(net.port);
    const listener = this.#tcp.find(host, port);
    if (listener === undefined) throw connectionRefused();
    const clientAddr = options.clientAddr ??
      {
        transport: "tcp",
        hostname: host.includes(":") ? "::1" : "127.0.0.1",
        port: this.#clientPorts.freePort("*"),
      };
    const [client, server] = makePair(
      clientAddr,
      { transport: "tcp", hostname: host, port },
      this.#bufferSize,
    ) as [MemoryTcpConn, MemoryTcpConn];
    enqueue(listener, server);
    return [client, server];
  }

  /**
   * Binds a datagram socket, as `Deno.listenDatagram()` does.
   *
   * @param options `{ transport: "udp", hostname?, port? }` or
   *   `{ transport: "unixpacket", path }`.
   * @returns The socket.
   * @throws {Deno.errors.AddrInUse} Something is bound there already.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "@x/socketserver/testing";
   * import assert from "node:assert/strict";
   *
   * const network = new MemoryNetwork();
   * using a = network.listenDatagram({ transport: "unixpacket", path: "/run/a.sock" });
   * using b = network.listenDatagram({ transport: "unixpacket", path: "/run/b.sock" });
   * await b.send(new TextEncoder().encode("hi"), a.addr);
   * const [data, from] = await a.receive();
   * assert.equal(new TextDecoder().decode(data), "hi");
   * assert.deepEqual(from, { transport: "unixpacket", path: "/run/b.sock" });
   * ```
   */
  listenDatagram(
    options:
      | (MemoryNetAddress & { transport: "udp" })
      | (MemoryUnixAddress & {
        transport: "unixpacket";
      }),
  ): MemoryDatagramConn {
    if (options.transport === "unixpacket") {
      const path = checkPath(options.path);
      const table = this.#unixpacket;
      if (table.bound.has(path) || this.#unix.bound.has(path)) throw addrInUse();
      const socket = createDatagramConn(
        { transport: "unixpacket", path },
        this.#host(table, "unixpacket", () => {
          table.bound.delete(path);
          table.closed.add(path); // the socket file stays: sends are refused
        }),
      );
      table.bound.set(path, socket);
      table.closed.delete(path);
      return socket;
    }
    if (options.transport !== "udp") {
      throw new TypeError(
        `listenDatagram() takes "udp" or "unixpacket", got "${
          (options as { transport?: string }).transport
        }"`,
      );
    }
    const host = normalizeHost(options.hostname, "0.0.0.0");
    const table = this.#udp;
    let port = checkPort(options.port ?? 0);
    if (port === 0) port = table.freePort(host);
    else if (table.taken(host, port)) throw addrInUse();
    const key = `${host}:${port}`;
    const socket = createDatagramConn(
      { transport: "udp", hostname: host, port },
      this.#host(table, host.includes(":") ? "udp6" : "udp", () => table.bound.delete(key)),
    );
    table.bound.set(key, socket);
    return socket;
  }

  #host(
    table: Table<MemoryDatagramConn>,
    kind: "udp" | "udp6" | "unixpacket",
    unbind: () => void,
  ): DatagramHost {
    const options = this.#options;
    const limits = {
      receiveBufferSize: options.udpReceiveBufferSize ?? 212_992,
      maxQueuedDatagrams: options.unixMaxQueuedDatagrams ?? 10,
      maxDatagramSize: options.maxDatagramSize ??
        (kind === "udp" ? 65_507 : kind === "udp6" ? 65_527 : 212_960),
    };
    const route = (addr: Deno.Addr): Route => {
      if (addr.transport === "unixpacket") {
        const path = (addr as Deno.UnixAddr).path;
        return table.bound.get(path) ?? unixRouteError(table.closed.has(path));
      }
      const { hostname, port } = addr as Deno.NetAddr;
      return table.find(normalizeHost(hostname, "127.0.0.1"), port) ?? null;
    };
    return { limits, route, unbind };
  }
}
