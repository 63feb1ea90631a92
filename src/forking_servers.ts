/**
 * {@linkcode ForkingTCPServer} and {@linkcode ForkingTLSServer}: the TCP and
 * TLS servers with {@linkcode ForkingMixIn}.
 *
 * @module
 */

import type { Awaitable, ServerCloseOptions } from "./base_server.ts";
import type { ServerStats } from "./server_stats.ts";
import {
  type ChildDeath,
  ForkingMixIn,
  type ForkingMixInClass,
  type ForkingServer,
  type RestartChildrenOptions,
} from "./forking.ts";
import { TCPServer } from "./tcp_server.ts";
import type { ThreadingServer } from "./threading.ts";
import { TLSServer } from "./tls_server.ts";

/**
 * A {@linkcode TCPServer} served by one child process per core:
 * `ForkingMixIn(TCPServer)`. Python: `ForkingTCPServer`. Needs Linux,
 * `--unstable-net` and `--allow-run` for Deno.
 *
 * @example A program serving on every core
 * ```ts
 * import { ForkingTCPServer, isForkingChild, StreamRequestHandler } from "@x/socketserver";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 *
 * if (import.meta.main && Deno.args.includes("--serve")) {
 *   // every child runs this program again and constructs this same server
 *   await using server = new ForkingTCPServer({ hostname: "127.0.0.1", port: 9999 }, Echo);
 *   if (!isForkingChild()) console.log(`serving with ${server.maxChildren} processes`);
 *   await server.serveForever();
 * }
 * ```
 */
export const ForkingTCPServer: ForkingMixInClass<typeof TCPServer> = ForkingMixIn(TCPServer);
/** Methods of ForkingTCPServer, declared again so that its doc page lists them. */
export interface ForkingTCPServer extends TCPServer, ThreadingServer, ForkingServer {
  /** See {@linkcode ForkingMixIn}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** See {@linkcode ForkingMixIn}. */
  shutdown(): Promise<void>;
  /** Not supported by the parent, whose children accept: throws. See {@linkcode ForkingMixIn}. */
  handleRequest(): Promise<void>;
  /** See {@linkcode TCPServerBase.serverBind}. */
  serverBind(): void;
  /** See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]>;
  /** See {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** See {@linkcode ThreadingMixIn}. */
  processRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  /** See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Promise<void>;
  /** See {@linkcode StreamServer.shutdownRequest}. */
  shutdownRequest(request: Deno.TcpConn): Promise<void>;
  /** See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.TcpConn): void;
  /** See {@linkcode BaseServer.handleError}. */
  handleError(request: Deno.TcpConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** See {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.TcpConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** See {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** See {@linkcode ForkingMixIn}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
  /** See {@linkcode BaseServer.stats}: the parent sums its children's last reports. */
  stats(): ServerStats;
  /** See {@linkcode ForkingServer.restartChildren}. */
  restartChildren(options?: RestartChildrenOptions): Promise<void>;
  /** See {@linkcode ForkingServer.childStarted}. */
  childStarted(pid: number): Awaitable<void>;
  /** See {@linkcode ForkingServer.childDied}. */
  childDied(death: ChildDeath): Awaitable<void>;
}

/**
 * A {@linkcode TLSServer} served by one child process per core:
 * `ForkingMixIn(TLSServer)`. Each child reads the certificate and key
 * itself: give it read permission for their files (`childPermissions`) when
 * the parent's is partial.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, ForkingTLSServer } from "@x/socketserver";
 * import { localhostCert } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * await using server = new ForkingTLSServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   BaseRequestHandler,
 *   { ...localhostCert, maxChildren: 2 },
 * );
 * assert.equal(server.maxChildren, 2);
 * ```
 */
export const ForkingTLSServer: ForkingMixInClass<typeof TLSServer> = ForkingMixIn(TLSServer);
/** Methods of ForkingTLSServer, declared again so that its doc page lists them. */
export interface ForkingTLSServer extends TLSServer, ThreadingServer, ForkingServer {
  /** See {@linkcode ForkingMixIn}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** See {@linkcode ForkingMixIn}. */
  shutdown(): Promise<void>;
  /** Not supported by the parent, whose children accept: throws. See {@linkcode ForkingMixIn}. */
  handleRequest(): Promise<void>;
  /** See {@linkcode TCPServerBase.serverBind}. */
  serverBind(): void;
  /** See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.TlsConn, Deno.NetAddr]>;
  /** See {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** See {@linkcode ThreadingMixIn}. */
  processRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  /** See {@linkcode TLSServer.finishRequest}. */
  finishRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Promise<void>;
  /** See {@linkcode TLSServer.shutdownRequest}. */
  shutdownRequest(request: Deno.TlsConn): Promise<void>;
  /** See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.TlsConn): void;
  /** See {@linkcode BaseServer.handleError}. */
  handleError(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** See {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** See {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** See {@linkcode ForkingMixIn}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
  /** See {@linkcode BaseServer.stats}: the parent sums its children's last reports. */
  stats(): ServerStats;
  /** See {@linkcode ForkingServer.restartChildren}. */
  restartChildren(options?: RestartChildrenOptions): Promise<void>;
  /** See {@linkcode ForkingServer.childStarted}. */
  childStarted(pid: number): Awaitable<void>;
  /** See {@linkcode ForkingServer.childDied}. */
  childDied(death: ChildDeath): Awaitable<void>;
}
