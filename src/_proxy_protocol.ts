/**
 * A strict parser of HAProxy's PROXY protocol header, versions 1 (text) and 2
 * (binary), per doc/proxy-protocol.txt (revision 2020/03/05). Not exported
 * from the package: servers read the header with `readProxyHeader()`.
 *
 * @module
 */
import { crc32cFinish, crc32cInit, crc32cUpdate } from "./_crc32c.ts";
import {
  type ProxyAddress,
  type ProxyCommand,
  type ProxyFamily,
  type ProxyHeader,
  ProxyHeaderError,
  type ProxyHeaderErrorReason,
  type ProxyProtocolMode,
  type ProxySslInfo,
  type ProxyTlv,
  type ProxyTlvs,
  type ProxyTransport,
} from "./proxy_protocol.ts";

/** The longest version 1 line, CRLF included (the spec's worst case,
 * `UNKNOWN` with two full IPv6 addresses). */
export const V1_MAX_LENGTH = 107;

/** The fixed part of a version 2 header: signature, version and command,
 * family and transport, length. */
export const V2_FIXED_LENGTH = 16;

/** The shortest limit a reader may set: a Unix-family header without TLVs. */
export const V2_MIN_LIMIT = V2_FIXED_LENGTH + 216;

/** The longest a version 2 header can be at all: its length field is 16 bits. */
export const V2_MAX_LIMIT = V2_FIXED_LENGTH + 0xffff;

/**
 * The default limit on a version 2 header, TLVs included: nginx's own
 * (`NGX_PROXY_PROTOCOL_MAX_HEADER`), so whatever a sender gets through nginx
 * gets through here, while one connection cannot make a server buffer 64 KiB.
 */
export const DEFAULT_MAX_HEADER_LENGTH = 4096;

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

/** "PROXY" in US-ASCII: a version 1 line's first five bytes. */
const V1_SIGNATURE = [0x50, 0x52, 0x4f, 0x58, 0x59];
const CR = 0x0d;
const LF = 0x0a;

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

/** The seven family-and-transport bytes the spec defines, with the length of
 * the address block each implies. Any other byte is refused: the spec says
 * other nibbles "must be rejected", and a receiver falls back to UNSPEC only
 * for "the valid combinations above". */
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
const EMPTY_TLVS: ProxyTlvs = Object.freeze({ unknown: Object.freeze([]) as readonly ProxyTlv[] });

/** What to check, by reason: the message's second half. */
function hint(reason: ProxyHeaderErrorReason, mode: ProxyProtocolMode): string {
  switch (reason) {
    case "signature":
      return mode === "v1"
        ? 'only trusted proxies that send version 1 ("send-proxy", "proxy_protocol on") may connect, or set proxyProtocol to "v2" or "any"'
        : mode === "v2"
        ? 'only trusted proxies that send version 2 ("send-proxy-v2") may connect, or set proxyProtocol to "v1" or "any"'
        : "only trusted proxies that send a PROXY protocol header may connect";
    case "too-long":
      return "check the proxy's PROXY protocol settings, or raise maxHeaderLength";
    default:
      return "check the proxy's PROXY protocol settings";
  }
}

/** The error for `reason`, with the hint for `mode`. */
export function headerError(
  reason: ProxyHeaderErrorReason,
  detail: string,
  mode: ProxyProtocolMode,
  options?: ErrorOptions,
): ProxyHeaderError {
  return new ProxyHeaderError(reason, `${detail}: ${hint(reason, mode)}`, options);
}

/** Bytes as one char each (Latin-1): `apply` rather than a spread, which
 * costs five times as much on a header line. */
function latin1(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}

/** Up to 16 bytes, quoted, for a message. */
function quoteBytes(bytes: Uint8Array): string {
  return JSON.stringify(latin1(bytes.subarray(0, 16)));
}

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

function v2Length(bytes: Uint8Array, mode: ProxyProtocolMode, maxLength: number): number {
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
    );
  }
  return total;
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
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

function v1Length(bytes: Uint8Array, mode: ProxyProtocolMode): number {
  const have = bytes.length;
  for (let i = 0; i < V1_SIGNATURE.length && i < have; i++) {
    if (bytes[i] !== V1_SIGNATURE[i]) {
      throw headerError(
        "signature",
        `The connection does not start with a PROXY protocol ${
          mode === "any" ? "" : "v1 "
        }header (first bytes ${quoteBytes(bytes)})`,
        mode,
      );
    }
  }
  const end = Math.min(have, V1_MAX_LENGTH);
  for (let i = V1_SIGNATURE.length; i < end; i++) {
    const byte = bytes[i];
    if (byte === CR) {
      if (i + 1 === V1_MAX_LENGTH) break; // its LF would be byte 108
      if (i + 1 === have) return 0;
      if (bytes[i + 1] !== LF) {
        throw headerError("malformed", "PROXY v1 line has a CR not followed by LF", mode);
      }
      return i + 2;
    }
    // The line is US-ASCII text: refuse binary at once instead of waiting.
    if (byte < 0x20 || byte > 0x7e) {
      throw headerError(
        "malformed",
        `PROXY v1 line has byte "0x${
          hex(byte)
        }" at offset ${i}; it must be printable US-ASCII ended by CRLF`,
        mode,
      );
    }
  }
  if (have < V1_MAX_LENGTH) return 0;
  throw headerError(
    "too-long",
    `PROXY v1 line has no CRLF within ${V1_MAX_LENGTH} bytes`,
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
  return bytes[0] === CR ? parseV2(bytes, length, mode) : parseV1(bytes, length, mode);
}

// ---- version 1 ----

function parseV1(bytes: Uint8Array, length: number, mode: ProxyProtocolMode): ProxyHeader {
  // proxyHeaderLength() checked that the line is printable ASCII and ends in CRLF.
  const line = latin1(bytes.subarray(0, length - 2));
  const bad = (detail: string) =>
    headerError("malformed", `PROXY v1 line ${JSON.stringify(line)} ${detail}`, mode);
  if (line.startsWith("PROXY UNKNOWN") && (line.length === 13 || line[13] === " ")) {
    // "the receiver must ignore anything presented before the CRLF"
    return {
      version: 1,
      command: "PROXY",
      family: "UNSPEC",
      transport: "UNSPEC",
      source: null,
      destination: null,
      tlvs: EMPTY_TLVS,
      length,
    };
  }
  const fields = line.split(" ");
  if (fields[0] !== "PROXY") throw bad('does not start with "PROXY "');
  const protocol = fields[1];
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    throw bad('has a protocol other than "TCP4", "TCP6" or "UNKNOWN"');
  }
  if (fields.length !== 6 || fields.includes("")) {
    throw bad("is not five fields separated by single spaces");
  }
  const parseAddress = protocol === "TCP4" ? canonicalIPv4 : canonicalIPv6;
  const sourceHost = parseAddress(fields[2]);
  if (sourceHost === null) throw bad(`has a source address that is not ${protocol}`);
  const destinationHost = parseAddress(fields[3]);
  if (destinationHost === null) throw bad(`has a destination address that is not ${protocol}`);
  const sourcePort = parsePort(fields[4]);
  if (sourcePort === null) throw bad("has a source port that is not 0-65535 without leading zeros");
  const destinationPort = parsePort(fields[5]);
  if (destinationPort === null) {
    throw bad("has a destination port that is not 0-65535 without leading zeros");
  }
  return {
    version: 1,
    command: "PROXY",
    family: protocol === "TCP4" ? "INET" : "INET6",
    transport: "STREAM",
    source: { transport: "tcp", hostname: sourceHost, port: sourcePort },
    destination: { transport: "tcp", hostname: destinationHost, port: destinationPort },
    tlvs: EMPTY_TLVS,
    length,
  };
}

/** A decimal 0-255 or 0-65535 without leading zeros (the spec forbids them
 * "to avoid any possible confusion with octal numbers"). */
function parseDecimal(text: string, max: number): number | null {
  const n = text.length;
  if (n === 0 || n > 5 || (n > 1 && text.charCodeAt(0) === 0x30)) return null;
  let value = 0;
  for (let i = 0; i < n; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return null;
    value = value * 10 + digit;
  }
  return value <= max ? value : null;
}

function parsePort(text: string): number | null {
  return parseDecimal(text, 0xffff);
}

/** The four bytes of a dotted-quad IPv4 literal, or `null`. */
function ipv4Bytes(text: string): number[] | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes: number[] = [];
  for (const part of parts) {
    const value = parseDecimal(part, 255);
    if (value === null) return null;
    bytes.push(value);
  }
  return bytes;
}

function canonicalIPv4(text: string): string | null {
  // Without leading zeros, a valid literal is already canonical.
  return ipv4Bytes(text) === null ? null : text;
}

/**
 * The 16 bytes of an IPv6 literal, or `null`. Groups of one to four hex
 * digits with at most one `::`, and an IPv4 dotted quad as the last 32 bits:
 * what `inet_ntop()` (so HAProxy, nginx) writes, which the spec's "sets of 4
 * hexadecimal digits" is read to mean. No zone index.
 */
export function ipv6Bytes(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 1 ? [] : halves[1] === "" ? [] : halves[1].split(":");
  const groups: number[] = [];
  const tailGroups: number[] = [];
  const last = halves.length === 1 ? head : tail;
  for (const [list, out] of [[head, groups], [tail, tailGroups]] as const) {
    for (let i = 0; i < list.length; i++) {
      const group = list[i];
      if (list === last && i === list.length - 1 && group.includes(".")) {
        const v4 = ipv4Bytes(group);
        if (v4 === null) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      if (group.length === 0 || group.length > 4) return null;
      let value = 0;
      for (let k = 0; k < group.length; k++) {
        const digit = hexDigit(group.charCodeAt(k));
        if (digit < 0) return null;
        value = (value << 4) | digit;
      }
      out.push(value);
    }
  }
  if (halves.length === 1) {
    if (groups.length !== 8) return null;
  } else {
    // "::" stands for at least one group of zeros.
    if (groups.length + tailGroups.length > 7) return null;
    while (groups.length + tailGroups.length < 8) groups.push(0);
    groups.push(...tailGroups);
  }
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[2 * i] = groups[i] >> 8;
    bytes[2 * i + 1] = groups[i] & 0xff;
  }
  return bytes;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  return -1;
}

function canonicalIPv6(text: string): string | null {
  const bytes = ipv6Bytes(text);
  return bytes === null ? null : formatIPv6(bytes, 0);
}

/**
 * The canonical text of the IPv6 address in `bytes[offset..offset+16]`, as
 * Deno reports a connection's (RFC 5952: lower case, no leading zeros, the
 * longest run of two or more zero groups as `::`, the first of equals), with
 * an IPv4-mapped address as `::ffff:a.b.c.d`.
 */
export function formatIPv6(bytes: Uint8Array, offset: number): string {
  let mapped = bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = bytes[offset + i] === 0;
  if (mapped) {
    return `::ffff:${bytes[offset + 12]}.${bytes[offset + 13]}.${bytes[offset + 14]}.${
      bytes[offset + 15]
    }`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1]);
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text = (list: number[]) => list.map((group) => group.toString(16)).join(":");
  if (bestStart === -1) return text(groups);
  return `${text(groups.slice(0, bestStart))}::${text(groups.slice(bestStart + bestLength))}`;
}

// ---- version 2 ----

function parseV2(bytes: Uint8Array, length: number, mode: ProxyProtocolMode): ProxyHeader {
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
  const tlvs = tlvStart === length ? EMPTY_TLVS : parseTlvs(bytes, tlvStart, length, mode);
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
