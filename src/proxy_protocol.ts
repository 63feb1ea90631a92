/**
 * The types of a received PROXY protocol header (HAProxy's PROXY protocol,
 * versions 1 and 2): {@linkcode ProxyHeader}, its addresses and TLVs, and
 * {@linkcode ProxyHeaderError}, the one error every bad header throws.
 *
 * @module
 */

/**
 * Which PROXY protocol versions a server accepts: the text form of version 1,
 * the binary form of version 2, or either (told apart by their first bytes,
 * as the specification describes).
 *
 * @example
 * ```ts
 * import type { ProxyProtocolMode } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const behindNginx: ProxyProtocolMode = "v1"; // nginx sends version 1 only
 * const behindHaproxy: ProxyProtocolMode = "any"; // send-proxy or send-proxy-v2
 * assert.notEqual(behindNginx, behindHaproxy);
 * ```
 */
export type ProxyProtocolMode = "v1" | "v2" | "any";

/**
 * The command of a header: `"PROXY"` (the connection is relayed for a client,
 * whose address the header carries) or `"LOCAL"` (the proxy opened it for
 * itself, a health check: the connection's own addresses stand). A version 1
 * header is always `"PROXY"`.
 *
 * @example
 * ```ts
 * import type { ProxyCommand } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const isHealthCheck = (command: ProxyCommand) => command === "LOCAL";
 * assert.equal(isHealthCheck("LOCAL"), true);
 * ```
 */
export type ProxyCommand = "PROXY" | "LOCAL";

/**
 * The address family of the relayed connection: `"INET"` (IPv4; version 1's
 * `TCP4`), `"INET6"` (IPv6; `TCP6`), `"UNIX"` (version 2 only) or `"UNSPEC"`
 * (version 1's `UNKNOWN`, or version 2's unspecified family: no address is
 * carried).
 *
 * @example
 * ```ts
 * import type { ProxyFamily } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const families: ProxyFamily[] = ["INET", "INET6", "UNIX", "UNSPEC"];
 * assert.equal(families.length, 4);
 * ```
 */
export type ProxyFamily = "INET" | "INET6" | "UNIX" | "UNSPEC";

/**
 * The transport of the relayed connection: `"STREAM"` (TCP, or a Unix stream
 * socket), `"DGRAM"` (UDP, or a Unix datagram socket) or `"UNSPEC"`.
 *
 * @example
 * ```ts
 * import type { ProxyTransport } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const transport: ProxyTransport = "STREAM";
 * assert.equal(transport, "STREAM");
 * ```
 */
export type ProxyTransport = "STREAM" | "DGRAM" | "UNSPEC";

/**
 * An address a header carries, shaped as Deno reports a connection's: a
 * `Deno.NetAddr` (`"tcp"` or `"udp"`, with a canonical IP literal as
 * `hostname`: IPv6 lower-case and compressed, `::ffff:a.b.c.d` for an
 * IPv4-mapped one) or a `Deno.UnixAddr` (`"unix"` or `"unixpacket"`; an
 * abstract socket's path starts with `"\0"`).
 *
 * @example
 * ```ts
 * import type { ProxyAddress } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const describe = (address: ProxyAddress) =>
 *   "path" in address ? address.path : `${address.hostname}:${address.port}`;
 * assert.equal(describe({ transport: "tcp", hostname: "192.0.2.7", port: 4242 }), "192.0.2.7:4242");
 * ```
 */
export type ProxyAddress = Deno.NetAddr | Deno.UnixAddr;

/**
 * One type-length-value entry of a version 2 header, kept as received: its
 * type (0-255) and its value's bytes.
 *
 * @example
 * ```ts
 * import type { ProxyTlv } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * // AWS's Network Load Balancer sends its endpoint ID in a custom type 0xEA.
 * const tlv: ProxyTlv = { type: 0xea, value: new TextEncoder().encode("\x01vpce-0123") };
 * assert.equal(new TextDecoder().decode(tlv.value.subarray(1)), "vpce-0123");
 * ```
 */
export interface ProxyTlv {
  /** The type byte. */
  readonly type: number;
  /** The value's bytes (a copy: the header's buffer is not kept). */
  readonly value: Uint8Array;
}

/**
 * What the proxy knows of the client's TLS connection (the `PP2_TYPE_SSL`
 * TLV and its sub-TLVs): HAProxy's `send-proxy-v2-ssl` and
 * `send-proxy-v2-ssl-cn`.
 *
 * @example
 * ```ts
 * import type { ProxySslInfo } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const PP2_CLIENT_SSL = 0x01;
 * const ssl: ProxySslInfo = {
 *   client: PP2_CLIENT_SSL,
 *   verify: 0,
 *   version: "TLSv1.3",
 *   cipher: "TLS_AES_256_GCM_SHA384",
 *   unknown: [],
 * };
 * assert.equal((ssl.client & PP2_CLIENT_SSL) !== 0, true);
 * ```
 */
export interface ProxySslInfo {
  /** The `client` bit field: `0x01` the client connected over TLS, `0x02` it
   * presented a certificate on this connection, `0x04` on this TLS session. */
  readonly client: number;
  /** The `verify` field: 0 when the client's certificate was verified,
   * non-zero otherwise. */
  readonly verify: number;
  /** `PP2_SUBTYPE_SSL_VERSION`: the TLS version, such as `"TLSv1.3"`. */
  readonly version?: string;
  /** `PP2_SUBTYPE_SSL_CN`: the Common Name of the client certificate's
   * subject. */
  readonly cn?: string;
  /** `PP2_SUBTYPE_SSL_CIPHER`: the cipher, such as `"ECDHE-RSA-AES128-GCM-SHA256"`. */
  readonly cipher?: string;
  /** `PP2_SUBTYPE_SSL_SIG_ALG`: the algorithm that signed the frontend's
   * certificate, such as `"RSA-SHA256"`. */
  readonly sigAlg?: string;
  /** `PP2_SUBTYPE_SSL_KEY_ALG`: the algorithm of the frontend certificate's
   * key, such as `"RSA2048"`. */
  readonly keyAlg?: string;
  /** Sub-TLVs of types the specification does not define, as received. */
  readonly unknown: readonly ProxyTlv[];
}

/**
 * The TLVs of a version 2 header, decoded; always empty for version 1. Each
 * registered type appears at most once (a header that repeats one is
 * rejected); `PP2_TYPE_NOOP` padding is skipped.
 *
 * @example Reading the TLVs a handler cares about
 * ```ts
 * import type { ProxyTlvs } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const tlvs: ProxyTlvs = {
 *   alpn: new TextEncoder().encode("h2"),
 *   authority: "example.com",
 *   unknown: [],
 * };
 * const protocol = tlvs.alpn ? new TextDecoder().decode(tlvs.alpn) : "http/1.1";
 * assert.equal(protocol, "h2");
 * ```
 */
export interface ProxyTlvs {
  /** `PP2_TYPE_ALPN`: the protocol the client negotiated with ALPN, as
   * bytes (`"h2"`, `"http/1.1"`...). */
  readonly alpn?: Uint8Array;
  /** `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI). */
  readonly authority?: string;
  /** `PP2_TYPE_CRC32C`: the header's CRC32C checksum, already verified (a
   * header whose checksum does not match is rejected). */
  readonly crc32c?: number;
  /** `PP2_TYPE_UNIQUE_ID`: the proxy's opaque ID of the connection (at most
   * 128 bytes). */
  readonly uniqueId?: Uint8Array;
  /** `PP2_TYPE_SSL`: what the proxy knows of the client's TLS connection. */
  readonly ssl?: ProxySslInfo;
  /** `PP2_TYPE_NETNS`: the name of the network namespace the connection was
   * accepted in. */
  readonly netns?: string;
  /** TLVs of types the specification does not define (including the custom
   * range 0xE0-0xEF that cloud balancers use), in order, as received. */
  readonly unknown: readonly ProxyTlv[];
}

/**
 * A valid PROXY protocol header, as taken off the start of a connection.
 *
 * For a `"PROXY"` header with an address, `source` is the client the proxy
 * relays and `destination` the address the client connected to; for a
 * `"LOCAL"` header (a health check), version 1's `UNKNOWN`, or an
 * unspecified version 2 family both are `null`: the connection's own
 * addresses stand, as the specification requires.
 *
 * @example Choosing the client's address
 * ```ts
 * import type { ProxyHeader } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const clientOf = (header: ProxyHeader, peer: Deno.Addr) => header.source ?? peer;
 *
 * const proxied: ProxyHeader = {
 *   version: 1,
 *   command: "PROXY",
 *   family: "INET",
 *   transport: "STREAM",
 *   source: { transport: "tcp", hostname: "192.0.2.7", port: 56324 },
 *   destination: { transport: "tcp", hostname: "198.51.100.1", port: 443 },
 *   tlvs: { unknown: [] },
 *   length: 50,
 * };
 * const healthCheck: ProxyHeader = {
 *   version: 2,
 *   command: "LOCAL",
 *   family: "UNSPEC",
 *   transport: "UNSPEC",
 *   source: null,
 *   destination: null,
 *   tlvs: { unknown: [] },
 *   length: 16,
 * };
 * const balancer: Deno.NetAddr = { transport: "tcp", hostname: "127.0.0.1", port: 40000 };
 * assert.deepEqual(clientOf(proxied, balancer), proxied.source);
 * assert.deepEqual(clientOf(healthCheck, balancer), balancer);
 * ```
 */
export interface ProxyHeader {
  /** The protocol version: 1 (text) or 2 (binary). */
  readonly version: 1 | 2;
  /** `"PROXY"` or `"LOCAL"`. */
  readonly command: ProxyCommand;
  /** The relayed connection's address family. */
  readonly family: ProxyFamily;
  /** The relayed connection's transport. */
  readonly transport: ProxyTransport;
  /** The client's address, or `null` when the header carries none. */
  readonly source: ProxyAddress | null;
  /** The address the client connected to, or `null` when the header carries
   * none. */
  readonly destination: ProxyAddress | null;
  /** The version 2 TLVs, decoded (empty for version 1). */
  readonly tlvs: ProxyTlvs;
  /** The header's length in bytes, as it was on the wire (a version 1 line
   * with its CRLF; a version 2 header's 16 bytes plus its length field). */
  readonly length: number;
}

/**
 * Why a connection's PROXY header was refused (see
 * {@linkcode ProxyHeaderError.reason}):
 * - `"signature"`: the connection does not start with a header of an
 *   accepted version (a client that is not a proxy, or the other version);
 * - `"malformed"`: the header breaks the specification (bad version,
 *   command, family, address, port, length or TLV);
 * - `"checksum"`: its CRC32C TLV does not match;
 * - `"too-long"`: a version 1 line without CRLF within 107 bytes, or a
 *   version 2 header longer than the limit;
 * - `"truncated"`: the connection ended before the header did;
 * - `"timeout"`: the header was not complete before the deadline;
 * - `"io"`: reading failed (a reset); the error's `cause` says how;
 * - `"untrusted"`: the connection came from an address that is not one of
 *   the server's `trustedProxies`, and was closed before any read.
 *
 * @example
 * ```ts
 * import type { ProxyHeaderErrorReason } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const worthAWarning = (reason: ProxyHeaderErrorReason) =>
 *   reason !== "timeout" && reason !== "truncated" && reason !== "io";
 * assert.equal(worthAWarning("signature"), true);
 * ```
 */
export type ProxyHeaderErrorReason =
  | "signature"
  | "malformed"
  | "checksum"
  | "too-long"
  | "truncated"
  | "timeout"
  | "io"
  | "untrusted";

/**
 * Why a server with `proxyProtocol` set dropped a connection before any
 * handler ran: it came from an address not in `trustedProxies`, or its
 * header is missing, malformed, fails its checksum, is too long, ends early,
 * comes too slowly, or the read fails. {@linkcode ProxyHeaderError.reason}
 * says which. It reaches `handleDrop()` ({@linkcode isRoutineDrop} is true
 * for it), which is silent by default: override it to log a misconfigured
 * balancer.
 *
 * @example Telling a slow proxy from a client that is not one
 * ```ts
 * import { ProxyHeaderError } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * function describe(error: unknown): string {
 *   if (!(error instanceof ProxyHeaderError)) return "other";
 *   return error.reason === "signature" ? "not a proxy" : `bad header (${error.reason})`;
 * }
 *
 * const error = new ProxyHeaderError(
 *   "signature",
 *   'The connection does not start with a PROXY protocol header (first bytes "GET /")',
 * );
 * assert.equal(describe(error), "not a proxy");
 * assert.equal(error.name, "ProxyHeaderError");
 * ```
 */
export class ProxyHeaderError extends Error {
  /** Why the header was refused. */
  readonly reason: ProxyHeaderErrorReason;

  /**
   * Creates the error.
   *
   * @param reason Why the header was refused.
   * @param message What was wrong and what to check.
   * @param options `cause`: the read's error, for `"io"`.
   */
  constructor(reason: ProxyHeaderErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProxyHeaderError";
    this.reason = reason;
  }
}
