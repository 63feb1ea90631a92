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
import { markOver } from "./_open_requests.ts";
import { formatAddress, withContext } from "./_format.ts";
import { kAttribute, kCheckProxy, kCloseSocket, kListen, kRequests } from "./_symbols.ts";
import type { ServerStats } from "./server_stats.ts";

/**
 * Options of {@linkcode TLSServer}: the certificate and key, and the {@linkcode TCPServer} options.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, TLSServer } from "@x/socketserver";
 * import { localhostCert } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * await using server = new TLSServer(["127.0.0.1", 0], BaseRequestHandler, {
 *   ...localhostCert,
 *   alpnProtocols: ["h2", "http/1.1"],
 * });
 * assert.deepEqual(server.alpnProtocols, ["h2", "http/1.1"]);
 * ```
 */
export interface TLSServerOptions extends TCPServerOptions {
  /** The certificate chain, PEM text (`Deno.readTextFileSync("cert.pem")`). */
  cert: string;
  /** The private key, PEM text. */
  key: string;
  /** The ALPN protocols to offer, most preferred first (the agreed one: `handshake()`'s).
   * @default {undefined} */
  alpnProtocols?: string[];
  /** {@linkcode TLSServer.handshakeTimeout}.
   * @default {60_000} */
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

/** Handshaken connections: `closeWrite()` on any other waits for the handshake for ever. */
const handshaken = new WeakSet<Deno.TlsConn>();

/** Timed-out handshakes still pending: Deno 2.9 cannot abort one, so closing frees nothing. */
const stalled = new WeakMap<Deno.TlsConn, Promise<unknown>>();

/** Each server's stalled connections, kept open (and in `maxConnections`) until they end. */
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
    // a scanner, a plain-text client, an untrusting one: routine on a public port, so a drop
    throw asDrop(
      expired ? error : withContext(error, `TLS handshake with "${formatAddress(address)}"`),
      "handshake",
    );
  }
  handshaken.add(conn);
}

/**
 * A TLS server, a sibling of {@linkcode TCPServer} whose connections are `Deno.TlsConn`s; handlers
 * read and write plain text. The handshake runs per request in `finishRequest()`; a failed one is a
 * drop. See docs/tls.md.
 *
 * @example
 * ```ts
 * import { sendall, StreamRequestHandler, TLSServer } from "@x/socketserver";
 * import { localhostCert } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler<TLSServer> {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.readline());
 *   }
 * }
 * await using server = new TLSServer(["127.0.0.1", 0], Echo, localhostCert);
 * server.serveForever();
 * const { port } = server.serverAddress;
 * const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [localhostCert.cert] });
 * await sendall(conn, "hello\n");
 * assert.equal(await new Response(conn.readable).text(), "hello\n");
 * ```
 */
export class TLSServer extends TCPServerBase<Deno.TlsConn> {
  /** Class attribute: how long a client may take over the handshake, in ms (`null`: for ever);
   * nginx's default. */
  static handshakeTimeout: number | null = 60_000;

  /** The constructor's options; see {@linkcode BaseServer.options}. */
  declare readonly options: Readonly<TLSServerOptions>;

  /** Creates the server and, unless `bindAndActivate` is false, binds and listens.
   * @throws {TypeError} No `cert` or `key`, or a malformed address or option.
   * @throws {Deno.errors.InvalidData} The certificate or key cannot be used. */
  constructor(
    serverAddress: NetAddress | NetAddressTuple,
    RequestHandlerClass: RequestHandlerClass<Deno.TlsConn, Deno.NetAddr>,
    options: TLSServerOptions,
  ) {
    checkTlsOptions(options);
    super(serverAddress, RequestHandlerClass, options);
  }

  /** How long the handshake may take, in ms; see the static attribute. */
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

  /** @ignore Internal: opens the listener with `Deno.listenTls`. */
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
      // Deno says InvalidData, or a plain Error naming the keys for a mismatched key; anything
      // else is the bind's failure, which serverBind() words
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
   * Completes the handshake (at most `handshakeTimeout` ms), then runs the handler; a failed
   * handshake, or the TLS layer's `InvalidData` from the handler, drops the request.
   *
   * @example
   * ```ts
   * import { TLSServer } from "@x/socketserver";
   *
   * class Logged extends TLSServer {
   *   override async finishRequest(conn: Deno.TlsConn, client: Deno.NetAddr) {
   *     const { alpnProtocol } = await conn.handshake();
   *     console.log(client.hostname, "speaks", alpnProtocol);
   *     await super.finishRequest(conn, client);
   *   }
   * }
   * ```
   */
  override async finishRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Promise<void> {
    await handshake(request, clientAddress, this.handshakeTimeout);
    try {
      await super.finishRequest(request, clientAddress);
    } catch (error) {
      // InvalidData here is the TLS layer's: a record that does not decrypt, a
      // forged alert, plain text after the handshake; hostile, not a bug
      throw error instanceof Deno.errors.InvalidData ? asDrop(error, "malformed") : error;
    }
  }

  /**
   * `closeWrite()` (TLS's `close_notify`) then `closeRequest()`; only the latter before a completed
   * handshake, which `closeWrite()` would wait for.
   *
   * @example
   * ```ts
   * import { TLSServer } from "@x/socketserver";
   *
   * class Logged extends TLSServer {
   *   override async shutdownRequest(conn: Deno.TlsConn) {
   *     console.log("ending", conn.remoteAddr.port);
   *     await super.shutdownRequest(conn);
   *   }
   * }
   * ```
   */
  override async shutdownRequest(request: Deno.TlsConn): Promise<void> {
    if (handshaken.has(request)) return await super.shutdownRequest(request);
    const pending = stalled.get(request);
    if (pending !== undefined && this.maxConnections !== null && !this.closed) {
      // closing frees no descriptor (see `stalled`): the slot stays taken, the connection open to
      // see its end, until the handshake ends
      stalled.delete(request);
      const ended = pending.then(ignore, ignore);
      this[kRequests].hold(ended);
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
    // over even when an override did not call super, as StreamServer's (unless serverClose() owns it)
    if (!this[kRequests].lingering(request)) markOver(this, request);
  }

  /** @ignore Internal: a PROXY header comes before the TLS handshake, which
   * Deno's TLS listener starts on the connection's first bytes. */
  override [kCheckProxy](): void {
    throw new Deno.errors.NotSupported(
      `${this.constructor.name} cannot read a PROXY protocol header (proxyProtocol ${
        JSON.stringify(this.proxyProtocol)
      }): Deno's TLS listener takes a connection's first bytes as its handshake; let the balancer terminate TLS and send the header to a TCPServer (docs/deployment.md)`,
    );
  }

  /** @ignore Internal: closes the listener and the stalled handshakes' sockets. */
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

/** The methods of a {@linkcode TLSServer}, listed on its page. */
export interface TLSServer {
  // doc-pages: generated by `deno task doc:pages`, do not edit
  /** See {@linkcode BaseServer.stats}. */
  stats(): ServerStats;
  /** See {@linkcode BaseServer.serveForever}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** See {@linkcode BaseServer.shutdown}. */
  shutdown(): Promise<void>;
  /** See {@linkcode BaseServer.handleRequest}. */
  handleRequest(): Promise<void>;
  /** See {@linkcode TCPServerBase.serverBind}. */
  serverBind(): void;
  /** See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.TlsConn, Deno.NetAddr]>;
  /** See {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** See {@linkcode BaseServer.processRequest}. */
  processRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<void>;
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
  /** See {@linkcode BaseServer.serverClose}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
  // doc-pages: end
}
