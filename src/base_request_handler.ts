/**
 * {@linkcode BaseRequestHandler}: the base of every request handler.
 *
 * @module
 */

import type { AnyServer, Awaitable, ClientAddressOf, RequestOf } from "./base_server.ts";
import type { TCPServer } from "./tcp_server.ts";

/**
 * The base of every request handler, Python's
 * `socketserver.BaseRequestHandler`: one instance per request, whose
 * `setup()`, `handle()` and `finish()` the server calls in that order —
 * `finish()` even when `handle()` throws. Any of them may be async.
 *
 * Unlike Python, the constructor only stores its arguments; the server calls
 * the three methods afterwards (a constructor cannot be awaited), so
 * subclasses may declare fields with initialisers freely.
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
 * await using server = new TCPServer({ hostname: "127.0.0.1", port: 0 }, MyTCPHandler);
 * server.serveForever();
 * const conn = await Deno.connect(server.serverAddress);
 * await sendall(conn, "hello\n");
 * const reply = new Uint8Array(1024);
 * assert.equal(new TextDecoder().decode(reply.subarray(0, (await conn.read(reply))!)), "HELLO");
 * conn.close();
 * ```
 */
export class BaseRequestHandler<
  S extends AnyServer = TCPServer,
  R = RequestOf<S>,
  A = ClientAddressOf<S>,
> {
  /** The request: the connection for stream servers, `[packet, socket]` for
   * datagram servers. */
  readonly request: R;
  /** The client's address. Python: `client_address`. */
  readonly clientAddress: A;
  /** The server handling this request. */
  readonly server: S;

  /**
   * Stores the request, the client's address and the server. The server
   * constructs handlers; user code rarely does.
   *
   * @param request The request.
   * @param clientAddress The client's address.
   * @param server The server.
   */
  constructor(request: R, clientAddress: A, server: S) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

  /**
   * Called before `handle()` to prepare the handler. Does nothing here.
   *
   * @returns When ready.
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
   * Serves the request: the method every handler overrides. Does nothing
   * here.
   *
   * @returns When the request is served.
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
   * Called after `handle()`, even when it threw, to clean up. Does nothing
   * here.
   *
   * @returns When cleaned up.
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
