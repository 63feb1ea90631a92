/**
 * {@linkcode DatagramRequestHandler}: a handler that reads a datagram and
 * writes one reply.
 *
 * @module
 */

import type { AnyServer, ClientAddressOf } from "./base_server.ts";
import { BaseRequestHandler } from "./base_request_handler.ts";
import { registerBuiltins } from "./_fused_flow.ts";
import { BufferedReader, DEFAULT_MAX_LINE_LENGTH } from "./buffered_reader.ts";
import type { DatagramRequest } from "./datagram_server.ts";
import { StreamWriter } from "./stream_writer.ts";
import type { UDPServer } from "./udp_server.ts";
import { ReplyBuffer } from "./_datagram_slab.ts";
import { formatAddress, withContext } from "./_format.ts";
import { checkUnixSendPermissions } from "./_permissions.ts";
import { kReportError, kRequests, kSendFailed, kSendReply, kSent } from "./_symbols.ts";
import { asDrop } from "./errors.ts";

/** Whether a send failed with `EPROTOTYPE`: the path now holds a socket of another type (a stream
 * socket put there after the client closed its own), which Deno reports as a plain `Error`. */
function isWrongSocketType(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  // strerror()'s text, or Linux's number should the text be translated
  return error.message.includes("Protocol wrong type for socket") ||
    (Deno.build.os === "linux" && error.message.endsWith("(os error 91)"));
}

/** How large a datagram the transport of `address` carries, for messages. */
function largestDatagram(address: Deno.Addr): string {
  return address.transport === "udp"
    ? "a UDP datagram carries at most 65507 bytes over IPv4 and 65527 over IPv6"
    : "a Unix datagram carries at most the socket's send buffer less 32 bytes (net.core.wmem_default - 32)";
}

/**
 * A handler for datagrams, Python's `socketserver.DatagramRequestHandler`: it reads `packet` (or
 * `rfile`) and writes to `wfile`, which `finish()` sends as one datagram (nothing when empty,
 * unlike Python). Refuse a stray datagram by returning, not throwing: throws go to `handleError()`.
 *
 * @typeParam S The server type; `DatagramRequestHandler<DatagramServer>` serves UDP and Unix.
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
  /** The longest line `rfile.readline()` accepts, in bytes, newline included; longer ones throw
   * `LineTooLongError`.
   * @default {65536} */
  maxLineLength: number = DEFAULT_MAX_LINE_LENGTH;
  /** The datagram's bytes; set by `setup()`. */
  packet!: Uint8Array<ArrayBuffer>;
  /** The server's socket, for replies beyond `wfile`; set by `setup()`. */
  socket!: Deno.DatagramConn;
  /** Collects the reply that `finish()` sends; set by `setup()`. */
  wfile!: StreamWriter;

  #reply: ReplyBuffer | null = null;
  #rfile: BufferedReader | null = null;

  /** A reader over `packet`, at EOF after it; made on first use. */
  get rfile(): BufferedReader {
    return this.#rfile ??= BufferedReader.from(this.packet, { maxLineLength: this.maxLineLength });
  }
  set rfile(reader: BufferedReader) {
    this.#rfile = reader;
  }

  /** Whether the datagram was longer than the server's `maxPacketSize` and `packet` was cut. */
  get truncated(): boolean {
    return this.request.truncated;
  }

  /**
   * Sets `packet`, `socket` and `wfile` (`rfile` is made on first use).
   * Overrides call `super.setup()` first.
   *
   * @example
   * ```ts
   * import { DatagramRequestHandler, UDPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const seen: string[] = [];
   * class Logged extends DatagramRequestHandler {
   *   override setup() {
   *     super.setup();
   *     seen.push(`${this.packet.length} bytes${this.truncated ? " (cut)" : ""}`);
   *   }
   * }
   * await using server = new UDPServer(["127.0.0.1", 0], Logged, { maxPacketSize: 4 });
   * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
   * await client.send(new TextEncoder().encode("hello"), server.serverAddress);
   * await server.handleRequest();
   * assert.deepEqual(seen, ["4 bytes (cut)"]);
   * client.close();
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
   * Sends what was written to `wfile` to the client in one datagram (nothing when no byte was
   * written) and closes both files. Overrides call `super.finish()` last.
   *
   * @returns Once the reply is sent.
   * @throws {Deno.errors.NotConnected} A Unix client with no path, or gone (a drop).
   * @throws {Deno.errors.TimedOut} A Unix client that does not read its replies (a drop).
   * @throws {Deno.errors.NotCapable} No permission for the Unix client's path.
   * @throws {RangeError} The reply is longer than one datagram can carry. (`ENOBUFS` is reported
   *   to `handleDrop()`, and `finish()` returns.)
   *
   * @example
   * ```ts
   * import { DatagramRequestHandler, UDPServer } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * class Signed extends DatagramRequestHandler {
   *   override async handle() {
   *     await this.wfile.write(this.packet);
   *   }
   *   override async finish() {
   *     await this.wfile.write(" -- server");
   *     await super.finish();
   *   }
   * }
   * await using server = new UDPServer(["127.0.0.1", 0], Signed);
   * const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
   * await client.send(new TextEncoder().encode("hi"), server.serverAddress);
   * await server.handleRequest();
   * const [reply] = await client.receive();
   * assert.equal(new TextDecoder().decode(reply), "hi -- server");
   * client.close();
   * ```
   */
  override async finish(): Promise<void> {
    const sending = this[kSendReply]();
    if (sending === undefined) return;
    try {
      await sending;
    } catch (error) {
      return await this[kSendFailed](error);
    }
    this[kSent]();
  }

  /** @ignore Internal: `finish()` up to the send, which it returns (the fused flow awaits it). */
  [kSendReply](): Promise<unknown> | undefined {
    const wfile = this.wfile;
    if (wfile === undefined) return;
    // a buffered wfile (a subclass's) flushes first: not the common path
    if (!wfile.idle) return wfile.flush().then(() => this[kSendReply]());
    const reply = this.#reply!.take();
    wfile.close();
    this.#rfile?.close();
    if (reply === null) return;
    const address = this.clientAddress as Deno.Addr;
    if (address.transport === "unixpacket" && !address.path) {
      throw new Deno.errors.NotConnected(
        "Cannot reply to a Unix datagram client whose socket has no path: the client must bind its socket to a path to receive replies",
      );
    }
    if (
      address.transport === "unixpacket" && address.path[0] !== "/" && address.path[0] !== "\0"
    ) {
      // relative to the client's working directory, but resolved against the server's: a client
      // could aim the server's reply at any socket there (systemd's run/systemd/notify from "/")
      throw new Deno.errors.NotConnected(
        `Cannot reply to the Unix datagram client at "${address.path}": a relative path names a socket in the server's working directory, not the client's; the client must bind its socket to an absolute path to receive replies`,
      );
    }
    if (address.transport === "udp" && address.port === 0) {
      // a forged source (scanners, reflection probes): no socket has port 0, and the send fails
      // with EINVAL, a TypeError
      throw new Deno.errors.NotConnected(
        `Cannot reply to "${
          formatAddress(address)
        }": a UDP datagram from port 0 has a forged source, which no reply can reach`,
      );
    }
    this.#sent = reply.length;
    return this.socket.send(reply, address);
  }

  #sent = 0;

  /** @ignore Internal: the reply `[kSendReply]()` started went out: its bytes are counted. */
  [kSent](): void {
    // optional: a handler may run under a stand-in server (a test's), or none
    const counters = (this.server as Partial<AnyServer> | undefined)?.[kRequests]?.counters;
    if (counters !== undefined) counters.bytesWritten += this.#sent;
  }

  /** @ignore Internal: a failed send is a drop for `handleDrop()` (it returns), or an error that
   * says what to do (it throws). */
  async [kSendFailed](error: unknown): Promise<void> {
    const address = this.clientAddress as Deno.Addr;
    if (error instanceof Deno.errors.NotCapable && address.transport === "unixpacket") {
      // name every missing flag; checking only on failure keeps two queries off each reply
      checkUnixSendPermissions(address.path);
    }
    if (
      address.transport === "unixpacket" &&
      (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.ConnectionRefused ||
        isWrongSocketType(error))
    ) {
      // the client closed its socket before the reply: a routine drop
      throw new Deno.errors.NotConnected(
        `Cannot reply to "${address.path}": the client's socket is gone (${error.message})`,
        { cause: error },
      );
    }
    const code = (error as { code?: unknown } | null)?.code;
    const doing = `Sending a ${this.#sent}-byte reply to "${formatAddress(address)}"`;
    if (code === "ENOBUFS") {
      // lost as the network loses datagrams under load: a drop
      const lost = asDrop(withContext(error, doing), "replyLost");
      const report = (this.server as Partial<AnyServer> | undefined)?.[kReportError];
      if (report === undefined) {
        await this.server.handleDrop(this.request, this.clientAddress, lost);
      } else await report(this.request, this.clientAddress, lost);
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

registerBuiltins(DatagramRequestHandler.prototype, ["setup", "finish"], {
  datagramFinish: "finish",
});
