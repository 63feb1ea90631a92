/**
 * {@linkcode bindInMemory}: a server bound to an in-memory network.
 *
 * @module
 */

import type { AnyServer } from "../base_server.ts";
import { DatagramServer } from "../datagram_server.ts";
import { StreamServer } from "../stream_server.ts";
import { TLSServer } from "../tls_server.ts";
import { formatAddress } from "../_format.ts";
import { MemoryNetwork } from "./network.ts";

const networks = new WeakMap<AnyServer, MemoryNetwork>();

/** Whether `server` is bound on an in-memory network. */
export function isBoundInMemory(server: AnyServer): boolean {
  return networks.has(server);
}

/**
 * Binds a server to an in-memory network instead of the system's: in place
 * of `serverBind()`, it sets the server's `socket` to a
 * {@linkcode MemoryListener} (stream servers) or a
 * {@linkcode MemoryDatagramConn} (datagram servers) at the server's
 * address — port 0 picks a free one — and `serverAddress` to the bound
 * address. Everything else is the server's own: call `serverActivate()` as
 * after `serverBind()`, then `serveForever()` or `handleRequest()`, and
 * connect with the network's `connect()` / `listenDatagram()`. No
 * permission is needed, no port or file is taken.
 *
 * The server must be constructed with `{ bindAndActivate: false }`. TLS
 * servers cannot be bound in memory (the handshake needs a real socket):
 * run them with `withServer()`; nor can forking ones (their children run
 * the program again and accept from the real socket).
 *
 * @param server An unbound stream or datagram server.
 * @param network The network to bind on; a new one by default.
 * @returns The network the server is bound on (the same one on a second
 *   call).
 * @throws {TypeError} Not a stream or datagram server, or a TLS or forking
 *   one.
 * @throws {Error} The server is bound to a real socket, or in memory on
 *   another network.
 * @throws {Deno.errors.BadResource} The server is closed.
 * @throws {Deno.errors.AddrInUse} The network has something at the address.
 *
 * @example A whole server in memory, with two clients
 * ```ts
 * import { sendall, StreamRequestHandler, ThreadingTCPServer } from "@x/socketserver";
 * import { bindInMemory } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Echo, {
 *   bindAndActivate: false,
 * });
 * const network = bindInMemory(server);
 * server.serverActivate();
 * server.serveForever();
 * const a = await network.connect(server.serverAddress);
 * const b = await network.connect(server.serverAddress);
 * await sendall(b, "from b\n");
 * await sendall(a, "from a\n");
 * await Promise.all([a.closeWrite(), b.closeWrite()]);
 * assert.equal(await new Response(a.readable).text(), "from a\n");
 * assert.equal(await new Response(b.readable).text(), "from b\n");
 * ```
 */
export function bindInMemory(server: AnyServer, network?: MemoryNetwork): MemoryNetwork {
  const bound = networks.get(server);
  if (bound !== undefined) {
    if (network !== undefined && network !== bound) {
      throw new Error(
        `${server.constructor.name} is already bound in memory on another network: use the network bindInMemory() returned first`,
      );
    }
    return bound;
  }
  const name = server?.constructor?.name ?? String(server);
  if ("activeChildren" in server) {
    throw new TypeError(
      `${name} cannot be bound in memory: its child processes run the program again and accept from the real socket; test its handler in memory on a ThreadingTCPServer, and the server itself as a program`,
    );
  }
  if (server instanceof TLSServer) {
    throw new TypeError(
      `${name} cannot be bound in memory: the TLS handshake needs a real socket; test it with withServer(), and its handler in memory on a TCPServer`,
    );
  }
  if (!(server instanceof StreamServer) && !(server instanceof DatagramServer)) {
    throw new TypeError(
      `bindInMemory() binds a StreamServer or DatagramServer (TCPServer, UnixStreamServer, UDPServer, UnixDatagramServer...), got ${name}`,
    );
  }
  if (server.socket !== undefined) {
    throw new Error(
      `${name} is already bound to "${
        formatAddress(server.serverAddress)
      }": construct it with { bindAndActivate: false } to bind it in memory`,
    );
  }
  if (server.closed) {
    throw new Deno.errors.BadResource(
      `${name} is closed: create a new one to bind it in memory`,
    );
  }
  const net = network ?? new MemoryNetwork();
  const address = server.serverAddress as Deno.NetAddr | Deno.UnixAddr;
  if (server instanceof StreamServer) {
    const listener = address.transport === "unix"
      ? net.listen({ transport: "unix", path: (address as Deno.UnixAddr).path })
      : net.listen({
        hostname: (address as Deno.NetAddr).hostname,
        port: (address as Deno.NetAddr).port,
      });
    server.socket = listener as unknown as Deno.Listener;
    server.serverAddress = listener.addr;
  } else {
    const socket = address.transport === "unixpacket"
      ? net.listenDatagram({ transport: "unixpacket", path: (address as Deno.UnixAddr).path })
      : net.listenDatagram({
        transport: "udp",
        hostname: (address as Deno.NetAddr).hostname,
        port: (address as Deno.NetAddr).port,
      });
    server.socket = socket;
    server.serverAddress = socket.addr;
  }
  networks.set(server, net);
  return net;
}
