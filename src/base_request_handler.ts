/**
 * {@linkcode BaseRequestHandler}: the base of every request handler.
 *
 * @module
 */

import type { AnyServer, Awaitable, ClientAddressOf, RequestOf } from "./base_server.ts";
import type { TCPServer } from "./tcp_server.ts";
import { type ProxyInfo, proxyInfo } from "./proxy_info.ts";
import { registerBuiltins } from "./_fused_flow.ts";

/**
 * The base of every request handler, Python's `socketserver.BaseRequestHandler`: one instance per
 * request, whose `setup()`, `handle()` and `finish()` (even when `handle()` throws) the server
 * calls; any may be async. Unlike Python's, the constructor only stores its arguments, so fields
 * may have initialisers.
 *
 * @typeParam S The server type, for a typed `this.server`.
 * @typeParam R The request type: for stream servers the connection.
 * @typeParam A The client address type.
 *
 * @example The seed's handler: one read, the reply upper-cased
 * ```ts
 * import { BaseRequestHandler, sendall, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class MyTCPHandler extends BaseRequestHandler {
 *   override async handle() {
 *     const buffer = new Uint8Array(1024);
 *     const n = await this.request.read(buffer) ?? 0;
 *     const data = new TextDecoder().decode(buffer.subarray(0, n)).trim();
 *     await sendall(this.request, data.toUpperCase());
 *   }
 * }
 * await using server = new TCPServer(["127.0.0.1", 0], MyTCPHandler);
 * server.serveForever();
 * const conn = await Deno.connect(server.serverAddress);
 * await sendall(conn, "hello\n");
 * assert.equal(await new Response(conn.readable).text(), "HELLO");
 * ```
 */
export class BaseRequestHandler<
  S extends AnyServer = TCPServer,
  R = RequestOf<S>,
  A = ClientAddressOf<S>,
> {
  /** The request: the connection for stream servers, `[packet, socket]` for datagram servers. */
  readonly request: R;
  /** The client's address. Python: `client_address`. */
  readonly clientAddress: A;
  /** The server handling this request. */
  readonly server: S;

  /** Stores its arguments; the server constructs handlers. */
  constructor(request: R, clientAddress: A, server: S) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

  /**
   * What the connection's PROXY protocol header said when the server's `proxyProtocol` is set,
   * else `null`. `clientAddress` is already the header's client.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, sendall } from "@x/socketserver";
   *
   * class Where extends BaseRequestHandler {
   *   override async handle() {
   *     const via = this.proxy?.proxyAddress;
   *     await sendall(this.request, `${this.clientAddress.hostname} via ${JSON.stringify(via)}\n`);
   *   }
   * }
   * ```
   */
  get proxy(): ProxyInfo | null {
    return proxyInfo(this.request);
  }

  /**
   * Prepares the handler, before `handle()`. Does nothing here.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler } from "@x/socketserver";
   *
   * class Greeter extends BaseRequestHandler {
   *   greeting = "";
   *   override setup() {
   *     this.greeting = `hello ${this.clientAddress.hostname}`;
   *   }
   * }
   * ```
   */
  setup(): Awaitable<void> {}

  /**
   * Serves the request: what every handler overrides. Does nothing here.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, sendall } from "@x/socketserver";
   *
   * class Hello extends BaseRequestHandler {
   *   override async handle() {
   *     await sendall(this.request, "hello\n");
   *   }
   * }
   * ```
   */
  handle(): Awaitable<void> {}

  /**
   * Cleans up after `handle()`, even when it threw. Does nothing here.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler } from "@x/socketserver";
   *
   * class Audited extends BaseRequestHandler {
   *   override finish() {
   *     console.log("done with", this.clientAddress.hostname);
   *   }
   * }
   * ```
   */
  finish(): Awaitable<void> {}
}

registerBuiltins(BaseRequestHandler.prototype, ["setup", "finish"], {
  noSetup: "setup",
  noFinish: "finish",
});
