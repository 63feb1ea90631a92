/**
 * {@linkcode connPair}: a connected pair of in-memory stream connections.
 *
 * @module
 */

import { Link, type Side } from "./_pipe.ts";
import { MemoryConn, MemoryTcpConn } from "./conn.ts";

/** How many bytes each direction of an in-memory connection holds by
 * default before a write waits: 64 KiB. */
export const DEFAULT_CONN_BUFFER_SIZE = 64 * 1024;

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
