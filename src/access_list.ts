/**
 * {@linkcode AccessList}: allow and deny lists of CIDR networks, for `verifyRequest()`.
 *
 * @module
 */

/**
 * Options of {@linkcode AccessList}: networks such as `"10.0.0.0/8"`, `"fe80::/10"` or `"::1"`.
 *
 * @example Everybody but one network
 * ```ts
 * import { AccessList, type AccessListOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: AccessListOptions = { deny: ["198.51.100.0/24"] };
 * const access = new AccessList(options);
 * assert.equal(access.allows("198.51.100.9"), false);
 * assert.equal(access.allows("203.0.113.1"), true);
 * ```
 */
export interface AccessListOptions {
  /** When given, only clients in these networks are allowed (`[]`: nobody).
   * @default {undefined} */
  allow?: Iterable<string>;
  /** Clients in these networks are refused, even when `allow` holds them too.
   * @default {[]} */
  deny?: Iterable<string>;
}

/** An address as bytes (4 or 16) and how many leading bits of it a network fixes. */
interface Network {
  bytes: Uint8Array;
  prefix: number;
}

const V4_MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * Allow and deny lists of IPv4 and IPv6 networks, for a server's `verifyRequest()`: `deny` wins,
 * then `allow`, if given, must hold the client. `::ffff:192.0.2.7` is checked as IPv4; a Unix path
 * is in no network.
 *
 * @example Loopback and one private network, except a single host
 * ```ts
 * import { AccessList, BaseRequestHandler, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const access = new AccessList({
 *   allow: ["127.0.0.0/8", "::1", "10.0.0.0/8"],
 *   deny: ["10.0.0.13"],
 * });
 * assert.equal(access.allows("10.1.2.3"), true);
 * assert.equal(access.allows("10.0.0.13"), false);
 * assert.equal(access.allows("::ffff:127.0.0.1"), true);
 * assert.equal(access.allows("192.0.2.1"), false);
 *
 * class Guarded extends TCPServer {
 *   override verifyRequest(_request: Deno.TcpConn, address: Deno.NetAddr) {
 *     return access.allows(address);
 *   }
 * }
 * await using _server = new Guarded({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
 * ```
 */
export class AccessList {
  #allow: Network[] | null;
  #deny: Network[];

  /**
   * Parses the networks.
   *
   * @param options The `allow` and `deny` networks.
   * @throws {TypeError} A network that is not an IP address with an optional `/prefix`.
   * @throws {RangeError} A prefix too long for its family, or host bits set beyond it.
   */
  constructor(options: AccessListOptions = {}) {
    this.#allow = options.allow === undefined ? null : [...options.allow].map(parseNetwork);
    this.#deny = [...(options.deny ?? [])].map(parseNetwork);
  }

  /**
   * Whether a client at `address` is allowed.
   *
   * @param address An IP literal (`"fe80::1%eth0"` too), or an address such as a `Deno.NetAddr`.
   * @returns `true` when the client may be served.
   *
   * @example
   * ```ts
   * import { AccessList } from "@x/socketserver";
   * import assert from "node:assert/strict";
   *
   * const access = new AccessList({ deny: ["192.0.2.0/24", "2001:db8::/32"] });
   * assert.equal(access.allows({ hostname: "192.0.2.200" }), false);
   * assert.equal(access.allows("2001:db8:1::5"), false);
   * assert.equal(access.allows("198.51.100.1"), true);
   * ```
   */
  allows(address: string | { hostname?: string }): boolean {
    const hostname = typeof address === "string" ? address : address?.hostname;
    const bytes = typeof hostname === "string" ? parseAddress(hostname) : null;
    if (bytes !== null) {
      for (const network of this.#deny) if (contains(network, bytes)) return false;
    }
    if (this.#allow === null) return true;
    if (bytes === null) return false;
    for (const network of this.#allow) if (contains(network, bytes)) return true;
    return false;
  }
}

function contains(network: Network, bytes: Uint8Array): boolean {
  const net = network.bytes;
  if (net.length !== bytes.length) return false;
  const whole = network.prefix >> 3;
  for (let i = 0; i < whole; i++) if (net[i] !== bytes[i]) return false;
  const bits = network.prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (net[whole] & mask) === (bytes[whole] & mask);
}

function parseNetwork(text: string): Network {
  if (typeof text !== "string") {
    throw new TypeError(`A network must be a string like "10.0.0.0/8", got ${String(text)}`);
  }
  const slash = text.indexOf("/");
  const host = slash === -1 ? text : text.slice(0, slash);
  const bytes = host.includes("%") ? null : parseAddress(host);
  if (bytes === null) {
    throw new TypeError(
      `Network "${text}" is not an IPv4 or IPv6 address with an optional prefix: write it like "10.0.0.0/8", "2001:db8::/32" or "::1"`,
    );
  }
  const max = bytes.length * 8;
  let prefix = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    // decimal, no leading zero, as in an address: "/08" is refused
    prefix = /^(0|[1-9]\d{0,2})$/.test(digits) ? Number(digits) : NaN;
    // an IPv4-mapped network written in IPv6 (::ffff:10.0.0.0/104) counts in IPv6 bits
    if (bytes.length === 4 && host.includes(":")) prefix -= 96;
    if (!(prefix >= 0 && prefix <= max)) {
      throw new RangeError(
        `Network "${text}" has an invalid prefix length: use 0 to ${
          host.includes(":") ? 128 : 32
        } for an ${
          host.includes(":") ? "IPv6" : "IPv4"
        } network, in decimal without a leading zero`,
      );
    }
  }
  const base = bytes.slice();
  for (let bit = prefix; bit < max; bit++) base[bit >> 3] &= ~(0x80 >> (bit & 7));
  if (!contains({ bytes: base, prefix: max }, bytes)) {
    const length = text.slice(slash + 1);
    throw new RangeError(
      `Network "${text}" has host bits set beyond its /${length} prefix: did you mean "${
        formatBytes(base, host.includes(":"))
      }/${length}"?`,
    );
  }
  return { bytes, prefix };
}

/** Formats an address for a message, IPv6 with its longest zero run as `::`. */
function formatBytes(bytes: Uint8Array, v6: boolean): string {
  if (bytes.length === 4) return v6 ? `::ffff:${bytes.join(".")}` : bytes.join(".");
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > bestLength) [best, bestLength] = [i, j - i];
  }
  if (best === -1) return words.join(":");
  return `${words.slice(0, best).join(":")}::${words.slice(best + bestLength).join(":")}`;
}

/** An IP literal's bytes (zone ignored, IPv4-mapped as IPv4), or `null`. */
function parseAddress(text: string): Uint8Array | null {
  if (!text.includes(":")) return parseIPv4(text);
  const zone = text.indexOf("%");
  const v6 = parseIPv6(zone === -1 ? text : text.slice(0, zone));
  if (v6 === null) return null;
  for (let i = 0; i < 12; i++) if (v6[i] !== V4_MAPPED[i]) return v6;
  return v6.slice(12);
}

function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i];
    // decimal only, no leading zeros (which some parsers read as octal)
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    bytes[i] = value;
  }
  return bytes;
}

function parseIPv6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const words = (half: string): number[] | null => {
    if (half === "") return [];
    const out: number[] = [];
    const groups = half.split(":");
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i];
      if (i === groups.length - 1 && group.includes(".")) {
        const v4 = parseIPv4(group);
        if (v4 === null) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(group)) {
        out.push(parseInt(group, 16));
      } else {
        return null;
      }
    }
    return out;
  };
  const head = words(halves[0]);
  const tail = halves.length === 2 ? words(halves[1]) : [];
  if (head === null || tail === null) return null;
  // an embedded IPv4 address is only allowed at the very end
  if (halves.length === 2 && halves[0].includes(".")) return null;
  const count = head.length + tail.length;
  if (halves.length === 2 ? count > 7 : count !== 8) return null;
  const all = [...head, ...new Array(8 - count).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[2 * i] = all[i] >> 8;
    bytes[2 * i + 1] = all[i] & 0xff;
  }
  return bytes;
}
