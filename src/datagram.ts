/**
 * Datagram serving: {@linkcode DatagramServer}, the base of `UDPServer` and
 * `UnixDatagramServer`, and {@linkcode DatagramRequestHandler}.
 *
 * @module
 */

import {
  type AnyServer,
  BaseServer,
  type BaseServerOptions,
  type ClientAddressOf,
  type RequestHandlerClass,
} from "./base_server.ts";
import { BaseRequestHandler } from "./base_request_handler.ts";
import { BufferedReader, DEFAULT_MAX_LINE_LENGTH } from "./buffered_reader.ts";
import { type ByteSink, StreamWriter } from "./stream_writer.ts";
import { NotBoundError } from "./errors.ts";
import type { UDPServer } from "./udp.ts";
import { bindAndActivate } from "./_bind.ts";
import { describeValue, formatAddress, withContext } from "./_format.ts";
import { checkUnixSendPermissions } from "./_permissions.ts";
import { kAttribute, kCloseSocket, kWriteSync } from "./_symbols.ts";

/**
 * What a datagram server hands its handler as `request`: Python's
 * `(data, socket)` tuple — `const [packet, socket] = this.request` — with
 * `truncated` set when the datagram was longer than the server's
 * `maxPacketSize` and `packet` holds only its first `maxPacketSize` bytes.
 *
 * @example Refusing empty and cut datagrams
 * ```ts
 * import { type DatagramRequest, DatagramRequestHandler, UDPServer } from "@x/socketserver";
 *
 * class Strict extends UDPServer {
 *   override verifyRequest(request: DatagramRequest) {
 *     const [packet] = request;
 *     return packet.length > 0 && !request.truncated;
 *   }
 * }
 * await using _server = new Strict({ hostname: "127.0.0.1", port: 0 }, DatagramRequestHandler);
 * ```
 */
export type DatagramRequest = [packet: Uint8Array<ArrayBuffer>, socket: Deno.DatagramConn] & {
  /** Whether the datagram was longer than `maxPacketSize` and was cut. */
  readonly truncated: boolean;
};

/**
 * Options of every {@linkcode DatagramServer}; each attribute option
 * overrides the class attribute of the same name for this instance.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type DatagramServerOptions, UDPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: DatagramServerOptions = { maxPacketSize: 1500, maxConnections: 64 };
 * await using server = new UDPServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   BaseRequestHandler,
 *   options,
 * );
 * assert.equal(server.maxPacketSize, 1500);
 * assert.equal(server.maxConnections, 64);
 * ```
 */
export interface DatagramServerOptions extends BaseServerOptions {
  /** Bind in the constructor (the default). With `false`, call
   * `serverBind()` and `serverActivate()` yourself. Python:
   * `bind_and_activate`. */
  bindAndActivate?: boolean;
  /** {@linkcode DatagramServer.maxPacketSize}. */
  maxPacketSize?: number;
}

/**
 * Throws when Deno's unstable datagram API is not enabled, naming the flag:
 * without it `Deno.listenDatagram` is simply missing.
 *
 * @param what The class that needs it, for the message.
 * @throws {Deno.errors.NotSupported} `Deno.listenDatagram` is missing.
 */
export function requireUnstableNet(what: string): void {
  if (typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
    throw new Deno.errors.NotSupported(
      `${what} needs Deno's unstable datagram API (Deno.listenDatagram): run with --unstable-net, or add "unstable": ["net"] to deno.json`,
    );
  }
}

/** Internal: called just before a datagram server's socket is closed;
 * `UnixDatagramServer` removes its socket file there (while the socket
 * still holds the file's inode, so that the check that the file is its own
 * cannot be fooled by a reused inode number). Not exported from `mod.ts`. */
export const kSocketClosed: unique symbol = Symbol("socketserver.socketClosed");

/** How many receive errors in a row one `getRequest()` skips as reports of
 * an earlier reply's loss (see {@linkcode isLossReport}) before it throws. */
const MAX_SKIPPED_REPORTS = 64;

/**
 * Whether a receive error is the network reporting that an earlier datagram
 * sent on the socket was not delivered — an ICMP "port unreachable" for a
 * reply to a client that has closed its socket. Windows reports it on the
 * next receive of an unconnected UDP socket as `ConnectionReset`
 * (`WSAECONNRESET`), and Linux as `ConnectionRefused` when `IP_RECVERR` is
 * on; Linux by default does not report it at all on an unconnected socket
 * (verified: the receive after such a reply returns the next datagram).
 */
function isLossReport(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionRefused;
}

/** How large a datagram the transport of `address` carries, for messages. */
function largestDatagram(address: Deno.Addr): string {
  return address.transport === "udp"
    ? "a UDP datagram carries at most 65507 bytes over IPv4 and 65527 over IPv6"
    : "a Unix datagram carries at most the socket's send buffer (net.core.wmem_default)";
}

function checkPacketSize(value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `"maxPacketSize" must be a positive integer number of bytes, got ${describeValue(value)}`,
    );
  }
  return value;
}

/**
 * The base of the datagram servers — `UDPServer` and `UnixDatagramServer`:
 * every datagram received on `socket`, a `Deno.DatagramConn`, is one
 * request, `[packet, socket]` as in Python, handled by a new handler
 * (usually a {@linkcode DatagramRequestHandler}). There is no connection to
 * end, so `shutdownRequest()` and `closeRequest()` only do the server's
 * bookkeeping.
 *
 * A datagram longer than `maxPacketSize` is cut to that size and its request
 * is marked `truncated` (Python cuts it silently). Each datagram is received
 * straight into its own region, one byte larger than `maxPacketSize` (which
 * is how a longer datagram is told apart), of a 64 KiB buffer shared with the
 * datagrams received before and after it: `packet` is a view of just its
 * bytes, never overwritten, and nothing is copied or allocated per datagram
 * but the view. A handler that keeps a packet beyond its request keeps that
 * buffer alive with it: keep `packet.slice()` instead.
 *
 * Hostile or broken peers cannot stop it: empty, oversized and garbage
 * datagrams are requests like any other (what the handler does with them is
 * its business); a receive error that only reports an earlier reply's loss
 * (an ICMP "port unreachable" for a vanished client) is skipped; and at most
 * `maxConnections` datagrams (default 1024) are handled at once, so a flood
 * costs bounded memory — beyond that, datagrams wait in the socket's
 * receive buffer and the kernel drops what does not fit there.
 *
 * The socket is also the way replies go out, so `serverClose()` keeps it open
 * until the requests in flight have finished (at most `graceMs`): their
 * replies are still sent. Nothing new is received meanwhile.
 *
 * Like the stream servers, the constructor binds, so what a subclass's
 * `serverBind()` needs must come from the constructor's options
 * (`this.options`), and fields it sets are declared with `declare`.
 *
 * @typeParam A The client address type.
 * @typeParam SA The server address type.
 *
 * @example A datagram server on an explicit socket
 * ```ts
 * import { DatagramRequestHandler, DatagramServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class LoopbackServer extends DatagramServer<Deno.NetAddr, Deno.NetAddr> {
 *   override serverBind() {
 *     this.socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 *     this.serverAddress = this.socket.addr as Deno.NetAddr;
 *   }
 * }
 * class Upper extends DatagramRequestHandler<LoopbackServer> {
 *   override async handle() {
 *     await this.wfile.write(new TextDecoder().decode(this.packet).toUpperCase());
 *   }
 * }
 * await using server = new LoopbackServer(
 *   { transport: "udp", hostname: "127.0.0.1", port: 0 },
 *   Upper,
 * );
 * server.serveForever();
 * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("hi"), server.serverAddress);
 * const [reply] = await client.receive();
 * assert.equal(new TextDecoder().decode(reply), "HI");
 * client.close();
 * ```
 */
export class DatagramServer<A extends Deno.Addr = Deno.Addr, SA extends Deno.Addr = Deno.Addr>
  extends BaseServer<DatagramRequest, A, SA> {
  /** Class attribute: the longest datagram received whole, in bytes; a
   * longer one is cut to this size and marked `truncated`. Python:
   * `max_packet_size` (8192). */
  static maxPacketSize: number = 8192;
  /** Class attribute: the most datagrams handled at once — for a threading
   * server, handler tasks in flight — or `null` for no limit. Default 1024
   * (a stream server's default is `null`): sending a datagram costs a client
   * nothing and over UDP its source can be forged, so without a bound a
   * flood meeting a slow handler would grow memory without end. At the limit
   * the server stops receiving until a handler finishes: datagrams wait in
   * the socket's receive buffer, and the kernel drops what does not fit. A
   * plain (non-threading) server handles one at a time anyway. */
  static override maxConnections: number | null = 1024;

  /** The socket; `undefined` until `serverBind()`. */
  declare socket: Deno.DatagramConn;
  /** The options given to the constructor; see {@linkcode BaseServer.options}. */
  declare readonly options: Readonly<DatagramServerOptions>;

  #closeWhenIdle = false;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds.
   *
   * @param serverAddress The address to serve on.
   * @param RequestHandlerClass The handler class, run once per datagram.
   * @param options Attribute values for this instance, and `bindAndActivate`.
   * @throws {TypeError} A malformed handler class, or an async bind.
   * @throws {RangeError} A `maxPacketSize` that is not a positive integer.
   */
  constructor(
    serverAddress: SA,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, A>,
    options: DatagramServerOptions = {},
  ) {
    if ("maxPacketSize" in options) checkPacketSize(options.maxPacketSize);
    super(serverAddress, RequestHandlerClass, options);
    if (options.bindAndActivate ?? true) bindAndActivate(this);
  }

  /** The longest datagram received whole, in bytes; see the static
   * attribute. */
  get maxPacketSize(): number {
    return this[kAttribute]("maxPacketSize") as number;
  }
  set maxPacketSize(value: number) {
    this[kAttribute]("maxPacketSize", checkPacketSize(value));
  }

  /** Always `"SOCK_DGRAM"`. Python: `socket_type`. */
  get socketType(): "SOCK_DGRAM" {
    return "SOCK_DGRAM";
  }

  /**
   * Receives the next datagram. A receive error that only reports that an
   * earlier datagram sent on the socket was not delivered
   * (`ConnectionRefused` or `ConnectionReset`: an ICMP "port unreachable"
   * for a reply to a vanished client, which Windows reports this way) is
   * skipped, up to 64 in a row.
   *
   * @returns `[[packet, socket], clientAddress]`; the request's `truncated`
   *   says whether the datagram was cut to `maxPacketSize`.
   * @throws {Deno.errors.BadResource} The server was never bound.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, UDPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * await using server = new UDPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
   *   maxPacketSize: 4,
   * });
   * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
   * await client.send(new TextEncoder().encode("hello"), server.serverAddress);
   * const [request] = await server.getRequest();
   * const [packet] = request;
   * assert.equal(new TextDecoder().decode(packet), "hell");
   * assert.equal(request.truncated, true);
   * client.close();
   * ```
   */
  override async getRequest(): Promise<[DatagramRequest, A]> {
    const max = checkPacketSize(this.maxPacketSize);
    const socket = this.socket;
    if (socket === undefined) throw new NotBoundError(this);
    const region = reserve(max + 1);
    let data: Uint8Array<ArrayBuffer>;
    let address: Deno.Addr;
    for (let skipped = 0;; skipped++) {
      try {
        [data, address] = await socket.receive(region);
        break;
      } catch (error) {
        if (!isLossReport(error) || skipped === MAX_SKIPPED_REPORTS) {
          release(region, 0);
          throw error;
        }
      }
    }
    const truncated = data.length > max;
    const packet = truncated ? data.subarray(0, max) : data;
    release(region, packet.length);
    const request = [packet, socket] as [Uint8Array<ArrayBuffer>, Deno.DatagramConn] & {
      truncated: boolean;
    };
    request.truncated = truncated;
    return [request as DatagramRequest, address as A];
  }

  /**
   * Marks the request over. The socket is the server's and stays open; only
   * when `serverClose()` is waiting for this last request is it closed now.
   * Overrides must call `super.closeRequest(request)`. Python:
   * `close_request()`.
   *
   * @param request The request.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, type DatagramRequest, UDPServer } from "@x/socketserver";
   *
   * class Logged extends UDPServer {
   *   override closeRequest(request: DatagramRequest) {
   *     console.log("done with a datagram of", request[0].length, "bytes");
   *     super.closeRequest(request);
   *   }
   * }
   * await using _server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * ```
   */
  override closeRequest(request: DatagramRequest): void {
    super.closeRequest(request);
    if (this.#closeWhenIdle && this.activeRequests === 0) this.#closeNow();
  }

  /** Internal: closes the socket, or, while requests are in flight, marks it
   * to be closed after the last one (their replies go out through it).
   *
   * @ignore
   */
  override [kCloseSocket](): void {
    if (this.activeRequests > 0 && this.socket !== undefined) {
      this.#closeWhenIdle = true;
      return;
    }
    this.#closeNow();
  }

  #closeNow(): void {
    this.#closeWhenIdle = false;
    if (this.socket !== undefined) this[kSocketClosed]();
    try {
      this.socket?.close();
    } catch {
      // already closed
    }
  }

  /**
   * Internal: called just before the socket is closed.
   *
   * @ignore
   */
  [kSocketClosed](): void {}
}

/** How large the buffers are that datagrams are received into and replies
 * copied into: see {@linkcode reserve}. */
const SLAB_SIZE = 64 * 1024;
/** Copies up to this long go to the slab; longer ones are allocated on their
 * own (off V8's heap anyway). */
const SLAB_COPY_MAX = 4 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * A region of `n` bytes no one else has been given, for a receive or a copy:
 * a view of a shared buffer (a slab) whose every byte is handed out once, so
 * that what a view holds is never overwritten, and a slab is freed once no
 * view of it is left. Why not `new Uint8Array(n)`: V8 keeps arrays of up to
 * 64 bytes on its heap and must move them off it (an allocation and a copy)
 * before a socket can send them, and a larger one costs an allocation of its
 * own; a view of a slab costs neither. Measured with callgrind on a UDP
 * echo of 64-byte datagrams (user-space instructions per datagram): a raw
 * `Deno.listenDatagram` loop 31.7k; this package 55.2k before the slab,
 * the writer's synchronous path and the lazy `rfile`, 44.0k after.
 */
function reserve(n: number): Uint8Array<ArrayBuffer> {
  if (slab.length - slabUsed < n) {
    slab = new Uint8Array(Math.max(SLAB_SIZE, 4 * n));
    slabUsed = 0;
  }
  const region = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return region;
}

/** Gives the unused end of `region` (after its first `used` bytes) back to
 * the slab, when nothing was reserved after it meanwhile. */
function release(region: Uint8Array, used: number): void {
  if (region.buffer === slab.buffer && region.byteOffset + region.length === slabUsed) {
    slabUsed = region.byteOffset + ((used + 7) & ~7);
  }
}

/** A copy of `bytes` that nothing else references. */
function copy(bytes: Uint8Array): Uint8Array {
  if (bytes.length > SLAB_COPY_MAX) return bytes.slice();
  const out = reserve(bytes.length);
  out.set(bytes);
  return out;
}

/** Collects a handler's reply: every write is kept, in order. */
class ReplyBuffer implements ByteSink {
  /** The first write; most replies are one. */
  #first: Uint8Array | null = null;
  /** Every write, once there are two or more. */
  #chunks: Uint8Array[] | null = null;
  #size = 0;

  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(this[kWriteSync](p));
  }

  [kWriteSync](p: Uint8Array): number {
    if (p.length > 0) {
      const kept = copy(p);
      if (this.#first === null) this.#first = kept;
      else (this.#chunks ??= [this.#first]).push(kept);
      this.#size += p.length;
    }
    return p.length;
  }

  /** The reply as one datagram, or `null` when no byte was written. */
  take(): Uint8Array | null {
    const first = this.#first;
    const chunks = this.#chunks;
    const size = this.#size;
    this.#first = this.#chunks = null;
    this.#size = 0;
    if (first === null) return null;
    if (chunks === null) return first;
    const out = size > SLAB_COPY_MAX ? new Uint8Array(size) : reserve(size);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

/**
 * A handler for datagrams, Python's `socketserver.DatagramRequestHandler`:
 * `setup()` gives it `packet` (the datagram's bytes), `socket` (the server's
 * `Deno.DatagramConn`), `rfile`, a {@linkcode BufferedReader} over the packet
 * with the same `readline()` / `read()` as a stream handler's, and `wfile`, a
 * {@linkcode StreamWriter} that collects the reply. `finish()` sends what was
 * written to the client's address as one datagram — and nothing when no byte
 * was written (Python sends an empty datagram then), so an echo of an empty
 * datagram sends nothing back. A handler that means to answer with an empty
 * datagram sends it itself: `this.socket.send(new Uint8Array(), this.clientAddress)`.
 *
 * `truncated` tells a datagram cut to the server's `maxPacketSize`.
 *
 * Datagrams come from anyone: empty, cut, or garbage. Refuse what is not a
 * request by returning without writing (no reply is sent) rather than by
 * throwing — what a handler throws goes to the server's `handleError()`,
 * once per datagram, since the server cannot tell bad input from a bug.
 *
 * @typeParam S The server type, for a typed `this.server` and
 *   `clientAddress`: `DatagramRequestHandler<UnixDatagramServer>`, or
 *   `DatagramRequestHandler<DatagramServer>` for a handler that serves both
 *   UDP and Unix datagram servers.
 *
 * @example A line echo over UDP
 * ```ts
 * import { DatagramRequestHandler, UDPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DatagramRequestHandler {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.readline());
 *   }
 * }
 * await using server = new UDPServer({ hostname: "127.0.0.1", port: 0 }, Echo);
 * server.serveForever();
 * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * await client.send(new TextEncoder().encode("hello world\n"), server.serverAddress);
 * const [reply] = await client.receive();
 * assert.equal(new TextDecoder().decode(reply), "hello world\n");
 * client.close();
 * ```
 */
export class DatagramRequestHandler<S extends AnyServer = UDPServer>
  extends BaseRequestHandler<S, DatagramRequest, ClientAddressOf<S>> {
  /** The longest line `rfile.readline()` accepts, in bytes, newline
   * included; longer ones throw `LineTooLongError`. Default 64 KiB. */
  maxLineLength: number = DEFAULT_MAX_LINE_LENGTH;
  /** The datagram's bytes; set by `setup()`. */
  packet!: Uint8Array<ArrayBuffer>;
  /** The server's socket, for replies beyond `wfile`; set by `setup()`. */
  socket!: Deno.DatagramConn;
  /** Collects the reply that `finish()` sends; set by `setup()`. */
  wfile!: StreamWriter;

  #reply: ReplyBuffer | null = null;
  #rfile: BufferedReader | null = null;

  /** A reader over `packet`, at EOF after it. Made on first use: a handler
   * that reads `packet` directly costs no reader. */
  get rfile(): BufferedReader {
    return this.#rfile ??= BufferedReader.from(this.packet, { maxLineLength: this.maxLineLength });
  }
  set rfile(reader: BufferedReader) {
    this.#rfile = reader;
  }

  /** Whether the datagram was longer than the server's `maxPacketSize`, so
   * that `packet` holds only its first `maxPacketSize` bytes. */
  get truncated(): boolean {
    return this.request.truncated;
  }

  /**
   * Sets `packet`, `socket` and `wfile` (`rfile` is made on first use).
   * Subclasses that override it call `super.setup()` first.
   *
   * @example
   * ```ts
   * import { DatagramRequestHandler } from "@x/socketserver";
   *
   * class Logged extends DatagramRequestHandler {
   *   override setup() {
   *     super.setup();
   *     console.log(`${this.packet.length} bytes${this.truncated ? " (cut)" : ""}`);
   *   }
   * }
   * ```
   */
  override setup(): void {
    const [packet, socket] = this.request;
    this.packet = packet;
    this.socket = socket;
    this.#rfile = null;
    this.#reply = new ReplyBuffer();
    this.wfile = new StreamWriter(this.#reply);
  }

  /**
   * Sends what was written to `wfile` to the client in one datagram —
   * nothing when no byte was written — and closes both files. Subclasses
   * that override it call `super.finish()` last.
   *
   * @returns Once the reply is sent.
   * @throws {Deno.errors.NotConnected} A reply to a Unix datagram client
   *   whose socket is not bound to a path, which cannot receive it, or is
   *   gone; like every `NotConnected`, it goes to the server's
   *   `handleDrop()`.
   * @throws {Deno.errors.NotCapable} No `write` or `net` permission for the
   *   Unix datagram client's path.
   * @throws {Deno.errors.TimedOut} A Unix datagram client has not read its
   *   replies: see `UnixDatagramServer.replyTimeout`; a drop, like every
   *   `TimedOut`.
   * @throws {RangeError} The reply is longer than one datagram can carry
   *   (`EMSGSIZE`, e.g. over 65507 bytes over UDP/IPv4): a bug of the
   *   handler, it reaches `handleError()`. A reply the system drops for want
   *   of buffers (`ENOBUFS`) is reported to the server's `handleDrop()`
   *   instead, and `finish()` returns.
   *
   * @example
   * ```ts
   * import { DatagramRequestHandler } from "@x/socketserver";
   *
   * class Signed extends DatagramRequestHandler {
   *   override async finish() {
   *     await this.wfile.write(" -- server");
   *     await super.finish();
   *   }
   * }
   * ```
   */
  override async finish(): Promise<void> {
    const wfile = this.wfile;
    if (wfile === undefined) return;
    if (!wfile.idle) await wfile.flush();
    const reply = this.#reply!.take();
    wfile.close();
    this.#rfile?.close();
    if (reply === null) return;
    const address = this.clientAddress as Deno.Addr;
    if (address.transport === "unixpacket") {
      if (!address.path) {
        throw new Deno.errors.NotConnected(
          "Cannot reply to a Unix datagram client whose socket has no path: the client must bind its socket to a path to receive replies",
        );
      }
    }
    try {
      await this.socket.send(reply, address);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable && address.transport === "unixpacket") {
        // Deno checked and refused: name every flag that is missing (checking
        // only on failure keeps two permission queries off each reply)
        checkUnixSendPermissions(address.path);
      }
      if (
        address.transport === "unixpacket" &&
        (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.ConnectionRefused)
      ) {
        // the client closed its socket before the reply: a routine drop
        throw new Deno.errors.NotConnected(
          `Cannot reply to "${address.path}": the client's socket is gone (${error.message})`,
          { cause: error },
        );
      }
      const code = (error as { code?: unknown } | null)?.code;
      const doing = `Sending a ${reply.length}-byte reply to "${formatAddress(address)}"`;
      if (code === "ENOBUFS") {
        // the system's buffers are full: the reply is lost as the network
        // loses datagrams under load — a drop, not an error
        await this.server.handleDrop(this.request, this.clientAddress, withContext(error, doing));
        return;
      }
      if (code === "EMSGSIZE") {
        throw new RangeError(
          `${doing} failed: it is longer than one datagram can carry (${
            largestDatagram(address)
          }): send a shorter reply, or several`,
          { cause: error },
        );
      }
      throw withContext(error, doing);
    }
  }
}
