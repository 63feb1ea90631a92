/**
 * A strict parser of HAProxy's PROXY protocol header, versions 1 and 2, per
 * doc/proxy-protocol.txt (revision 2020/03/05); servers call it through `readProxyHeader()`.
 *
 * @module
 */
import type { ProxyHeader, ProxyProtocolMode } from "./proxy_protocol.ts";
import { headerError, quoteBytes } from "./_proxy_common.ts";
import { parseV1, V1_SIGNATURE, v1Length } from "./_proxy_v1.ts";
import { parseV2, V2_SIGNATURE, v2Length } from "./_proxy_v2.ts";

/** The default limit on a version 2 header, TLVs included: nginx's own, so what passes nginx
 * passes here, while one connection cannot make a server buffer 64 KiB. */
export const DEFAULT_MAX_HEADER_LENGTH = 4096;

/** How long the header at the start of `bytes` is once known (maybe more than have arrived), or 0
 * while more are needed. Throws as soon as they cannot begin a valid header, so that garbage is
 * refused at once rather than at the deadline. */
export function proxyHeaderLength(
  bytes: Uint8Array,
  mode: ProxyProtocolMode = "any",
  maxLength: number = DEFAULT_MAX_HEADER_LENGTH,
): number {
  const have = bytes.length;
  if (have === 0) return 0;
  const first = bytes[0];
  if (first === V2_SIGNATURE[0] && mode !== "v1") return v2Length(bytes, mode, maxLength);
  if (first === V1_SIGNATURE[0] && mode !== "v2") return v1Length(bytes, mode);
  throw headerError(
    "signature",
    `The connection does not start with a PROXY protocol ${
      mode === "any" ? "" : `${mode} `
    }header (first bytes ${quoteBytes(bytes)})`,
    mode,
  );
}

/** Parses the header at the start of `bytes`, ignoring the payload after it; throws
 * `ProxyHeaderError` unless they begin with a complete, valid header of an accepted version. */
export function parseProxyHeader(
  bytes: Uint8Array,
  mode: ProxyProtocolMode = "any",
  maxLength: number = DEFAULT_MAX_HEADER_LENGTH,
): ProxyHeader {
  const length = proxyHeaderLength(bytes, mode, maxLength);
  if (length === 0 || length > bytes.length) {
    throw headerError(
      "truncated",
      `PROXY header is incomplete: ${bytes.length} bytes${
        length === 0 ? "" : ` of ${length}`
      } arrived`,
      mode,
    );
  }
  return bytes[0] === V2_SIGNATURE[0] ? parseV2(bytes, length, mode) : parseV1(bytes, length, mode);
}
