/**
 * Running a handler in memory: {@linkcode bindInMemory},
 * {@linkcode runHandler} and {@linkcode runDatagramHandler}.
 *
 * @module
 */

import type { AnyServer, RequestHandlerClass } from "../base_server.ts";
import { StreamServer } from "../stream_server.ts";
import { DatagramServer } from "../datagram_server.ts";
import { DatagramRequestHandler } from "../datagram_request_handler.ts";
import { TCPServer } from "../tcp_server.ts";
import { TLSServer } from "../tls_server.ts";
import { formatAddress } from "../_format.ts";
import { UDPServer } from "../udp_server.ts";
import type { MemoryConn, MemoryTcpConn } from "./conn.ts";
import { drain, type MemoryDatagramConn } from "./datagram_conn.ts";
import { connectNow, MemoryNetwork } from "./network.ts";

const networks = new WeakMap<AnyServer, MemoryNetwork>();

/**
 * Binds a server to an in-memory network instead of the system's: in place
 * of `serverBind()`, it sets the server's `socket` to a
 * {@linkcode MemoryListener} (stream servers) or a
 * {@linkcode MemoryDatagramConn} (datagram servers) at the server's
 * address — port 0 picks a free one — and `serverAddress` to the bound
 * address. Everything else is the server's own: call `serverActivate()` as
 * after `serverBind()`, then `serveForever()` or `handleRequest()`, and
 * connect with the network's `connect()` / `listenDatagram()`. No
 * permission is needed, no port or file is taken.
 *
 * The server must be constructed with `{ bindAndActivate: false }`. TLS
 * servers cannot be bound in memory (the handshake needs a real socket):
 * run them with `withServer()`; nor can forking ones (their children run
 * the program again and accept from the real socket).
 *
 * @param server An unbound stream or datagram server.
 * @param network The network to bind on; a new one by default.
 * @returns The network the server is bound on (the same one on a second
 *   call).
 * @throws {TypeError} Not a stream or datagram server, or a TLS or forking
 *   one.
 * @throws {Error} The server is bound to a real socket, or in memory on
 *   another network.
 * @throws {Deno.errors.BadResource} The server is closed.
 * @throws {Deno.errors.AddrInUse} The network has something at the address.
 *
 * @example A whole server in memory, with two clients
 * ```ts
 * import { sendall, StreamRequestHandler, ThreadingTCPServer } from "@x/socketserver";
 * import { bindInMemory } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Echo, {
 *   bindAndActivate: false,
 * });
 * const network = bindInMemory(server);
 * server.serverActivate();
 * server.serveForever();
 * const a = await network.connect(server.serverAddress);
 * const b = await network.connect(server.serverAddress);
 * await sendall(b, "from b\n");
 * await sendall(a, "from a\n");
 * await Promise.all([a.closeWrite(), b.closeWrite()]);
 * assert.equal(await new Response(a.readable).text(), "from a\n");
 * assert.equal(await new Response(b.readable).text(), "from b\n");
 * ```
 */
export function bindInMemory(server: AnyServer, network?: MemoryNetwork): MemoryNetwork {
  const bound = networks.get(server);
  if (bound !== undefined) {
    if (network !== undefined && network !== bound) {
      throw new Error(
        `${server.constructor.name} is already bound in memory on another network: use the network bindInMemory() returned first`,
      );
    }
    return bound;
  }
  const name = server?.constructor?.name ?? String(server);
  if ("activeChildren" in server) {
    throw new TypeError(
      `${name} cannot be bound in memory: its child processes run the program again and accept from the real socket; test its handler in memory on a ThreadingTCPServer, and the server itself as a program`,
    );
  }
  if (server instanceof TLSServer) {
    throw new TypeError(
      `${name} cannot be bound in memory: the TLS handshake needs a real socket; test it with withServer(), and its handler in memory on a TCPServer`,
    );
  }
  if (!(server instanceof StreamServer) && !(server instanceof DatagramServer)) {
    throw new TypeError(
      `bindInMemory() binds a StreamServer or DatagramServer (TCPServer, UnixStreamServer, UDPServer, UnixDatagramServer...), got ${name}`,
    );
  }
  if (server.socket !== undefined) {
    throw new Error(
      `${name} is already bound to "${
        formatAddress(server.serverAddress)
      }": construct it with { bindAndActivate: false } to bind it in memory`,
    );
  }
  if (server.closed) {
    throw new Deno.errors.BadResource(
      `${name} is closed: create a new one to bind it in memory`,
    );
  }
  const net = network ?? new MemoryNetwork();
  const address = server.serverAddress as Deno.NetAddr | Deno.UnixAddr;
  if (server instanceof StreamServer) {
    const listener = address.transport === "unix"
      ? net.listen({ transport: "unix", path: (address as Deno.UnixAddr).path })
      : net.listen({
        hostname: (address as Deno.NetAddr).hostname,
        port: (address as Deno.NetAddr).port,
      });
    server.socket = listener as unknown as Deno.Listener;
    server.serverAddress = listener.addr;
  } else {
    const socket = address.transport === "unixpacket"
      ? net.listenDatagram({ transport: "unixpacket", path: (address as Deno.UnixAddr).path })
      : net.listenDatagram({
        transport: "udp",
        hostname: (address as Deno.NetAddr).hostname,
        port: (address as Deno.NetAddr).port,
      });
    server.socket = socket;
    server.serverAddress = socket.addr;
  }
  networks.set(server, net);
  return net;
}

/**
 * How a request run in memory ended, once the server has closed it.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler } from "@x/socketserver";
 * import { type RequestOutcome, runHandler } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Patient extends StreamRequestHandler {
 *   override timeout = 10;
 *   override async handle() {
 *     await this.rfile.readline(); // nothing comes: TimeoutError
 *   }
 * }
 * await using run = runHandler(Patient);
 * const outcome: RequestOutcome = await run.done;
 * assert.equal((outcome.drops[0] as Error).name, "TimeoutError");
 * ```
 */
export interface RequestOutcome {
  /** What reached the server's `handleDrop()` for this request, in order:
   * a reset, a timeout, a line over the limit... Empty when it ended
   * normally. */
  readonly drops: readonly unknown[];
}

/** What one request's hooks report. */
class Tracker {
  readonly drops: unknown[] = [];
  readonly settled: PromiseWithResolvers<RequestOutcome> = Promise.withResolvers();
  #error: { value: unknown } | null = null;
  #ended = false;
  /** The server has taken the request (it reached `verifyRequest()`). */
  taken = false;
  /** `finishRequest()` is running: the handler has not returned yet. */
  handling = false;

  constructor() {
    // observed through `done` or dispose, never an unhandled rejection
    this.settled.promise.catch(() => {});
  }

  fail(error: unknown): void {
    this.#error ??= { value: error };
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#error !== null) this.settled.reject(this.#error.value);
    else this.settled.resolve({ drops: this.drops });
  }

  abort(error: unknown): void {
    this.fail(error);
    this.end();
  }
}

/** A server the kit drives: its network, the requests it tracks, and the
 * queue of `handleRequest()` calls (one at a time, as the serve loop). */
class Harness {
  readonly requests = new Map<unknown, Tracker>();
  /** Datagram requests by their sender's address, until `verifyRequest()`
   * meets them. */
  readonly senders = new Map<string, Tracker>();
  readonly network: MemoryNetwork;
  #queue: Promise<void>;

  constructor(readonly server: AnyServer, readonly own: boolean, network?: MemoryNetwork) {
    // a server bound in memory by its caller was activated by the caller
    const fresh = !networks.has(server);
    this.network = bindInMemory(server, network);
    const activated = fresh ? server.serverActivate() : undefined;
    this.#queue = activated instanceof Promise ? activated : Promise.resolve();
    this.#observe();
  }

  /** Has the server take the next request, unless its serve loop does. */
  schedule(tracker: Tracker): void {
    if (this.server.serving) return;
    const next = this.#queue.then(() => this.server.handleRequest());
    next.catch((error) => tracker.abort(error));
    this.#queue = next.catch(() => {});
  }

  /** Wraps the hooks that report on a request, on this instance only: each
   * still runs the server's own, except that a server the kit made does not
   * print errors, which the run reports instead. */
  #observe(): void {
    const server = this.server;
    const { handleError, handleDrop, closeRequest, verifyRequest, finishRequest } = server;
    const requests = this.requests;
    const own = this.own;
    server.handleError = function (request: unknown, address: unknown, error: unknown) {
      const tracker = requests.get(request);
      tracker?.fail(error);
      if (tracker !== undefined && own) return;
      return handleError.call(this, request, address, error);
    };
    server.handleDrop = function (request: unknown, address: unknown, error: unknown) {
      requests.get(request)?.drops.push(error);
      return handleDrop.call(this, request, address, error);
    };
    server.finishRequest = function (request: unknown, address: unknown) {
      const tracker = requests.get(request);
      if (tracker === undefined) return finishRequest.call(this, request, address);
      tracker.handling = true;
      let finished: unknown;
      try {
        finished = finishRequest.call(this, request, address);
      } catch (error) {
        tracker.handling = false;
        throw error;
      }
      if (finished instanceof Promise) return finished.finally(() => tracker.handling = false);
      tracker.handling = false;
      return finished as Promise<void>;
    };
    server.closeRequest = function (request: unknown) {
      const tracker = requests.get(request);
      const end = () => {
        // closed under a running handler (serverClose()'s deadline): the
        // request ends when the handler has, with the closeRequest() that
        // follows it
        if (tracker === undefined || tracker.handling) return;
        requests.delete(request);
        tracker.end();
      };
      let closed: unknown;
      try {
        closed = closeRequest.call(this, request);
      } catch (error) {
        end();
        throw error;
      }
      if (closed instanceof Promise) return closed.finally(end);
      end();
      return closed as void;
    };
    // verifyRequest() is the first hook a request taken by the server meets,
    // and is looked up per request even by a serve loop already running
    const senders = server instanceof DatagramServer ? this.senders : null;
    server.verifyRequest = function (request: unknown, address: unknown) {
      if (senders !== null) {
        // a datagram request is a new array: find its run by the sender
        const key = formatAddress(address);
        const tracker = senders.get(key);
        if (tracker !== undefined) {
          senders.delete(key);
          requests.set(request, tracker);
        }
      }
      const tracker = requests.get(request);
      if (tracker !== undefined) tracker.taken = true;
      return verifyRequest.call(this, request, address);
    };
  }
}

const harnesses = new WeakMap<AnyServer, Harness>();

function harness(server: AnyServer, own: boolean, network?: MemoryNetwork): Harness {
  let h = harnesses.get(server);
  if (h === undefined) {
    h = new Harness(server, own, network);
    harnesses.set(server, h);
  } else if (network !== undefined && network !== h.network) {
    throw new Error(
      `${server.constructor.name} already runs on another in-memory network: leave out "network", or pass the one it runs on`,
    );
  }
  return h;
}

function closedServer(server: AnyServer): Deno.errors.BadResource {
  return new Deno.errors.BadResource(
    `Cannot run a request on a closed ${server.constructor.name}: create a new server for it`,
  );
}

function checkHandler(
  Handler: unknown,
  server: AnyServer | undefined,
  datagram: boolean,
): void {
  const proto = (Handler as { prototype?: unknown } | null)?.prototype;
  const isDatagram = typeof Handler === "function" &&
    proto instanceof DatagramRequestHandler;
  if (isDatagram && !datagram) {
    throw new TypeError(
      `${
        (Handler as { name: string }).name
      } is a DatagramRequestHandler: run it with runDatagramHandler()`,
    );
  }
  if (server !== undefined && server.RequestHandlerClass !== Handler) {
    throw new TypeError(
      `The server runs ${server.RequestHandlerClass?.name}, not ${
        (Handler as { name?: string } | null)?.name ?? String(Handler)
      }: construct the server with the handler class under test`,
    );
  }
}

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
export type MemoryConnOf<S> = S extends StreamServer<infer C, infer _SA>
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
