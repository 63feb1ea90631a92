/**
 * What both PROXY protocol versions' parsers share: the error with its hint,
 * and byte-to-text helpers.
 *
 * @module
 */
import {
  ProxyHeaderError,
  type ProxyHeaderErrorReason,
  type ProxyProtocolMode,
  type ProxyTlv,
  type ProxyTlvs,
} from "./proxy_protocol.ts";

export const EMPTY_TLVS: ProxyTlvs = Object.freeze({
  unknown: Object.freeze([]) as readonly ProxyTlv[],
});

/** What to check, by reason: the message's second half. */
function hint(reason: ProxyHeaderErrorReason, mode: ProxyProtocolMode): string {
  switch (reason) {
    case "signature":
      return mode === "v1"
        ? 'only trusted proxies that send version 1 ("send-proxy", "proxy_protocol on") may connect, or set proxyProtocol to "v2" or "any"'
        : mode === "v2"
        ? 'only trusted proxies that send version 2 ("send-proxy-v2") may connect, or set proxyProtocol to "v1" or "any"'
        : "only trusted proxies that send a PROXY protocol header may connect";
    default:
      return "check the proxy's PROXY protocol settings";
  }
}

/** The error for `reason`, with `advice`, or else the hint for `mode`. */
export function headerError(
  reason: ProxyHeaderErrorReason,
  detail: string,
  mode: ProxyProtocolMode,
  advice?: string,
  options?: ErrorOptions,
): ProxyHeaderError {
  return new ProxyHeaderError(reason, `${detail}: ${advice ?? hint(reason, mode)}`, options);
}

/** Bytes as one char each (Latin-1): `apply` rather than a spread, which
 * costs five times as much on a header line. */
export function latin1(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/** Up to 16 bytes, quoted, for a message. */
export function quoteBytes(bytes: Uint8Array): string {
  return JSON.stringify(latin1(bytes.subarray(0, 16)));
}

export function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}
