/**
 * {@linkcode DatagramServer}: the base of `UDPServer` and
 * `UnixDatagramServer`, where every datagram is a request.
 *
 * @module
 */

import { BaseServer, type BaseServerOptions, type RequestHandlerClass } from "./base_server.ts";
import { NotBoundError } from "./errors.ts";
import { type AttributeValues, declareAttributes } from "./_attributes.ts";
import { bindAndActivate } from "./_bind.ts";
import { release, reserve } from "./_datagram_slab.ts";
import { describeValue } from "./_format.ts";
import { registerBuiltins } from "./_fused_flow.ts";
import {
  kAttribute,
  kCloseDeferred,
  kCloseSocket,
  kReleaseRequest,
  kRequests,
} from "./_symbols.ts";

/**
 * A datagram server's `request`: Python's `(data, socket)` tuple, `truncated` when the datagram
 * was longer than `maxPacketSize` and `packet` holds only its first `maxPacketSize` bytes.
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
 * Options of every {@linkcode DatagramServer}; each overrides the class attribute of its name.
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
 * ```
 */
export interface DatagramServerOptions extends BaseServerOptions {
  /** Bind in the constructor; with `false`, call `serverBind()` and `serverActivate()` yourself.
   * Python: `bind_and_activate`.
   * @default {true} */
  bindAndActivate?: boolean;
  /** {@linkcode DatagramServer.maxPacketSize}.
   * @default {8192} */
  maxPacketSize?: number;
}

/** Throws, naming the flag, when Deno's unstable datagram API (`Deno.listenDatagram`) is missing.
 * @param what The class that needs it, for the message. */
export function requireUnstableNet(what: string): void {
  if (typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
    throw new Deno.errors.NotSupported(
      `${what} needs Deno's unstable datagram API (Deno.listenDatagram): run with --unstable-net, or add "unstable": ["net"] to deno.json`,
    );
  }
}

/** Internal: called before the socket closes, while it still holds its file's inode
 * (`UnixDatagramServer` removes the file). */
export const kSocketClosed: unique symbol = Symbol("socketserver.socketClosed");

/** How many loss reports in a row one `getRequest()` skips before it throws. */
const MAX_SKIPPED_REPORTS = 64;

/** Whether a receive error only reports an earlier reply's loss (ICMP "port unreachable"):
 * Windows' `WSAECONNRESET`, Linux's `ECONNREFUSED` under `IP_RECVERR`. */
function isLossReport(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionRefused;
}

function checkPacketSize(_name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `"maxPacketSize" must be a positive integer number of bytes, got ${describeValue(value)}`,
    );
  }
  return value;
}

/**
 * The base of `UDPServer` and `UnixDatagramServer`: every datagram on `socket` is one request,
 * `[packet, socket]` as in Python. `packet` views a shared buffer that nothing overwrites; one kept past
 * its request pins that buffer, so keep `packet.slice()`. The constructor binds, as a {@linkcode StreamServer}'s
 * does. Truncation, `serverClose()`, faults and floods: docs/datagrams.md.
 *
 * @typeParam A The client address type.
 * @typeParam SA The server address type.
 *
 * @example A datagram server on a socket of its own
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
  /** Class attribute: the longest datagram received whole, in bytes; a longer one is cut and
   * marked `truncated`. Python: `max_packet_size`. */
  static maxPacketSize: number = 8192;
  /** Class attribute: the most datagrams handled at once (`null`: no limit); beyond it they wait
   * in the socket's buffer. 1024, not `null`: a flood costs its sender nothing. */
  static override maxConnections: number | null = 1024;

  /** The socket; `undefined` until `serverBind()`. */
  declare socket: Deno.DatagramConn;
  /** The options given to the constructor; see {@linkcode BaseServer.options}. */
  declare readonly options: Readonly<DatagramServerOptions>;

  #closeWhenIdle = false;
  /** The last datagram `getRequest()` returned, until it is closed: one taken and not yet
   * handled when the server closes (`serverClose()` serves it) needs the socket for its reply. */
  #taken: DatagramRequest | null = null;

  /** Creates the server and, unless `options.bindAndActivate` is false, binds. */
  constructor(
    serverAddress: SA,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, A>,
    options: DatagramServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
    if (options.bindAndActivate ?? true) bindAndActivate(this);
  }

  /** The longest datagram received whole; see the static attribute. */
  get maxPacketSize(): number {
    // named, not this[kAttribute]("maxPacketSize"): read per datagram (see AttributeValues)
    return (this[kAttribute]() as AttributeValues).maxPacketSize as number;
  }
  set maxPacketSize(value: number) {
    this[kAttribute]("maxPacketSize", value);
  }

  /** Always `"SOCK_DGRAM"`. Python: `socket_type`. */
  get socketType(): "SOCK_DGRAM" {
    return "SOCK_DGRAM";
  }

  /**
   * Receives the next datagram, skipping up to 64 errors in a row that only report an earlier
   * reply's loss (`ConnectionRefused`, `ConnectionReset`).
   *
   * @returns `[[packet, socket], clientAddress]`, `truncated` when cut to `maxPacketSize`.
   * @throws {Deno.errors.BadResource} The server was never bound, or was closed: a datagram received
   * on the socket kept open for the replies in flight is dropped.
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
   * assert.equal(new TextDecoder().decode(request[0]), "hell");
   * assert.equal(request.truncated, true);
   * client.close();
   * ```
   */
  override async getRequest(): Promise<[DatagramRequest, A]> {
    // a static override is not checked on assignment: check it here
    const max = checkPacketSize("maxPacketSize", this.maxPacketSize);
    const socket = this.socket;
    if (socket === undefined) throw new NotBoundError(this);
    // one byte more than the limit is how a longer datagram is told apart
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
    if (this.closed) {
      // received on the socket kept open for the replies in flight: nothing new is taken then
      release(region, 0);
      throw new Deno.errors.BadResource(
        `Cannot receive on a closed server: create a new ${this.constructor.name}`,
      );
    }
    const truncated = data.length > max;
    const packet = truncated ? data.subarray(0, max) : data;
    release(region, packet.length);
    this[kRequests].counters.bytesRead += packet.length;
    const request = [packet, socket] as [Uint8Array<ArrayBuffer>, Deno.DatagramConn] & {
      truncated: boolean;
    };
    request.truncated = truncated;
    this.#taken = request as DatagramRequest;
    return [request as DatagramRequest, address as A];
  }

  /**
   * Marks the request over; the socket stays open, unless `serverClose()` waits for this last
   * request. Overrides call `super.closeRequest()`. Python: `close_request()`.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, type DatagramRequest, UDPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const sizes: number[] = [];
   * class Logged extends UDPServer {
   *   override closeRequest(request: DatagramRequest) {
   *     sizes.push(request[0].length);
   *     super.closeRequest(request);
   *   }
   * }
   * await using server = new Logged({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
   * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
   * await client.send(new TextEncoder().encode("hi"), server.serverAddress);
   * await server.handleRequest();
   * assert.deepEqual(sizes, [2]);
   * client.close();
   * ```
   */
  override closeRequest(request: DatagramRequest): void {
    this[kReleaseRequest](request);
  }

  /** @ignore Internal: the request is over; the socket closes if `serverClose()` waits for it. */
  [kReleaseRequest](request: DatagramRequest): void {
    if (this.#taken === request) this.#taken = null;
    this[kRequests].delete(request);
    if (this.#closeWhenIdle && this.activeRequests === 0) this.#closeNow();
  }

  /** @ignore Internal: closes the socket, or after the last request in flight (their replies go out
   * through it), or the datagram taken and not yet handled, which `serverClose()` serves. */
  override [kCloseSocket](): void {
    const requests = this[kRequests];
    const taken = this.#taken;
    const waiting = taken !== null && requests.pending !== null && !requests.has(taken);
    if (this.socket !== undefined && (this.activeRequests > 0 || waiting)) {
      this.#closeWhenIdle = true;
      if (!waiting) {
        // The receive pending on the socket kept open can take no request now (getRequest()
        // drops what it receives once closed), and ends only when the socket closes: not for
        // serverClose() to wait for, which a handler awaiting it would then do for its own end
        requests.pending?.catch(() => {});
        requests.pending = null;
      } else if (this.activeRequests === 0) {
        // the pending receive holds it, unless an override of getRequest() passed over it
        const notYet = {};
        const closeIfIdle = () => {
          if (this.#closeWhenIdle && this.activeRequests === 0) this.#closeNow();
        };
        Promise.race([requests.pending, notYet]).then((got) => {
          if (got === notYet) closeIfIdle();
        }, closeIfIdle);
      }
      return;
    }
    this.#closeNow();
  }

  /** @ignore Internal: the socket stays open until the requests in flight end (their replies go
   * out through it), so a receive pending on it settles only then. */
  get [kCloseDeferred](): boolean {
    return this.#closeWhenIdle;
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

  /** @ignore Internal: called just before the socket is closed. */
  [kSocketClosed](): void {}
}

declareAttributes(DatagramServer, { maxPacketSize: checkPacketSize });
registerBuiltins(DatagramServer.prototype, ["getRequest", "closeRequest"]);
