/**
 * {@linkcode TLSServer}: a stream server on `Deno.listenTls`.
 *
 * @module
 */

import {
  type Awaitable,
  BaseServer,
  type RequestHandlerClass,
  type ServerCloseOptions,
} from "./base_server.ts";
import {
  type NetAddress,
  type NetAddressTuple,
  type TcpAddr,
  TCPServerBase,
  type TCPServerOptions,
} from "./tcp_server.ts";
import { asDrop } from "./errors.ts";
import { declareAttributes } from "./_attributes.ts";
import { nullableDuration } from "./_checks.ts";
import { deadline } from "./_deadline.ts";
import { formatAddress, withContext } from "./_format.ts";
import { kAttribute, kCloseSocket, kHoldSlot, kListen } from "./_symbols.ts";

/**
 * Options of {@linkcode TLSServer}: the certificate and key, and the
 * {@linkcode TCPServer} options; each attribute option overrides the class
 * attribute of the same name for this instance.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TLSServer, type TLSServerOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: TLSServerOptions = {
 *   cert: await Deno.readTextFile(new URL("../tests/tls/localhost.crt", import.meta.url)),
 *   key: await Deno.readTextFile(new URL("../tests/tls/localhost.key", import.meta.url)),
 *   alpnProtocols: ["h2", "http/1.1"],
 *   handshakeTimeout: 10_000,
 * };
 * await using server = new TLSServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   BaseRequestHandler,
 *   options,
 * );
 * assert.deepEqual(server.alpnProtocols, ["h2", "http/1.1"]);
 * assert.equal(server.handshakeTimeout, 10_000);
 * ```
 */
export interface TLSServerOptions extends TCPServerOptions {
  /** The certificate chain, PEM text (`Deno.readTextFileSync("cert.pem")`). */
  cert: string;
  /** The private key, PEM text. */
  key: string;
  /** The ALPN protocols to offer, most preferred first; the one agreed on is
   * `(await request.handshake()).alpnProtocol` in a handler. */
  alpnProtocols?: string[];
  /** {@linkcode TLSServer.handshakeTimeout}. */
  handshakeTimeout?: number | null;
}

function checkTlsOptions(options: unknown): void {
  const o = (options ?? {}) as Partial<TLSServerOptions>;
  for (const name of ["cert", "key"] as const) {
    if (typeof o[name] !== "string" || o[name] === "") {
      throw new TypeError(
        `TLSServer needs "${name}" as PEM text, got ${
          o[name] === "" ? '""' : typeof o[name]
        }: pass { cert: Deno.readTextFileSync("cert.pem"), key: Deno.readTextFileSync("key.pem") }`,
      );
    }
  }
  const alpn = o.alpnProtocols;
  if (
    alpn !== undefined &&
    (!Array.isArray(alpn) || alpn.some((p) => typeof p !== "string" || p === ""))
  ) {
    throw new TypeError(
      `"alpnProtocols" must be an array of non-empty strings such as ["h2", "http/1.1"], got ${
        JSON.stringify(alpn)
      }`,
    );
  }
}

/** Whether `Deno.listenTls` threw because of the certificate or key. */
function isCertificateError(error: unknown): boolean {
  return error instanceof Deno.errors.InvalidData ||
    (error instanceof Error && error.constructor === Error && /\b(cert|key)/i.test(error.message));
}

/** The connections whose handshake completed: only those can be shut down
 * with `closeWrite()`, which otherwise waits for the handshake for ever. */
const handshaken = new WeakSet<Deno.TlsConn>();

/** Handshakes that ran out of time and are still pending, by connection.
 * Deno 2.9 cannot abort a server's handshake: closing the connection then
 * frees nothing, the socket stays open until the client sends something or
 * leaves, which is when the handshake ends. */
const stalled = new WeakMap<Deno.TlsConn, Promise<unknown>>();

/** The connections of each server whose handshake stalled, kept open (and
 * counted against `maxConnections`) until it ends; `serverClose()` closes
 * them. */
const stalledOf = new WeakMap<object, Set<Deno.TlsConn>>();
const ignore = () => {};

async function handshake(
  conn: Deno.TlsConn,
  address: Deno.NetAddr,
  timeout: number | null,
): Promise<void> {
  const done = conn.handshake();
  done.catch(() => {}); // settles when the connection closes, after a timeout won
  let expired = false;
  try {
    await deadline(done, timeout ?? Infinity, () => {
      expired = true;
      stalled.set(conn, done);
      throw new Deno.errors.TimedOut(
        `TLS handshake with "${
          formatAddress(address)
        }" did not complete within ${timeout} ms: raise "handshakeTimeout" or set it to null`,
      );
    });
  } catch (error) {
    // a scanner, a plain-text client, one that does not trust the
    // certificate: routine on a public port, so a drop, not a stack trace
    throw asDrop(
      expired ? error : withContext(error, `TLS handshake with "${formatAddress(address)}"`),
    );
  }
  handshaken.add(conn);
}

/**
 * A TLS server: a TCP server (a sibling of {@linkcode TCPServer}) whose connections are
 * `Deno.TlsConn`s, on `Deno.listenTls`. Python's `socketserver` has none (a
 * Python user wraps the socket with `ssl` in `get_request()`); the handler
 * side is unchanged — a {@linkcode StreamRequestHandler} reads and writes
 * plain text, encryption happens underneath.
 *
 * `Deno.listenTls`'s `accept()` returns before the TLS handshake, so the
 * handshake runs in {@linkcode TLSServer.finishRequest}, per request: with
 * `ThreadingTLSServer` a slow or silent client holds up only its own task,
 * never the accept loop. A failed handshake (a client that does not trust the
 * certificate, one that speaks plain text or garbage, one that gives up) is
 * a drop of that request — it goes to `handleDrop()`, silent by default, and
 * the connection is closed — and never stops the server. A handshake that
 * takes longer than `handshakeTimeout` (default 60 s, nginx's) fails the
 * same way; but Deno 2.9 cannot abort a server's handshake, so its socket
 * stays open until the client speaks or leaves, and with `maxConnections`
 * set the request's slot stays taken until then too (the limit bounds the
 * descriptors, not only the requests).
 *
 * The certificate and key are PEM text. Binding checks the `net` permission
 * for the exact address first, like `TCPServer`.
 *
 * @example A TLS echo server and a client trusting its test certificate
 * ```ts
 * import { sendall, StreamRequestHandler, TLSServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * // PEM text of a certificate and its key: here the repository's test pair for localhost
 * const cert = await Deno.readTextFile(new URL("../tests/tls/localhost.crt", import.meta.url));
 * const key = await Deno.readTextFile(new URL("../tests/tls/localhost.key", import.meta.url));
 *
 * class Echo extends StreamRequestHandler<TLSServer> {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.readline());
 *   }
 * }
 * await using server = new TLSServer({ hostname: "127.0.0.1", port: 0 }, Echo, { cert, key });
 * server.serveForever();
 * const conn = await Deno.connectTls({
 *   hostname: "localhost",
 *   port: server.serverAddress.port,
 *   caCerts: [cert],
 * });
 * await sendall(conn, "hello world\n");
 * assert.equal(await new Response(conn.readable).text(), "hello world\n");
 * ```
 */
export class TLSServer extends TCPServerBase<Deno.TlsConn> {
  /** Class attribute: how long a client may take to complete the TLS
   * handshake, in ms; `null` waits for ever. Default 60 000 (nginx's
   * `ssl_handshake_timeout`). */
  static handshakeTimeout: number | null = 60_000;

  /** The options given to the constructor; see `BaseServer.options`. */
  declare readonly options: Readonly<TLSServerOptions>;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds
   * and listens.
   *
   * @param serverAddress Where to listen: `{ hostname?, port }`, or
   *   Python's `[hostname, port]`; a hostname of `""` means every interface.
   * @param RequestHandlerClass The handler class, run once per connection.
   * @param options `cert` and `key` (PEM text), `alpnProtocols`, and the
   *   `TCPServer` options.
   * @throws {TypeError} No `cert` or `key`, or a malformed address or option.
   * @throws {Deno.errors.InvalidData} The certificate or key cannot be used.
   * @throws {Deno.errors.NotCapable} No `net` permission for the address.
   * @throws {Deno.errors.AddrInUse} The address is taken.
   */
  constructor(
    serverAddress: NetAddress | NetAddressTuple,
    RequestHandlerClass: RequestHandlerClass<Deno.TlsConn, Deno.NetAddr>,
    options: TLSServerOptions,
  ) {
    checkTlsOptions(options);
    super(serverAddress, RequestHandlerClass, options);
  }

  /** How long the TLS handshake may take, in ms; see the static attribute. */
  get handshakeTimeout(): number | null {
    return this[kAttribute]("handshakeTimeout");
  }
  set handshakeTimeout(value: number | null) {
    this[kAttribute]("handshakeTimeout", value);
  }

  /** The ALPN protocols offered, as given to the constructor. */
  get alpnProtocols(): readonly string[] | undefined {
    return this.options.alpnProtocols;
  }

  /**
   * Internal: opens the listener with `Deno.listenTls`.
   *
   * @ignore
   */
  override [kListen](
    options: Deno.TcpListenOptions & { transport: "tcp" },
  ): Deno.Listener<Deno.TlsConn, TcpAddr> {
    const alpnProtocols = this.alpnProtocols;
    try {
      return Deno.listenTls({
        ...options,
        cert: this.options.cert,
        key: this.options.key,
        ...(alpnProtocols ? { alpnProtocols: [...alpnProtocols] } : {}),
      }) as Deno.Listener<Deno.TlsConn, TcpAddr>;
    } catch (error) {
      // Deno reports an unusable certificate or key as InvalidData ("No
      // certificates found"), or, for a key that is not the certificate's,
      // as an Error naming the keys; everything else is the bind's own
      // failure, which serverBind() words like a TCPServer's
      if (!isCertificateError(error)) throw error;
      throw new Deno.errors.InvalidData(
        `The TLS certificate or key cannot be used: ${
          error instanceof Error ? error.message : String(error)
        }: pass the PEM text of a certificate and of its own private key`,
        { cause: error },
      );
    }
  }

  /**
   * Completes the TLS handshake (at most `handshakeTimeout` ms), then runs
   * the handler. A failed handshake throws, so the request goes to
   * `handleDrop()` and is closed; the server goes on. Python:
   * `finish_request()`.
   *
   * @param request The connection.
   * @param clientAddress The client's address.
   * @returns When the handler has finished.
   * @throws {Deno.errors.TimedOut} The handshake took too long.
   * @throws {Error} The handshake failed (the message says why).
   *
   * @example Log the protocol agreed on
   * ```ts
   * import { BaseRequestHandler, TLSServer } from "@x/socketserver";
   *
   * class Logged extends TLSServer {
   *   override async finishRequest(request: Deno.TlsConn, address: Deno.NetAddr) {
   *     const { alpnProtocol } = await request.handshake();
   *     console.log(address.hostname, "speaks", alpnProtocol);
   *     await super.finishRequest(request, address);
   *   }
   * }
   * ```
   */
  override async finishRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Promise<void> {
    await handshake(request, clientAddress, this.handshakeTimeout);
    await super.finishRequest(request, clientAddress);
  }

  /**
   * Ends the connection: after a completed handshake like every stream
   * server (`closeWrite()`, which sends TLS's `close_notify`, then
   * `closeRequest()`); after a failed or unfinished one it only closes it, as
   * `closeWrite()` would wait for the handshake. Python:
   * `shutdown_request()`.
   *
   * @param request The connection.
   * @returns When closed.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, TLSServer } from "@x/socketserver";
   *
   * class Logged extends TLSServer {
   *   override async shutdownRequest(request: Deno.TlsConn) {
   *     console.log("ending", request.remoteAddr.port);
   *     await super.shutdownRequest(request);
   *   }
   * }
   * ```
   */
  override async shutdownRequest(request: Deno.TlsConn): Promise<void> {
    if (handshaken.has(request)) return await super.shutdownRequest(request);
    const pending = stalled.get(request);
    if (pending !== undefined && this.maxConnections !== null && !this.closed) {
      // Closing would free no descriptor (see `stalled`): the request is
      // over, but its slot stays taken, and the connection open so that its
      // end can be seen, until the handshake ends; then it is closed
      stalled.delete(request);
      const ended = pending.then(ignore, ignore);
      this[kHoldSlot](ended);
      let kept = stalledOf.get(this);
      if (kept === undefined) stalledOf.set(this, kept = new Set());
      kept.add(request);
      BaseServer.prototype.closeRequest.call(this, request);
      ended.then(async () => {
        kept.delete(request);
        try {
          await this.closeRequest(request);
        } catch {
          // closed already
        }
      });
      return;
    }
    await this.closeRequest(request);
  }

  /**
   * Internal: closes the listener and the connections whose handshake
   * stalled (their sockets stay open until their clients leave).
   *
   * @ignore
   */
  override [kCloseSocket](): void {
    super[kCloseSocket]();
    for (const conn of stalledOf.get(this) ?? []) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
  }
}

declareAttributes(TLSServer, { handshakeTimeout: nullableDuration });

/**
 * The methods every TLSServer has, each defined by the class its note names
 * ({@linkcode TCPServerBase}, `StreamServer` or `BaseServer`), declared again here only so that
 * this page lists them: a documentation page shows a class's own members.
 */
export interface TLSServer {
  /** Handles requests until {@linkcode BaseServer.shutdown} is called or the socket is closed.
   * See {@linkcode BaseServer.serveForever}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** Stops {@linkcode BaseServer.serveForever} and resolves once it has returned. See
   * {@linkcode BaseServer.shutdown}. */
  shutdown(): Promise<void>;
  /** Handles exactly one request: waits for it (at most `timeout` ms, calling
   * {@linkcode BaseServer.handleTimeout} when nothing comes), then verifies, processes and closes
   * it. See {@linkcode BaseServer.handleRequest}. */
  handleRequest(): Promise<void>;
  /** Checks the `net` permission, then binds and listens with `Deno.listen`, which does both in
   * one call (so `serverActivate()` has nothing left to do), and sets `serverAddress` to the
   * bound address. See {@linkcode TCPServerBase.serverBind}. */
  serverBind(): void;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Accepts the next connection. See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.TlsConn, Deno.NetAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** Processes an accepted, verified request. See {@linkcode BaseServer.processRequest}. */
  processRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** Closes the connection. See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.TlsConn): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** Called by {@linkcode BaseServer.handleRequest} when no request came within `timeout`. See
   * {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** Called by {@linkcode BaseServer.serveForever} after every request and every `pollInterval`
   * ms while idle, never during a request (a `ThreadingMixIn` server's run alongside the tasks of
   * earlier ones) and never twice at once: an idle tick that comes while an async one still runs
   * is skipped. See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** Closes the server — the socket at once (its address is free again when this is called; a
   * connection accepted but not yet handled is closed), then waits for requests still being
   * handled, at most `graceMs` (default: until they finish). See
   * {@linkcode BaseServer.serverClose}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** Stops serving and closes the server (`shutdown()`, then `serverClose()`): what `await using`
   * calls at the end of the scope. See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
}
