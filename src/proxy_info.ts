/**
 * {@linkcode ProxyInfo}: what a connection's PROXY protocol header said, and who sent it;
 * {@linkcode proxyInfo} finds it for a request.
 *
 * @module
 */

import type { ProxyHeader } from "./proxy_protocol.ts";

/**
 * What a server with `proxyProtocol` set learnt from a connection's header: the proxy's address
 * and the header. A handler reads it as {@linkcode BaseRequestHandler.proxy}, a server hook as
 * `proxyInfo(request)`; `clientAddress` is already the header's source. See docs/deployment.md.
 *
 * @example Reading what HAProxy's `send-proxy-v2` told
 * ```ts
 * import {
 *   type ProxyInfo,
 *   sendall,
 *   StreamRequestHandler,
 *   ThreadingTCPServer,
 * } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const seen: ProxyInfo[] = [];
 * class Hello extends StreamRequestHandler {
 *   override async handle() {
 *     seen.push(this.proxy!);
 *     await this.wfile.write(`hello ${this.clientAddress.hostname}\n`);
 *   }
 * }
 * await using server = new ThreadingTCPServer(["127.0.0.1", 0], Hello, {
 *   proxyProtocol: "v1",
 *   trustedProxies: ["127.0.0.0/8"],
 * });
 * server.serveForever();
 * const conn = await Deno.connect(server.serverAddress); // as a proxy would
 * await sendall(conn, "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n");
 * assert.equal(await new Response(conn.readable).text(), "hello 192.0.2.7\n");
 * assert.equal(seen[0].header.command, "PROXY");
 * assert.equal((seen[0].proxyAddress as Deno.NetAddr).hostname, "127.0.0.1");
 * ```
 */
export interface ProxyInfo {
  /** The proxy's own address: the connection's peer, `clientAddress` but for the header. */
  readonly proxyAddress: Deno.NetAddr | Deno.UnixAddr;
  /** The header as received: version, command, addresses, TLVs. */
  readonly header: ProxyHeader;
}

/** Where a connection keeps its header: a property, cheaper than a WeakMap (bench/README.md). */
const kInfo: unique symbol = Symbol("socketserver.proxyInfo");

/**
 * The PROXY protocol header a request (a connection) arrived with, and its proxy's address;
 * `null` when its server's `proxyProtocol` is `null`.
 *
 * @example In `verifyRequest()`: only clients that came through TLS
 * ```ts
 * import { proxyInfo, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class TlsOnly extends TCPServer {
 *   override verifyRequest(conn: Deno.TcpConn) {
 *     return (proxyInfo(conn)?.header.tlvs.ssl?.client ?? 0) & 0x01 ? true : false;
 *   }
 * }
 * assert.equal(proxyInfo({}), null); // no header: no proxyProtocol
 * ```
 */
export function proxyInfo(request: unknown): ProxyInfo | null {
  if (request === null || typeof request !== "object") return null;
  return (request as { [kInfo]?: ProxyInfo })[kInfo] ?? null;
}

/** Internal: records what `request`'s header said. Not exported from `mod.ts`. */
export function setProxyInfo(request: object, info: ProxyInfo): void {
  (request as { [kInfo]?: ProxyInfo })[kInfo] = info;
}
