/**
 * The types of a received PROXY protocol header (HAProxy's, versions 1 and 2):
 * {@linkcode ProxyHeader}, its addresses and TLVs, and {@linkcode ProxyHeaderError}.
 *
 * @module
 */

/**
 * Which PROXY protocol versions a server accepts: version 1 (text), 2 (binary), or either.
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
 * The command of a header: `"PROXY"` (relayed for the client it names; always, in version 1) or
 * `"LOCAL"` (the proxy's own connection, a health check: the connection's addresses stand).
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
 * The relayed connection's address family: `"INET"` (version 1's `TCP4`), `"INET6"` (`TCP6`),
 * `"UNIX"` (version 2 only) or `"UNSPEC"` (version 1's `UNKNOWN`: no address is carried).
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
 * The relayed connection's transport: `"STREAM"` (TCP, Unix stream), `"DGRAM"` or `"UNSPEC"`.
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
 * An address a header carries, shaped as Deno reports a connection's: a `Deno.NetAddr` with a
 * canonical IP literal (IPv6 lower-case and compressed, `::ffff:a.b.c.d` when IPv4-mapped) or a
 * `Deno.UnixAddr` (an abstract socket's path starts with `"\0"`).
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
 * One type-length-value entry of a version 2 header, as received.
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
 * What the proxy knows of the client's TLS connection: the `PP2_TYPE_SSL` TLV (HAProxy's
 * `send-proxy-v2-ssl` and `send-proxy-v2-ssl-cn`).
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
  /** The `client` bit field: `0x01` the client connected over TLS, `0x02` it presented a
   * certificate on this connection, `0x04` on this TLS session. */
  readonly client: number;
  /** The `verify` field: 0 when the client's certificate was verified. */
  readonly verify: number;
  /** `PP2_SUBTYPE_SSL_VERSION`: the TLS version, such as `"TLSv1.3"`. */
  readonly version?: string;
  /** `PP2_SUBTYPE_SSL_CN`: the Common Name of the client certificate's subject. */
  readonly cn?: string;
  /** `PP2_SUBTYPE_SSL_CIPHER`: the cipher, such as `"ECDHE-RSA-AES128-GCM-SHA256"`. */
  readonly cipher?: string;
  /** `PP2_SUBTYPE_SSL_SIG_ALG`: what signed the frontend's certificate, such as `"RSA-SHA256"`. */
  readonly sigAlg?: string;
  /** `PP2_SUBTYPE_SSL_KEY_ALG`: the frontend certificate's key, such as `"RSA2048"`. */
  readonly keyAlg?: string;
  /** Sub-TLVs of types the specification does not define, as received. */
  readonly unknown: readonly ProxyTlv[];
}

/**
 * The TLVs of a version 2 header, decoded (empty for version 1). A header that repeats a
 * registered type is rejected; `PP2_TYPE_NOOP` padding is skipped.
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
  /** `PP2_TYPE_ALPN`: the protocol the client negotiated with ALPN, as bytes (`"h2"`...). */
  readonly alpn?: Uint8Array;
  /** `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI). */
  readonly authority?: string;
  /** `PP2_TYPE_CRC32C`: the header's checksum, already verified. */
  readonly crc32c?: number;
  /** `PP2_TYPE_UNIQUE_ID`: the proxy's opaque ID of the connection (at most 128 bytes). */
  readonly uniqueId?: Uint8Array;
  /** `PP2_TYPE_SSL`: what the proxy knows of the client's TLS connection. */
  readonly ssl?: ProxySslInfo;
  /** `PP2_TYPE_NETNS`: the network namespace the connection was accepted in. */
  readonly netns?: string;
  /** TLVs of types the specification does not define (such as the custom range 0xE0-0xEF that
   * cloud balancers use), in order, as received. */
  readonly unknown: readonly ProxyTlv[];
}

/**
 * A valid PROXY protocol header, as taken off the start of a connection. `source` and
 * `destination` are `null` when it carries no address (`"LOCAL"`, `UNKNOWN`, `"UNSPEC"`): then the
 * connection's own addresses stand, as the specification requires.
 *
 * @example Choosing the client's address
 * ```ts
 * import type { ProxyHeader } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const clientOf = (header: ProxyHeader, peer: Deno.Addr) => header.source ?? peer;
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
  /** The address the client connected to, or `null` when the header carries none. */
  readonly destination: ProxyAddress | null;
  /** The version 2 TLVs, decoded (empty for version 1, and for `"LOCAL"`, whose block the
   * specification says to discard). */
  readonly tlvs: ProxyTlvs;
  /** The header's length in bytes on the wire (a version 1 line with its CRLF). */
  readonly length: number;
}

/**
 * Why a connection's PROXY header was refused ({@linkcode ProxyHeaderError.reason}):
 * - `"signature"`: no header of an accepted version (not a proxy, or the other version);
 * - `"malformed"`: it breaks the specification (version, command, family, address, length, TLV);
 * - `"checksum"`: its CRC32C TLV does not match;
 * - `"too-long"`: a version 1 line without CRLF within 107 bytes, or a version 2 over the limit;
 * - `"truncated"`: the connection ended before the header did;
 * - `"timeout"`: the header was not complete before the deadline;
 * - `"io"`: reading failed (a reset); the error's `cause` says how;
 * - `"untrusted"`: the peer is not in `trustedProxies`; closed before any read.
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
 * Why a server with `proxyProtocol` set dropped a connection before any handler ran;
 * {@linkcode ProxyHeaderError.reason} says which. It reaches `handleDrop()` (a routine drop,
 * silent by default): override that to log a misconfigured balancer.
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

  /** Creates the error; `options.cause` is the read's error, for `"io"`. */
  constructor(reason: ProxyHeaderErrorReason, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProxyHeaderError";
    this.reason = reason;
  }
}
