/**
 * Python's `socketserver`, rebuilt for Deno: a server class owns the socket
 * and the request loop, a request handler class owns the protocol, a mix-in
 * owns the concurrency, and every step is a hook a subclass overrides.
 * Python's class names, camelCase members, durations in milliseconds.
 *
 * Three axes, chosen independently:
 *
 * - the transport, a server class: {@linkcode TCPServer}, {@linkcode TLSServer},
 *   {@linkcode UDPServer}, {@linkcode UnixStreamServer}, {@linkcode UnixDatagramServer};
 * - the protocol, a handler class: {@linkcode BaseRequestHandler} (the raw
 *   request), {@linkcode StreamRequestHandler} (`rfile` / `wfile`),
 *   {@linkcode DatagramRequestHandler} (the packet);
 * - the concurrency, a mix-in: none (one request at a time),
 *   {@linkcode ThreadingMixIn} (one async task each), {@linkcode ForkingMixIn}
 *   (child processes); `ThreadingTCPServer` is `ThreadingMixIn(TCPServer)`.
 *
 * ```text
 * BaseServer                      BaseRequestHandler
 * ├── StreamServer                ├── StreamRequestHandler
 * │   ├── TCPServerBase           └── DatagramRequestHandler
 * │   │   ├── TCPServer
 * │   │   └── TLSServer           ThreadingMixIn(Server) → Threading*Server
 * │   └── UnixStreamServer        ForkingMixIn(Server)   → Forking*Server
 * └── DatagramServer
 *     ├── UDPServer
 *     └── UnixDatagramServer
 * ```
 *
 * A request flows as in Python: `serveForever()` (or `handleRequest()`) →
 * `getRequest()` → `verifyRequest()` → `processRequest()` →
 * `finishRequest()`, which constructs the handler and runs its `setup()`,
 * `handle()` and `finish()` → `shutdownRequest()` → `closeRequest()`. A
 * refused request goes straight to `shutdownRequest()`; an error on the way
 * to `handleError()`, or `handleDrop()` for a routine one (a reset, a
 * timeout). `shutdown()` stops the loop; `serverClose()` closes the socket
 * and waits for the requests in flight.
 *
 * @example Quick start: a line echo server that upper-cases, a task per client
 * ```ts
 * import { sendall, StreamRequestHandler, ThreadingTCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Upper extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) {
 *       await this.wfile.write(new TextDecoder().decode(line).toUpperCase());
 *     }
 *   }
 * }
 * await using server = new ThreadingTCPServer(["127.0.0.1", 0], Upper);
 * server.serveForever();
 *
 * const conn = await Deno.connect(server.serverAddress);
 * await sendall(conn, "hello world\n");
 * await conn.closeWrite();
 * assert.equal(await new Response(conn.readable).text(), "HELLO WORLD\n");
 * ```
 *
 * @module
 */
export {
  type AnyServer,
  type Awaitable,
  BaseServer,
  type BaseServerOptions,
  type ClientAddressOf,
  type RequestHandlerClass,
  type RequestOf,
  type ServerCloseOptions,
} from "./src/base_server.ts";
export { BaseRequestHandler } from "./src/base_request_handler.ts";
export { StreamRequestHandler } from "./src/stream_request_handler.ts";
export { StreamServer, type StreamServerOptions } from "./src/stream_server.ts";
export {
  type NetAddress,
  type NetAddressTuple,
  type TcpAddr,
  TCPServer,
  TCPServerBase,
  type TCPServerOptions,
} from "./src/tcp_server.ts";
export { TLSServer, type TLSServerOptions } from "./src/tls_server.ts";
export {
  BufferedReader,
  type BufferedReaderOptions,
  type ByteSource,
  DEFAULT_BUFFER_SIZE,
  DEFAULT_MAX_LINE_LENGTH,
} from "./src/buffered_reader.ts";
export { type ByteSink, StreamWriter, type StreamWriterOptions } from "./src/stream_writer.ts";
export { DEFAULT_MAX_FRAME_LENGTH, type FrameOptions } from "./src/framing.ts";
export {
  FrameTooLongError,
  IncompleteReadError,
  isRoutineDrop,
  LimitOverrunError,
  LineTooLongError,
  type TimeoutAttribute,
  TimeoutError,
} from "./src/errors.ts";
export { sendall } from "./src/sendall.ts";
export { type ChildrenStats, type DropReason, type ServerStats } from "./src/server_stats.ts";
export { AccessList, type AccessListOptions } from "./src/access_list.ts";
export {
  type ProxyAddress,
  type ProxyCommand,
  type ProxyFamily,
  type ProxyHeader,
  ProxyHeaderError,
  type ProxyHeaderErrorReason,
  type ProxyProtocolMode,
  type ProxySslInfo,
  type ProxyTlv,
  type ProxyTlvs,
  type ProxyTransport,
} from "./src/proxy_protocol.ts";
export { type ProxyInfo, proxyInfo } from "./src/proxy_info.ts";
export {
  type DatagramRequest,
  DatagramServer,
  type DatagramServerOptions,
} from "./src/datagram_server.ts";
export { DatagramRequestHandler } from "./src/datagram_request_handler.ts";
export { type UdpAddr, UDPServer, type UDPServerOptions } from "./src/udp_server.ts";
export { type UnixAddress, type UnixSocketOptions } from "./src/_socket_file.ts";
export {
  type UnixStreamAddr,
  type UnixStreamClientAddr,
  UnixStreamServer,
  type UnixStreamServerOptions,
} from "./src/unix_stream_server.ts";
export {
  type UnixDatagramAddr,
  UnixDatagramServer,
  type UnixDatagramServerOptions,
} from "./src/unix_datagram_server.ts";
export {
  type ServerClass,
  ThreadingMixIn,
  type ThreadingMixInClass,
  type ThreadingServer,
  type ThreadingServerClass,
  type ThreadingServerOptions,
  ThreadingTCPServer,
  ThreadingTLSServer,
  ThreadingUDPServer,
  type WithMixInOptions,
  type WithThreadingOptions,
} from "./src/threading.ts";
export { ThreadingUnixDatagramServer, ThreadingUnixStreamServer } from "./src/threading_unix.ts";
export {
  type ChildDeath,
  type ChildPermissions,
  ForkingMixIn,
  type ForkingMixInClass,
  type ForkingServer,
  type ForkingServerClass,
  type ForkingServerOptions,
  isForkingChild,
  type RestartChildrenOptions,
  type WithForkingOptions,
} from "./src/forking.ts";
export { ForkingTCPServer, ForkingTLSServer } from "./src/forking_servers.ts";
