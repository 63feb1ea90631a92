/**
 * {@linkcode runHandler}: one request of a stream handler, run in memory.
 *
 * @module
 */

import type { AnyServer, RequestHandlerClass } from "../base_server.ts";
import { DatagramServer } from "../datagram_server.ts";
import type { StreamServer } from "../stream_server.ts";
import { TCPServer } from "../tcp_server.ts";
import type { MemoryConn, MemoryTcpConn } from "./conn.ts";
import { checkHandler, closedServer, harness, type RequestOutcome, Tracker } from "./_harness.ts";
import { connectNow, type MemoryNetwork } from "./network.ts";

/**
 * Options of {@linkcode runHandler}.
 *
 * @typeParam S The server type.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "@x/socketserver";
 * import { runHandler, type RunHandlerOptions } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Where extends StreamRequestHandler {
 *   override async handle() {
 *     await this.wfile.write(`${this.clientAddress.hostname}\n`);
 *   }
 * }
 * const options: RunHandlerOptions<TCPServer> = {
 *   clientAddr: { transport: "tcp", hostname: "203.0.113.9", port: 50000 },
 * };
 * await using run = runHandler(Where, options);
 * assert.equal(await new Response(run.client.readable).text(), "203.0.113.9\n");
 * ```
 */
export interface RunHandlerOptions<S extends AnyServer = TCPServer> {
  /** The server to run the request on, constructed with the handler class
   * and `{ bindAndActivate: false }`; it is bound in memory on first use
   * and stays the caller's to close. Default: a `TCPServer` on
   * `127.0.0.1`, made for this run and closed with it. */
  server?: S;
  /** The client's address, which the handler sees as `clientAddress`.
   * Default: `127.0.0.1` on a free port (TCP), an unnamed socket (Unix). */
  clientAddr?: Deno.NetAddr | Deno.UnixAddr;
  /** The network to bind the server on, when it is not bound yet: to share
   * one with other servers or clients. Default: a new one. */
  network?: MemoryNetwork;
}

/**
 * One request run in memory by {@linkcode runHandler}: the client's end of
 * the connection, and the request's end.
 *
 * `await using` it: at the end of the scope it closes the client (unless
 * closed), waits for the request to end, closes the server if the run made
 * it, and throws the error that reached `handleError()` unless `done` was
 * read.
 *
 * @typeParam S The server type.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler } from "@x/socketserver";
 * import { type HandlerRun, runHandler } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Hello extends StreamRequestHandler {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * await using run: HandlerRun = runHandler(Hello);
 * assert.equal(await new Response(run.client.readable).text(), "hello\n");
 * assert.deepEqual(await run.done, { drops: [] });
 * assert.equal(run.connection.closed, true); // the server closed it
 * ```
 */
export interface HandlerRun<S extends AnyServer = TCPServer> extends AsyncDisposable {
  /** The server running the request. */
  readonly server: S;
  /** The client's end: write the request, read the reply. */
  readonly client: MemoryConnOf<S>;
  /** The server's end: the handler's `this.request`. */
  readonly connection: MemoryConnOf<S>;
  /** Settles once the server has closed the request: resolves to how it
   * ended, or rejects with what reached `handleError()`. */
  readonly done: Promise<RequestOutcome>;
}

/**
 * The in-memory connection a stream server `S` hands its handlers: a
 * {@linkcode MemoryConn} with Unix addresses for a Unix server, else a
 * {@linkcode MemoryTcpConn}.
 *
 * @typeParam S The server type.
 *
 * @example
 * ```ts
 * import type { TCPServer, UnixStreamServer } from "@x/socketserver";
 * import type { MemoryConn, MemoryConnOf, MemoryTcpConn } from "@x/socketserver/testing";
 *
 * const tcp: MemoryConnOf<TCPServer> | undefined = undefined as MemoryTcpConn | undefined;
 * const unix: MemoryConnOf<UnixStreamServer> | undefined = undefined as
 *   | MemoryConn<Deno.UnixAddr>
 *   | undefined;
 * ```
 */
export type MemoryConnOf<S> = S extends StreamServer<infer C, infer _SA, infer _A>
  ? C extends Deno.Conn<Deno.UnixAddr> ? MemoryConn<Deno.UnixAddr> : MemoryTcpConn
  : MemoryTcpConn;

class Run<S extends AnyServer> implements HandlerRun<S> {
  readonly server: S;
  readonly client: MemoryConnOf<S>;
  readonly connection: MemoryConnOf<S>;
  #tracker: Tracker;
  #own: boolean;
  #observed = false;

  constructor(
    server: S,
    client: MemoryConn,
    connection: MemoryConn,
    tracker: Tracker,
    own: boolean,
  ) {
    this.server = server;
    this.client = client as MemoryConnOf<S>;
    this.connection = connection as MemoryConnOf<S>;
    this.#tracker = tracker;
    this.#own = own;
  }

  get done(): Promise<RequestOutcome> {
    this.#observed = true;
    return this.#tracker.settled.promise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.client.closed) this.client.close();
    // a request still waiting behind others (a plain server takes one at a
    // time) is left to the server, which will find the client gone, as a
    // real one would: waiting for it here could wait for ever
    if (!this.#tracker.taken && !this.#own) return;
    let failure: { error: unknown } | null = null;
    try {
      await this.#tracker.settled.promise;
    } catch (error) {
      failure = { error };
    }
    if (this.#own) await this.server.serverClose();
    if (failure !== null && !this.#observed) throw failure.error;
  }
}

/**
 * Runs one request of a stream handler class in memory: connects an
 * in-memory client to the server and has the server take the connection
 * with its own `handleRequest()` — `getRequest()`, `verifyRequest()`,
 * `processRequest()`, `finishRequest()` (the handler's `setup()`,
 * `handle()`, `finish()`), `shutdownRequest()`, `closeRequest()`, with
 * `handleError()` / `handleDrop()` on the way and the handler's timeouts —
 * exactly as over a socket. Needs no permission, no port and no timer.
 *
 * Give a `server` to run on your own (a subclass with state, a
 * `ThreadingTCPServer`, a `UnixStreamServer`...), constructed with
 * `{ bindAndActivate: false }`; it is bound in memory on first use (see
 * {@linkcode bindInMemory}), and runs on it queue up as on a real one: a
 * plain server handles one at a time, a threading one all at once. Without
 * one, a `TCPServer` on `127.0.0.1` is made for the run, and errors go to
 * `done` instead of stderr.
 *
 * @typeParam S The server type.
 * @param Handler The stream handler class under test.
 * @param options The server, the client's address, the network.
 * @returns The run: `client`, `connection`, `done`; `await using` it.
 * @throws {TypeError} A datagram handler, or a server that runs another
 *   handler class, or one that cannot run in memory (TLS, forking).
 * @throws {Deno.errors.BadResource} The server is closed.
 *
 * @example A handler test in ten lines
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
 * await sendall(run.client, "hello\nworld\n");
 * await run.client.closeWrite();
 * assert.equal(await new Response(run.client.readable).text(), "HELLO\nWORLD\n");
 * ```
 *
 * @example A handler that throws: `done` rejects with the error
 * ```ts
 * import { StreamRequestHandler } from "@x/socketserver";
 * import { runHandler } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Strict extends StreamRequestHandler {
 *   override async handle() {
 *     const line = await this.rfile.readline();
 *     if (!line.length) throw new TypeError("an empty request");
 *   }
 * }
 * await using run = runHandler(Strict);
 * await run.client.closeWrite();
 * await assert.rejects(run.done, TypeError);
 * ```
 */
export function runHandler<S extends AnyServer = TCPServer>(
  // deno-lint-ignore no-explicit-any
  Handler: RequestHandlerClass<any, any>,
  options: RunHandlerOptions<S> = {},
): HandlerRun<S> {
  checkHandler(Handler, options.server, false);
  const own = options.server === undefined;
  const server = options.server ??
    new TCPServer({ hostname: "127.0.0.1", port: 0 }, Handler, { bindAndActivate: false });
  if (server instanceof DatagramServer) {
    throw new TypeError(
      `${server.constructor.name} is a datagram server: run its handler with runDatagramHandler()`,
    );
  }
  if (server.closed) throw closedServer(server);
  const h = harness(server, own, options.network);
  const [client, connection] = connectNow(h.network, {
    ...(server.serverAddress as Deno.NetAddr),
    ...(options.clientAddr === undefined ? {} : { clientAddr: options.clientAddr }),
  });
  const tracker = new Tracker();
  h.requests.set(connection, tracker);
  h.schedule(tracker);
  return new Run(server as S, client, connection, tracker, own);
}
