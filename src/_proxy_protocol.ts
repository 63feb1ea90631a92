/**
 * A strict parser of HAProxy's PROXY protocol header, versions 1 (text) and 2
 * (binary), per doc/proxy-protocol.txt (revision 2020/03/05). Not exported
 * from the package: servers read the header with `readProxyHeader()`.
 *
 * @module
 */
import type { ProxyHeader, ProxyProtocolMode } from "./proxy_protocol.ts";
import { headerError, quoteBytes } from "./_proxy_common.ts";
import { parseV1, V1_SIGNATURE, v1Length } from "./_proxy_v1.ts";
import { parseV2, V2_SIGNATURE, v2Length } from "./_proxy_v2.ts";

/**
 * The default limit on a version 2 header, TLVs included: nginx's own
 * (`NGX_PROXY_PROTOCOL_MAX_HEADER`), so whatever a sender gets through nginx
 * gets through here, while one connection cannot make a server buffer 64 KiB.
 */
export const DEFAULT_MAX_HEADER_LENGTH = 4096;

/**
 * How long the header at the start of `bytes` is, from as many bytes as have
 * arrived: the full length once it is known (a version 2 header's from its
 * first 16 bytes, which may be more than `bytes` holds yet), or 0 while more
 * bytes are needed to tell. Throws as soon as the bytes cannot begin a valid
 * header of an accepted version, so that garbage is refused at once rather
 * than at the deadline.
 */
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

/**
 * Parses the header at the start of `bytes` (bytes after it are the payload
 * and are ignored). Throws `ProxyHeaderError` when `bytes` does not begin
 * with a complete, valid header of an accepted version.
 */
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
