/**
 * {@linkcode withServer}: a real server on a free loopback port or a
 * temporary Unix path, for the length of a callback.
 *
 * @module
 */

import type { RequestHandlerClass } from "../base_server.ts";
import type { ServerClass } from "../threading.ts";
import { UnixDatagramServer } from "../unix_datagram_server.ts";
import { UnixStreamServer } from "../unix_stream_server.ts";

/**
 * Options of {@linkcode withServer}.
 *
 * @typeParam O The server's constructor options.
 *
 * @example A TLS server, its certificate given to the constructor
 * ```ts
 * import { StreamRequestHandler, TLSServer, type TLSServerOptions } from "@x/socketserver";
 * import { localhostCert, withServer, type WithServerOptions } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * const { cert, key } = localhostCert;
 * class Hello extends StreamRequestHandler<TLSServer> {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * const options: WithServerOptions<TLSServerOptions> = { serverOptions: { cert, key } };
 * await withServer(TLSServer, Hello, options, async (server) => {
 *   const conn = await Deno.connectTls({
 *     hostname: "localhost",
 *     port: server.serverAddress.port,
 *     caCerts: [cert],
 *   });
 *   assert.equal(await new Response(conn.readable).text(), "hello\n");
 * });
 * ```
 */
export interface WithServerOptions<O = unknown> {
  /** The server's constructor options: attributes, TLS `cert` and `key`... */
  serverOptions?: O;
  /** Where to listen. Default: `{ hostname: "127.0.0.1", port: 0 }`, or for
   * a Unix server `{ path }` in a new temporary directory, removed after. */
  address?: unknown;
  /** `serveForever()`'s `pollInterval`, in ms. @default {500} */
  pollInterval?: number | null;
  /** How long `serverClose()` waits for requests still running after the
   * callback, in ms, before it closes them; after a callback that threw it
   * closes them at once. @default {Infinity} */
  graceMs?: number;
}

/** The callback of {@linkcode withServer}: given the serving server and its
 * bound address.
 *
 * @typeParam C The server class.
 * @typeParam T What the callback returns.
 *
 * @example
 * ```ts
 * import type { TCPServer } from "@x/socketserver";
 * import type { ServerCallback } from "@x/socketserver/testing";
 *
 * const ping: ServerCallback<typeof TCPServer, void> = async (_server, address) => {
 *   (await Deno.connect(address)).close();
 * };
 * ```
 */
export type ServerCallback<C extends ServerClass, T> = (
  server: InstanceType<C>,
  address: InstanceType<C>["serverAddress"],
) => T | Promise<T>;

function isUnix(Class: ServerClass): boolean {
  const proto = Class.prototype;
  return [UnixStreamServer, UnixDatagramServer].some((Unix) =>
    proto === Unix.prototype || proto instanceof Unix
  );
}

/**
 * Runs `fn` with a real server serving: constructs `ServerClass` on a free
 * loopback port (`127.0.0.1`, port 0) — or, for a Unix server, on a socket
 * in a new temporary directory — starts `serveForever()`, calls `fn(server,
 * address)`, and whatever `fn` does, shuts the server down, closes it
 * (waiting for the requests still running, at most `graceMs`; none after
 * `fn` threw, whose error it then rethrows) and removes the directory, so
 * Deno's sanitizers find nothing left. Works with the
 * TCP, UDP, TLS (give `serverOptions`) and Unix servers and their threading
 * variants; not with forking ones, whose children run the program again.
 *
 * It binds a real socket, so it needs `--allow-net` (and `--allow-read`
 * and `--allow-write` for the temporary directory of a Unix server); to
 * test a handler with no permission, see `runHandler()`.
 *
 * @typeParam C The server class.
 * @typeParam T What `fn` returns.
 * @param ServerClass The server class, e.g. `ThreadingTCPServer`.
 * @param Handler The handler class.
 * @param optionsOrFn The options, or `fn`.
 * @param fn The test: `(server, address) => ...`, with `address` the bound
 *   `serverAddress`.
 * @returns What `fn` returns.
 * @throws {unknown} What `fn`, the constructor or `serveForever()` threw.
 *
 * @example
 * ```ts
 * import { sendall, StreamRequestHandler, ThreadingTCPServer } from "@x/socketserver";
 * import { withServer } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * await withServer(ThreadingTCPServer, Echo, async (_server, address) => {
 *   const conn = await Deno.connect(address);
 *   await sendall(conn, "hi\n");
 *   await conn.closeWrite();
 *   assert.equal(await new Response(conn.readable).text(), "hi\n");
 * });
 * ```
 *
 * @example A Unix datagram server in a temporary directory
 * ```ts
 * import { DatagramRequestHandler, UnixDatagramServer } from "@x/socketserver";
 * import { withServer } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DatagramRequestHandler<UnixDatagramServer> {
 *   override async handle() {
 *     await this.wfile.write(this.packet);
 *   }
 * }
 * await withServer(UnixDatagramServer, Echo, async (_server, address) => {
 *   const client = Deno.listenDatagram({ transport: "unixpacket", path: `${address.path}.client` });
 *   try {
 *     await client.send(new TextEncoder().encode("ping"), address);
 *     const [reply] = await client.receive();
 *     assert.equal(new TextDecoder().decode(reply), "ping");
 *   } finally {
 *     client.close();
 *   }
 * });
 * ```
 */
export function withServer<C extends ServerClass, T>(
  ServerClass: C,
  // deno-lint-ignore no-explicit-any
  Handler: RequestHandlerClass<any, any>,
  fn: ServerCallback<C, T>,
): Promise<T>;
/**
 * {@linkcode withServer} with options: the server's constructor options, the
 * address, the serve loop's `pollInterval`, the close's `graceMs`.
 *
 * @typeParam C The server class.
 * @typeParam T What `fn` returns.
 * @param ServerClass The server class.
 * @param Handler The handler class.
 * @param options The options.
 * @param fn The test: `(server, address) => ...`.
 * @returns What `fn` returns.
 *
 * @example A server attribute set for the test
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "@x/socketserver";
 * import { withServer } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Hello extends StreamRequestHandler {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * await withServer(TCPServer, Hello, { serverOptions: { timeout: 1000 } }, async (server) => {
 *   assert.equal(server.timeout, 1000);
 *   const conn = await Deno.connect(server.serverAddress);
 *   assert.equal(await new Response(conn.readable).text(), "hello\n");
 * });
 * ```
 */
export function withServer<C extends ServerClass, T>(
  ServerClass: C,
  // deno-lint-ignore no-explicit-any
  Handler: RequestHandlerClass<any, any>,
  options: WithServerOptions<ConstructorParameters<C>[2]>,
  fn: ServerCallback<C, T>,
): Promise<T>;
export async function withServer<C extends ServerClass, T>(
  ServerClass: C,
  // deno-lint-ignore no-explicit-any
  Handler: RequestHandlerClass<any, any>,
  optionsOrFn: WithServerOptions<ConstructorParameters<C>[2]> | ServerCallback<C, T>,
  fn?: ServerCallback<C, T>,
): Promise<T> {
  const options = typeof optionsOrFn === "function" ? {} : optionsOrFn;
  const callback = typeof optionsOrFn === "function" ? optionsOrFn : fn;
  if (typeof callback !== "function") {
    throw new TypeError("withServer() needs a callback: withServer(ServerClass, Handler, fn)");
  }
  let dir: string | undefined;
  let address = options.address;
  if (address === undefined) {
    if (isUnix(ServerClass)) {
      dir = await Deno.makeTempDir({ prefix: "socketserver-" });
      address = { path: `${dir}/server.sock` };
    } else {
      address = { hostname: "127.0.0.1", port: 0 };
    }
  }
  try {
    const server = new ServerClass(address, Handler, options.serverOptions) as InstanceType<C>;
    let serving: Promise<void> | undefined;
    let failed = false;
    try {
      serving = server.serveForever(
        options.pollInterval === undefined ? 500 : options.pollInterval,
      );
      serving.catch(() => {}); // awaited below, after the callback
      return await callback(server, server.serverAddress);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      await server.shutdown();
      // after a throw, at once: a client the callback left open would keep
      // its request, and so the close, waiting for ever
      const graceMs = failed ? 0 : options.graceMs;
      await server.serverClose(graceMs === undefined ? {} : { graceMs });
      // a failed serve loop is the error to report, unless the callback threw
      if (serving !== undefined && !failed) await serving;
    }
  } finally {
    if (dir !== undefined) await Deno.remove(dir, { recursive: true });
  }
}
