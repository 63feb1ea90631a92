/**
 * {@linkcode runDatagramHandler}: one request of a datagram handler, run in
 * memory.
 *
 * @module
 */

import type { AnyServer, RequestHandlerClass } from "../base_server.ts";
import { DatagramServer } from "../datagram_server.ts";
import { UDPServer } from "../udp_server.ts";
import { formatAddress } from "../_format.ts";
import { drain, type MemoryDatagramConn } from "./datagram_conn.ts";
import { checkHandler, closedServer, harness, type RequestOutcome, Tracker } from "./_harness.ts";
import type { MemoryNetwork } from "./network.ts";

/**
 * Options of {@linkcode runDatagramHandler}.
 *
 * @typeParam S The server type.
 *
 * @example A client at a fixed address
 * ```ts
 * import { DatagramRequestHandler, UDPServer } from "@x/socketserver";
 * import { runDatagramHandler, type RunDatagramHandlerOptions } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Port extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.wfile.write(String(this.clientAddress.port));
 *   }
 * }
 * const options: RunDatagramHandlerOptions<UDPServer> = {
 *   clientAddr: { transport: "udp", hostname: "127.0.0.1", port: 40000 },
 * };
 * const { reply } = await runDatagramHandler(Port, "", options);
 * assert.equal(new TextDecoder().decode(reply!), "40000");
 * ```
 */
export interface RunDatagramHandlerOptions<S extends AnyServer = UDPServer> {
  /** The datagram server to run the request on, constructed with the
   * handler class and `{ bindAndActivate: false }`; it is bound in memory
   * on first use and stays the caller's to close. Default: a `UDPServer` on
   * `127.0.0.1`, made for this request and closed after it. */
  server?: S;
  /** The client socket's address, which the handler sees as
   * `clientAddress`. Default: `127.0.0.1` on a free port (UDP), a path of
   * its own (Unix). */
  clientAddr?: Deno.NetAddr | Deno.UnixAddr;
  /** The network to bind the server on, when it is not bound yet. */
  network?: MemoryNetwork;
}

/**
 * What {@linkcode runDatagramHandler} saw once the server closed the
 * request.
 *
 * @example
 * ```ts
 * import { DatagramRequestHandler } from "@x/socketserver";
 * import { type DatagramOutcome, runDatagramHandler } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Twice extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.socket.send(this.packet, this.clientAddress); // an extra datagram
 *     await this.wfile.write(this.packet); // the reply finish() sends
 *   }
 * }
 * const outcome: DatagramOutcome = await runDatagramHandler(Twice, "hi");
 * assert.equal(outcome.replies.length, 2);
 * assert.deepEqual(outcome.drops, []);
 * ```
 */
export interface DatagramOutcome extends RequestOutcome {
  /** The first datagram the client received, or `null` if none came (a
   * handler that writes nothing sends nothing). */
  readonly reply: Uint8Array | null;
  /** Every datagram the client received, in order. */
  readonly replies: readonly Uint8Array[];
}

let nextClient = 0;

/**
 * Runs one request of a datagram handler class in memory: sends `data` as
 * one datagram from a new in-memory client socket to the server, has the
 * server take it with its own `handleRequest()` (`getRequest()` with its
 * `maxPacketSize` cut, `verifyRequest()`, the handler, `finish()` sending
 * the reply, `handleError()` / `handleDrop()`), and returns what the client
 * received by the time the server closed the request. Needs no permission.
 *
 * Give a `server` (constructed with `{ bindAndActivate: false }`) to run on
 * your own; each call uses a client socket of its own, so concurrent calls
 * on a threading server get their own replies. Without one, a `UDPServer`
 * on `127.0.0.1` is made for the call, and errors reject the call instead
 * of going to stderr.
 *
 * @typeParam S The server type.
 * @param Handler The datagram handler class under test.
 * @param data The datagram: bytes, or text sent as UTF-8.
 * @param options The server, the client's address, the network.
 * @returns How the request ended, with the replies.
 * @throws {TypeError} A stream server, or a server that runs another
 *   handler class.
 * @throws {Deno.errors.BadResource} The server is closed.
 * @throws {unknown} What reached the server's `handleError()`.
 *
 * @example A UDP echo
 * ```ts
 * import { DatagramRequestHandler } from "@x/socketserver";
 * import { runDatagramHandler } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.readline());
 *   }
 * }
 * const { reply } = await runDatagramHandler(Echo, "hello\n");
 * assert.equal(new TextDecoder().decode(reply!), "hello\n");
 * ```
 */
export async function runDatagramHandler<S extends AnyServer = UDPServer>(
  // deno-lint-ignore no-explicit-any
  Handler: RequestHandlerClass<any, any>,
  data: Uint8Array | string,
  options: RunDatagramHandlerOptions<S> = {},
): Promise<DatagramOutcome> {
  checkHandler(Handler, options.server, true);
  const own = options.server === undefined;
  const server = options.server ??
    new UDPServer({ hostname: "127.0.0.1", port: 0 }, Handler, { bindAndActivate: false });
  if (!(server instanceof DatagramServer)) {
    throw new TypeError(
      `${server.constructor.name} is not a datagram server: run its handler with runHandler()`,
    );
  }
  if (server.closed) throw closedServer(server);
  try {
    const h = harness(server, own, options.network);
    const serverAddr = server.serverAddress as Deno.NetAddr | Deno.UnixAddr;
    const clientAddr = options.clientAddr ??
      (serverAddr.transport === "unixpacket"
        ? { transport: "unixpacket", path: `${serverAddr.path}.client-${++nextClient}` }
        : { transport: "udp", hostname: "127.0.0.1", port: 0 });
    using client = listenClient(h.network, clientAddr as Deno.NetAddr | Deno.UnixAddr);
    const tracker = new Tracker();
    h.senders.set(formatAddress(client.addr), tracker);
    await client.send(typeof data === "string" ? new TextEncoder().encode(data) : data, serverAddr);
    h.schedule(tracker);
    const outcome = await tracker.settled.promise;
    const replies = drain(client).map(([bytes]) => bytes as Uint8Array);
    return { drops: outcome.drops, reply: replies[0] ?? null, replies };
  } finally {
    if (own) await server.serverClose();
  }
}

function listenClient(
  network: MemoryNetwork,
  addr: Deno.NetAddr | Deno.UnixAddr,
): MemoryDatagramConn {
  if (addr.transport === "unixpacket") {
    return network.listenDatagram({ transport: "unixpacket", path: addr.path });
  }
  if (addr.transport === "udp") {
    return network.listenDatagram({ transport: "udp", hostname: addr.hostname, port: addr.port });
  }
  throw new TypeError(
    `A datagram client's address is "udp" or "unixpacket", got "${addr.transport}"`,
  );
}
