/**
 * The PROXY protocol's version 2: a binary header with addresses and TLVs.
 *
 * @module
 */
import { crc32cFinish, crc32cInit, crc32cUpdate } from "./_crc32c.ts";
import type {
  ProxyAddress,
  ProxyCommand,
  ProxyFamily,
  ProxyHeader,
  ProxyProtocolMode,
  ProxySslInfo,
  ProxyTlv,
  ProxyTlvs,
  ProxyTransport,
} from "./proxy_protocol.ts";
import { EMPTY_TLVS, headerError, hex, latin1, quoteBytes } from "./_proxy_common.ts";
import { formatIPv6 } from "./_proxy_v1.ts";

/** The fixed part of a version 2 header: signature, version and command,
 * family and transport, length. */
export const V2_FIXED_LENGTH = 16;

/** The shortest limit a reader may set: a Unix-family header without TLVs. */
export const V2_MIN_LIMIT = V2_FIXED_LENGTH + 216;

/** The longest a version 2 header can be at all: its length field is 16 bits. */
export const V2_MAX_LIMIT = V2_FIXED_LENGTH + 0xffff;

/** The version 2 signature: `\r\n\r\n\0\r\nQUIT\n`. */
export const V2_SIGNATURE: Uint8Array = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);

// TLV types (section 2.2 of the spec).
const PP2_TYPE_ALPN = 0x01;
const PP2_TYPE_AUTHORITY = 0x02;
const PP2_TYPE_CRC32C = 0x03;
const PP2_TYPE_NOOP = 0x04;
const PP2_TYPE_UNIQUE_ID = 0x05;
const PP2_TYPE_SSL = 0x20;
const PP2_SUBTYPE_SSL_VERSION = 0x21;
const PP2_SUBTYPE_SSL_CN = 0x22;
const PP2_SUBTYPE_SSL_CIPHER = 0x23;
const PP2_SUBTYPE_SSL_SIG_ALG = 0x24;
const PP2_SUBTYPE_SSL_KEY_ALG = 0x25;
const PP2_TYPE_NETNS = 0x30;
const UNIQUE_ID_MAX = 128;

/** The seven family-and-transport bytes the spec defines, with their address block's length. Any
 * other is refused: the spec's UNSPEC fallback covers only "the valid combinations above". */
const FAMILIES: ReadonlyMap<number, [ProxyFamily, ProxyTransport, number]> = new Map([
  [0x00, ["UNSPEC", "UNSPEC", 0]],
  [0x11, ["INET", "STREAM", 12]],
  [0x12, ["INET", "DGRAM", 12]],
  [0x21, ["INET6", "STREAM", 36]],
  [0x22, ["INET6", "DGRAM", 36]],
  [0x31, ["UNIX", "STREAM", 216]],
  [0x32, ["UNIX", "DGRAM", 216]],
]);

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function v2Length(bytes: Uint8Array, mode: ProxyProtocolMode, maxLength: number): number {
  const have = bytes.length;
  for (let i = 0; i < V2_SIGNATURE.length && i < have; i++) {
    if (bytes[i] !== V2_SIGNATURE[i]) {
      throw headerError(
        "signature",
        `The connection does not start with a PROXY protocol ${
          mode === "any" ? "" : "v2 "
        }header (first bytes ${quoteBytes(bytes)})`,
        mode,
      );
    }
  }
  if (have > 12) checkVersionCommand(bytes[12], mode);
  if (have > 13) familyOf(bytes[13], mode);
  if (have < V2_FIXED_LENGTH) return 0;
  const [, , addressLength] = familyOf(bytes[13], mode);
  const length = (bytes[14] << 8) | bytes[15];
  if (length < addressLength) {
    throw headerError(
      "malformed",
      `PROXY v2 header length ${length} is shorter than its family's addresses (${addressLength} bytes, family byte "0x${
        hex(bytes[13])
      }")`,
      mode,
    );
  }
  const total = V2_FIXED_LENGTH + length;
  if (total > maxLength) {
    throw headerError(
      "too-long",
      `PROXY v2 header of ${total} bytes exceeds the limit of ${maxLength} bytes`,
      mode,
      // no server option raises it: the TLVs the proxy adds are what to cut
      "check which TLVs the proxy adds to its PROXY protocol header and turn off those not needed",
    );
  }
  return total;
}

function checkVersionCommand(byte: number, mode: ProxyProtocolMode): ProxyCommand {
  if (byte >> 4 !== 2) {
    throw headerError(
      "malformed",
      `PROXY v2 header has version ${byte >> 4} (byte "0x${hex(byte)}"); only version 2 exists`,
      mode,
    );
  }
  const command = byte & 0x0f;
  if (command === 0) return "LOCAL";
  if (command === 1) return "PROXY";
  throw headerError(
    "malformed",
    `PROXY v2 header has command ${command} (byte "0x${
      hex(byte)
    }"); only LOCAL (0) and PROXY (1) exist`,
    mode,
  );
}

function familyOf(byte: number, mode: ProxyProtocolMode): [ProxyFamily, ProxyTransport, number] {
  const family = FAMILIES.get(byte);
  if (family === undefined) {
    throw headerError(
      "malformed",
      `PROXY v2 header has family and transport byte "0x${
        hex(byte)
      }"; the spec defines 0x00, 0x11, 0x12, 0x21, 0x22, 0x31 and 0x32`,
      mode,
    );
  }
  return family;
}

export function parseV2(bytes: Uint8Array, length: number, mode: ProxyProtocolMode): ProxyHeader {
  // proxyHeaderLength() checked the signature, version, command, family
  // byte and the length field against the family and the limit.
  const command = checkVersionCommand(bytes[12], mode);
  const [family, transport, addressLength] = familyOf(bytes[13], mode);
  let source: ProxyAddress | null = null;
  let destination: ProxyAddress | null = null;
  // LOCAL: "discard the protocol block including the family".
  if (command === "PROXY" && family !== "UNSPEC") {
    const at = V2_FIXED_LENGTH;
    if (family === "UNIX") {
      const unixTransport = transport === "STREAM" ? "unix" : "unixpacket";
      source = { transport: unixTransport, path: unixPath(bytes.subarray(at, at + 108), mode) };
      destination = {
        transport: unixTransport,
        path: unixPath(bytes.subarray(at + 108, at + 216), mode),
      };
    } else {
      const netTransport = transport === "STREAM" ? "tcp" : "udp";
      const size = family === "INET" ? 4 : 16;
      const ports = at + 2 * size;
      const host = (offset: number) =>
        size === 4
          ? `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`
          : formatIPv6(bytes, offset);
      source = {
        transport: netTransport,
        hostname: host(at),
        port: (bytes[ports] << 8) | bytes[ports + 1],
      };
      destination = {
        transport: netTransport,
        hostname: host(at + size),
        port: (bytes[ports + 2] << 8) | bytes[ports + 3],
      };
    }
  }
  const tlvStart = V2_FIXED_LENGTH + addressLength;
  // LOCAL's block is skipped unread, TLVs included, as HAProxy's receiver
  // does: a health check whose block is anything else is still valid
  const tlvs = command === "LOCAL" || tlvStart === length
    ? EMPTY_TLVS
    : parseTlvs(bytes, tlvStart, length, mode);
  return { version: 2, command, family, transport, source, destination, tlvs, length };
}

/** A Unix address field: the path up to its NUL; one starting with NUL is an
 * abstract name (Linux), kept with its leading `"\0"`, trailing NULs cut. */
function unixPath(field: Uint8Array, mode: ProxyProtocolMode): string {
  let end: number;
  if (field[0] === 0) {
    end = field.length;
    while (end > 1 && field[end - 1] === 0) end--;
    if (end === 1) return "";
  } else {
    end = field.indexOf(0);
    if (end === -1) end = field.length;
  }
  return decodeText(field.subarray(0, end), "Unix address", mode);
}

function decodeText(bytes: Uint8Array, what: string, mode: ProxyProtocolMode): string {
  // Most TLV text is ASCII: decoding it here skips TextDecoder's call overhead.
  let ascii = true;
  for (let i = 0; i < bytes.length && ascii; i++) ascii = bytes[i] < 0x80;
  if (ascii) return latin1(bytes);
  try {
    return utf8.decode(bytes);
  } catch {
    throw headerError("malformed", `PROXY v2 header has a ${what} that is not UTF-8`, mode);
  }
}

function tlvName(type: number): string {
  return `TLV type "0x${hex(type)}"`;
}

function parseTlvs(
  bytes: Uint8Array,
  start: number,
  end: number,
  mode: ProxyProtocolMode,
): ProxyTlvs {
  let alpn: Uint8Array | undefined;
  let authority: string | undefined;
  let crc32c: number | undefined;
  let uniqueId: Uint8Array | undefined;
  let ssl: ProxySslInfo | undefined;
  let netns: string | undefined;
  const unknown: ProxyTlv[] = [];
  const seen = new Set<number>();
  let crcValueAt = -1;
  for (let at = start; at < end;) {
    if (end - at < 3) {
      throw headerError(
        "malformed",
        `PROXY v2 header ends inside a TLV's type and length (${
          end - at
        } bytes left at offset ${at})`,
        mode,
      );
    }
    const type = bytes[at];
    const size = (bytes[at + 1] << 8) | bytes[at + 2];
    const valueAt = at + 3;
    if (valueAt + size > end) {
      throw headerError(
        "malformed",
        `PROXY v2 ${tlvName(type)} at offset ${at} has length ${size}, beyond the header's end (${
          end - valueAt
        } bytes left)`,
        mode,
      );
    }
    const value = bytes.subarray(valueAt, valueAt + size);
    at = valueAt + size;
    if (type === PP2_TYPE_NOOP) continue;
    const registered = type === PP2_TYPE_ALPN || type === PP2_TYPE_AUTHORITY ||
      type === PP2_TYPE_CRC32C || type === PP2_TYPE_UNIQUE_ID || type === PP2_TYPE_SSL ||
      type === PP2_TYPE_NETNS;
    if (!registered) {
      unknown.push({ type, value: value.slice() });
      continue;
    }
    if (seen.has(type)) {
      throw headerError("malformed", `PROXY v2 header repeats ${tlvName(type)}`, mode);
    }
    seen.add(type);
    switch (type) {
      case PP2_TYPE_ALPN:
        alpn = value.slice();
        break;
      case PP2_TYPE_AUTHORITY:
        authority = decodeText(value, "authority", mode);
        break;
      case PP2_TYPE_CRC32C:
        if (size !== 4) {
          throw headerError(
            "malformed",
            `PROXY v2 CRC32C TLV has length ${size}; it must be 4`,
            mode,
          );
        }
        crc32c = ((value[0] << 24) | (value[1] << 16) | (value[2] << 8) | value[3]) >>> 0;
        crcValueAt = valueAt;
        break;
      case PP2_TYPE_UNIQUE_ID:
        if (size > UNIQUE_ID_MAX) {
          throw headerError(
            "malformed",
            `PROXY v2 unique ID TLV has length ${size}; it must be at most ${UNIQUE_ID_MAX}`,
            mode,
          );
        }
        uniqueId = value.slice();
        break;
      case PP2_TYPE_SSL:
        ssl = parseSsl(value, mode);
        break;
      case PP2_TYPE_NETNS:
        netns = decodeText(value, "network namespace", mode);
        break;
    }
  }
  if (crc32c !== undefined) {
    // The checksum covers the whole header with its own four bytes as zeros.
    let state = crc32cInit();
    state = crc32cUpdate(state, bytes.subarray(0, crcValueAt));
    state = crc32cUpdate(state, ZEROS);
    state = crc32cUpdate(state, bytes.subarray(crcValueAt + 4, end));
    const computed = crc32cFinish(state);
    if (computed !== crc32c) {
      throw headerError(
        "checksum",
        `PROXY v2 header's CRC32C is "0x${
          crc32c.toString(16).padStart(8, "0")
        }" but its bytes sum to "0x${computed.toString(16).padStart(8, "0")}"`,
        mode,
      );
    }
  }
  const tlvs: {
    -readonly [K in keyof ProxyTlvs]: ProxyTlvs[K];
  } = { unknown };
  if (alpn !== undefined) tlvs.alpn = alpn;
  if (authority !== undefined) tlvs.authority = authority;
  if (crc32c !== undefined) tlvs.crc32c = crc32c;
  if (uniqueId !== undefined) tlvs.uniqueId = uniqueId;
  if (ssl !== undefined) tlvs.ssl = ssl;
  if (netns !== undefined) tlvs.netns = netns;
  return tlvs;
}

const ZEROS = new Uint8Array(4);

function parseSsl(value: Uint8Array, mode: ProxyProtocolMode): ProxySslInfo {
  if (value.length < 5) {
    throw headerError(
      "malformed",
      `PROXY v2 SSL TLV has length ${value.length}; it needs at least 5 (client and verify)`,
      mode,
    );
  }
  const ssl: { -readonly [K in keyof ProxySslInfo]: ProxySslInfo[K] } = {
    client: value[0],
    verify: ((value[1] << 24) | (value[2] << 16) | (value[3] << 8) | value[4]) >>> 0,
    unknown: [],
  };
  const unknown: ProxyTlv[] = [];
  const seen = new Set<number>();
  for (let at = 5; at < value.length;) {
    if (value.length - at < 3) {
      throw headerError(
        "malformed",
        `PROXY v2 SSL TLV ends inside a sub-TLV's type and length (${
          value.length - at
        } bytes left)`,
        mode,
      );
    }
    const type = value[at];
    const size = (value[at + 1] << 8) | value[at + 2];
    const valueAt = at + 3;
    if (valueAt + size > value.length) {
      throw headerError(
        "malformed",
        `PROXY v2 SSL sub-${tlvName(type)} has length ${size}, beyond the SSL TLV's end (${
          value.length - valueAt
        } bytes left)`,
        mode,
      );
    }
    const sub = value.subarray(valueAt, valueAt + size);
    at = valueAt + size;
    if (type < PP2_SUBTYPE_SSL_VERSION || type > PP2_SUBTYPE_SSL_KEY_ALG) {
      unknown.push({ type, value: sub.slice() });
      continue;
    }
    if (seen.has(type)) {
      throw headerError("malformed", `PROXY v2 SSL TLV repeats sub-${tlvName(type)}`, mode);
    }
    seen.add(type);
    const text = decodeText(sub, `SSL sub-${tlvName(type)}`, mode);
    if (type === PP2_SUBTYPE_SSL_VERSION) ssl.version = text;
    else if (type === PP2_SUBTYPE_SSL_CN) ssl.cn = text;
    else if (type === PP2_SUBTYPE_SSL_CIPHER) ssl.cipher = text;
    else if (type === PP2_SUBTYPE_SSL_SIG_ALG) ssl.sigAlg = text;
    else ssl.keyAlg = text;
  }
  ssl.unknown = unknown;
  return ssl;
}
