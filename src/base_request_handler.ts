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
   * import { BaseRequestHandler, sendall, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * class Where extends BaseRequestHandler {
   *   override async handle() {
   *     const via = this.proxy?.proxyAddress as Deno.NetAddr;
   *     await sendall(this.request, `${this.clientAddress.hostname} via ${via.hostname}\n`);
   *   }
   * }
   * await using server = new TCPServer(["127.0.0.1", 0], Where, {
   *   proxyProtocol: "v1",
   *   trustedProxies: ["127.0.0.1"],
   * });
   * const client = await Deno.connect(server.serverAddress); // as a balancer would
   * await sendall(client, "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n");
   * await server.handleRequest();
   * assert.equal(await new Response(client.readable).text(), "192.0.2.7 via 127.0.0.1\n");
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
   * import { BaseRequestHandler, sendall, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * class Greeter extends BaseRequestHandler {
   *   greeting = "";
   *   override setup() {
   *     this.greeting = `hello ${this.clientAddress.hostname}\n`;
   *   }
   *   override async handle() {
   *     await sendall(this.request, this.greeting);
   *   }
   * }
   * await using server = new TCPServer(["127.0.0.1", 0], Greeter);
   * const client = await Deno.connect(server.serverAddress);
   * await server.handleRequest();
   * assert.equal(await new Response(client.readable).text(), "hello 127.0.0.1\n");
   * ```
   */
  setup(): Awaitable<void> {}

  /**
   * Serves the request: what every handler overrides. Does nothing here.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, sendall, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * class Hello extends BaseRequestHandler {
   *   override async handle() {
   *     await sendall(this.request, "hello\n");
   *   }
   * }
   * await using server = new TCPServer(["127.0.0.1", 0], Hello);
   * const client = await Deno.connect(server.serverAddress);
   * await server.handleRequest();
   * assert.equal(await new Response(client.readable).text(), "hello\n");
   * ```
   */
  handle(): Awaitable<void> {}

  /**
   * Cleans up after `handle()`, even when it threw. Does nothing here.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TCPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const finished: string[] = [];
   * class Audited extends BaseRequestHandler {
   *   override handle() {
   *     throw new Error("boom");
   *   }
   *   override finish() {
   *     finished.push(this.clientAddress.hostname);
   *   }
   * }
   * class Quiet extends TCPServer {
   *   override handleError() {}
   * }
   * await using server = new Quiet(["127.0.0.1", 0], Audited);
   * using _client = await Deno.connect(server.serverAddress);
   * await server.handleRequest();
   * assert.deepEqual(finished, ["127.0.0.1"]); // although handle() threw
   * ```
   */
  finish(): Awaitable<void> {}
}

registerBuiltins(BaseRequestHandler.prototype, ["setup", "finish"], {
  noSetup: "setup",
  noFinish: "finish",
});
