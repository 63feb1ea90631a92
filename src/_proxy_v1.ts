/**
 * The PROXY protocol's version 1: a text line, `PROXY TCP4 <source>
 * <destination> <ports>\r\n`, and the IP literals it carries.
 *
 * @module
 */
import type { ProxyHeader, ProxyProtocolMode } from "./proxy_protocol.ts";
import { EMPTY_TLVS, headerError, hex, latin1, quoteBytes } from "./_proxy_common.ts";

/** The longest version 1 line, CRLF included (the spec's worst case,
 * `UNKNOWN` with two full IPv6 addresses). */
export const V1_MAX_LENGTH = 107;
/** "PROXY" in US-ASCII: a version 1 line's first five bytes. */
export const V1_SIGNATURE = [0x50, 0x52, 0x4f, 0x58, 0x59];
const CR = 0x0d;
const LF = 0x0a;

export function v1Length(bytes: Uint8Array, mode: ProxyProtocolMode): number {
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
    `PROXY v1 line has no CRLF within ${V1_MAX_LENGTH} bytes, the limit the specification fixes`,
    mode,
  );
}

export function parseV1(bytes: Uint8Array, length: number, mode: ProxyProtocolMode): ProxyHeader {
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

/** The 16 bytes of an IPv6 literal, or `null`: what `inet_ntop()` (so HAProxy, nginx) writes,
 * which is how the spec's "sets of 4 hexadecimal digits" is read. No zone index. */
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

/** The IPv6 address in `bytes[offset..offset+16]` as Deno reports a connection's (RFC 5952), an
 * IPv4-mapped one as `::ffff:a.b.c.d`. */
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
