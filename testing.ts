/**
 * Testing request handlers without a network: `@x/socketserver/testing`.
 *
 * - {@linkcode runHandler} runs one request of a stream handler class over
 *   an in-memory connection, through a real server's own hooks, and hands
 *   back the client's end; {@linkcode runDatagramHandler} does the same for
 *   one datagram. No permission, no port, no timer: a handler test in ten
 *   lines.
 * - {@linkcode connPair} makes a connected pair of in-memory
 *   `Deno.Conn`s ({@linkcode MemoryConn}, {@linkcode MemoryTcpConn}) that
 *   buffer, half-close, close and reset as Deno's sockets do;
 *   {@linkcode MemoryNetwork} offers Deno's `listen()`, `connect()` and
 *   `listenDatagram()` over them ({@linkcode MemoryListener},
 *   {@linkcode MemoryDatagramConn}); {@linkcode bindInMemory} puts a whole
 *   server on one.
 * - {@linkcode withServer} runs a real server on a free loopback port (or a
 *   temporary Unix socket) for the length of a callback and closes it after;
 *   it needs `--allow-net`.
 * - {@linkcode localhostCert} is a throwaway self-signed certificate for
 *   `localhost`, for TLS tests and examples only (its key is public).
 *
 * Importing this module and using its in-memory parts needs no permission.
 *
 * ```ts
 * import { sendall, StreamRequestHandler } from "@x/socketserver";
 * import { runHandler } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Upper extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) {
 *       await this.wfile.write(new TextDecoder().decode(line).toUpperCase());
 *     }
 *   }
 * }
 *
 * await using run = runHandler(Upper);
 * await sendall(run.client, "hello\n");
 * await run.client.closeWrite();
 * assert.equal(await new Response(run.client.readable).text(), "HELLO\n");
 * ```
 *
 * @module
 */
export { MemoryConn, MemoryTcpConn } from "./src/testing/conn.ts";
export {
  connPair,
  type ConnPairOptions,
  DEFAULT_CONN_BUFFER_SIZE,
} from "./src/testing/conn_pair.ts";
export { type DatagramAddr, MemoryDatagramConn } from "./src/testing/datagram_conn.ts";
export { MemoryListener } from "./src/testing/listener.ts";
export { localhostCert } from "./src/testing/localhost_cert.ts";
export {
  type MemoryNetAddress,
  MemoryNetwork,
  type MemoryNetworkOptions,
  type MemoryUnixAddress,
} from "./src/testing/network.ts";
export { bindInMemory } from "./src/testing/bind_in_memory.ts";
export type { RequestOutcome } from "./src/testing/_harness.ts";
export {
  type HandlerRun,
  type MemoryConnOf,
  runHandler,
  type RunHandlerOptions,
} from "./src/testing/run_handler.ts";
export {
  type DatagramOutcome,
  runDatagramHandler,
  type RunDatagramHandlerOptions,
} from "./src/testing/run_datagram_handler.ts";
export {
  type ServerCallback,
  withServer,
  type WithServerOptions,
} from "./src/testing/with_server.ts";
