/**
 * The PROXY protocol parser (`parseProxyHeader`, `proxyHeaderLength`), its
 * CRC32C, and the reader that takes a header off a connection
 * (`readProxyHeader`): every example of HAProxy's doc/proxy-protocol.txt,
 * every malformed variant derived from it, truncation at each byte, chunk
 * boundaries, deadlines, and a differential check against the npm package
 * `proxy-protocol-js` (a test-only oracle). Seeded (`FUZZ_SEED`) and bounded.
 */
import assert from "node:assert/strict";
import { V1ProxyProtocol, V2ProxyProtocol } from "npm:proxy-protocol-js@4.0.6";
import type { ByteSource } from "../mod.ts";
import { crc32c } from "../src/_crc32c.ts";
import {
  DEFAULT_MAX_HEADER_LENGTH,
  parseProxyHeader,
  proxyHeaderLength,
} from "../src/_proxy_protocol.ts";
import { formatIPv6 } from "../src/_proxy_v1.ts";
import { V2_SIGNATURE } from "../src/_proxy_v2.ts";
import { readProxyHeader } from "../src/_proxy_reader.ts";
import {
  type ProxyHeader,
  ProxyHeaderError,
  type ProxyHeaderErrorReason,
  type ProxyProtocolMode,
} from "../src/proxy_protocol.ts";
import { sendThenReset } from "./_net.ts";
import { seededRandom } from "./_random.ts";
import { within } from "./_wait.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20261207);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---- builders ----

function bytes(...parts: (Uint8Array | number[] | string)[]): Uint8Array {
  const arrays = parts.map((part) =>
    typeof part === "string"
      ? Uint8Array.from(part, (c) => c.charCodeAt(0))
      : part instanceof Uint8Array
      ? part
      : Uint8Array.from(part)
  );
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function tlv(type: number, value: Uint8Array | number[] | string, length?: number): Uint8Array {
  const v = typeof value === "string" ? encoder.encode(value) : bytes(value);
  const n = length ?? v.length;
  return bytes([type, n >> 8, n & 0xff], v);
}

interface V2Parts {
  verCmd?: number;
  fam?: number;
  addresses?: Uint8Array | number[];
  tlvs?: Uint8Array[];
  /** Overrides the length field. */
  length?: number;
  /** Appends a CRC32C TLV and fills it in. */
  crc?: boolean;
}

function v2(parts: V2Parts = {}): Uint8Array {
  const addresses = bytes(parts.addresses ?? []);
  const tlvs = [...(parts.tlvs ?? [])];
  if (parts.crc) tlvs.push(tlv(0x03, new Uint8Array(4)));
  const body = bytes(addresses, ...tlvs);
  const length = parts.length ?? body.length;
  const header = bytes(
    V2_SIGNATURE,
    [parts.verCmd ?? 0x21, parts.fam ?? 0x11, length >> 8, length & 0xff],
    body,
  );
  if (parts.crc) {
    const sum = crc32c(header);
    const at = header.length - 4;
    header.set([sum >>> 24, (sum >>> 16) & 0xff, (sum >>> 8) & 0xff, sum & 0xff], at);
  }
  return header;
}

function ipv4Block(src: number[], dst: number[], sport: number, dport: number): number[] {
  return [...src, ...dst, sport >> 8, sport & 0xff, dport >> 8, dport & 0xff];
}

function unixField(path: string): Uint8Array {
  const field = new Uint8Array(108);
  field.set(encoder.encode(path));
  return field;
}

/** The reason `fn` failed with, or fails the test if it did not throw a
 * `ProxyHeaderError`. */
function reasonOf(fn: () => unknown): ProxyHeaderErrorReason {
  try {
    fn();
  } catch (error) {
    if (error instanceof ProxyHeaderError) return error.reason;
    throw error;
  }
  assert.fail("expected a ProxyHeaderError, got a header");
}

function rejects(
  input: Uint8Array,
  reason: ProxyHeaderErrorReason,
  mode: ProxyProtocolMode = "any",
) {
  assert.equal(
    reasonOf(() => parseProxyHeader(input, mode)),
    reason,
    `for ${JSON.stringify(decoder.decode(input))}`,
  );
}

// ---- CRC32C ----

Deno.test("crc32c() gives RFC 3720's and the common check values, the checksum PP2_TYPE_CRC32C uses", () => {
  assert.equal(crc32c(encoder.encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

// ---- version 1: the spec's examples ----

Deno.test("parseProxyHeader() reads the spec's longest TCP4 line (56 bytes)", () => {
  const line = "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
  assert.equal(line.length, 56);
  const header = parseProxyHeader(bytes(line));
  assert.deepEqual(header, {
    version: 1,
    command: "PROXY",
    family: "INET",
    transport: "STREAM",
    source: { transport: "tcp", hostname: "255.255.255.255", port: 65535 },
    destination: { transport: "tcp", hostname: "255.255.255.255", port: 65535 },
    tlvs: { unknown: [] },
    length: 56,
  });
});

Deno.test("parseProxyHeader() reads the spec's longest TCP6 line (104 bytes), giving the address canonically", () => {
  const full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const line = `PROXY TCP6 ${full} ${full} 65535 65535\r\n`;
  assert.equal(line.length, 104);
  const header = parseProxyHeader(bytes(line));
  assert.equal(header.family, "INET6");
  assert.deepEqual(header.source, { transport: "tcp", hostname: full, port: 65535 });
  assert.equal(header.length, 104);
});

Deno.test("parseProxyHeader() reads the spec's short UNKNOWN line (15 bytes) as no address", () => {
  const header = parseProxyHeader(bytes("PROXY UNKNOWN\r\n"));
  assert.equal(header.length, 15);
  assert.equal(header.family, "UNSPEC");
  assert.equal(header.transport, "UNSPEC");
  assert.equal(header.source, null);
  assert.equal(header.destination, null);
});

Deno.test("parseProxyHeader() reads the spec's worst case, UNKNOWN with full IPv6 fields (107 bytes), ignoring them", () => {
  const full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const line = `PROXY UNKNOWN ${full} ${full} 65535 65535\r\n`;
  assert.equal(line.length, 107);
  const header = parseProxyHeader(bytes(line));
  assert.equal(header.length, 107);
  assert.equal(header.source, null);
  // "the receiver must ignore anything presented before the CRLF"
  assert.equal(parseProxyHeader(bytes("PROXY UNKNOWN whatever: 1 2 3\r\n")).source, null);
});

Deno.test("parseProxyHeader() reads the spec's example before an HTTP request and stops at its CRLF", () => {
  const input = bytes(
    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n",
  );
  const header = parseProxyHeader(input);
  assert.equal(header.length, 47);
  assert.deepEqual(header.source, { transport: "tcp", hostname: "192.168.0.1", port: 56324 });
  assert.deepEqual(header.destination, { transport: "tcp", hostname: "192.168.0.11", port: 443 });
  assert.equal(
    decoder.decode(input.subarray(header.length)),
    "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n",
  );
});

Deno.test("parseProxyHeader() accepts inet_ntop's IPv6 forms (compressed, mixed case, dotted tail) and gives Deno's canonical text", () => {
  const cases: [string, string][] = [
    ["::1", "::1"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["::", "::"],
    ["2001:DB8::A", "2001:db8::a"],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"],
    ["::ffff:192.0.2.7", "::ffff:192.0.2.7"],
    ["::ffff:c000:207", "::ffff:192.0.2.7"],
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
    ["64:ff9b::192.0.2.33", "64:ff9b::c000:221"],
  ];
  for (const [text, canonical] of cases) {
    const header = parseProxyHeader(bytes(`PROXY TCP6 ${text} ::1 1 2\r\n`));
    assert.equal((header.source as Deno.NetAddr).hostname, canonical, text);
  }
});

Deno.test("formatIPv6() agrees with the URL parser's IPv6 serialisation on random addresses", () => {
  const rng = seededRandom(SEED);
  for (let i = 0; i < 2000; i++) {
    const address = new Uint8Array(16);
    for (let k = 0; k < 16; k++) {
      // zeros often, so that runs of zero groups come up
      address[k] = rng() < 0.5 ? 0 : Math.floor(rng() * 256);
    }
    if (
      address.subarray(0, 10).every((b) => b === 0) && address[10] === 0xff && address[11] === 0xff
    ) {
      continue; // mapped: Deno (and we) write it dotted, the URL parser does not
    }
    const groups = Array.from(
      { length: 8 },
      (_, g) => ((address[2 * g] << 8) | address[2 * g + 1]).toString(16).padStart(4, "0"),
    );
    const expected = new URL(`http://[${groups.join(":")}]/`).hostname.slice(1, -1);
    assert.equal(formatIPv6(address, 0), expected);
  }
});

// ---- version 1: malformed ----

Deno.test("parseProxyHeader() refuses every malformed version 1 line derived from the spec's rules", () => {
  const malformed = [
    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n", // LF alone
    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX", // CR alone
    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n", // trailing space
    "PROXY  TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", // two spaces
    "PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n",
    "PROXY TCP4 192.168.0.1 192.168.0.11 56324  443\r\n",
    "PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n", // a field missing
    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 1\r\n", // one too many
    "PROXY TCP4\r\n",
    "PROXY\r\n",
    "PROXY \r\n",
    "PROXY tcp4 192.168.0.1 192.168.0.11 56324 443\r\n", // protocol is case-sensitive
    "PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n",
    "PROXY UDP4 192.168.0.1 192.168.0.11 56324 443\r\n",
    "PROXY UNKNOWNX\r\n",
    "PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n", // leading zero
    "PROXY TCP4 192.168.0.256 192.168.0.11 56324 443\r\n", // octet range
    "PROXY TCP4 192.168.0 192.168.0.11 56324 443\r\n", // three octets
    "PROXY TCP4 192.168.0.1.2 192.168.0.11 56324 443\r\n",
    "PROXY TCP4 192.168..1 192.168.0.11 56324 443\r\n",
    "PROXY TCP4 0x7f.0.0.1 192.168.0.11 56324 443\r\n",
    "PROXY TCP4 ::1 192.168.0.11 56324 443\r\n", // family mismatch
    "PROXY TCP6 192.168.0.1 ::1 56324 443\r\n",
    "PROXY TCP6 ::1 ::g 56324 443\r\n",
    "PROXY TCP6 1::2::3 ::1 56324 443\r\n", // two "::"
    "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 56324 443\r\n", // 144 bits
    "PROXY TCP6 1:2:3:4:5:6:7 ::1 56324 443\r\n", // 112 bits
    "PROXY TCP6 1:2:3:4::5:6:7:8 ::1 56324 443\r\n", // "::" for no group
    "PROXY TCP6 12345:: ::1 56324 443\r\n", // five digits
    "PROXY TCP6 :1:2:3:4:5:6:7 ::1 56324 443\r\n",
    "PROXY TCP6 1:2:3:4:5:6:7: ::1 56324 443\r\n",
    "PROXY TCP6 ::1%eth0 ::1 56324 443\r\n", // zone index
    "PROXY TCP6 [::1] ::1 56324 443\r\n",
    "PROXY TCP6 ::ffff:192.0.2.07 ::1 56324 443\r\n",
    "PROXY TCP6 ::192.0.2.7:1 ::1 56324 443\r\n", // dotted not last
    "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n", // port range
    "PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n", // leading zero
    "PROXY TCP4 192.168.0.1 192.168.0.11 00 443\r\n",
    "PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n",
    "PROXY TCP4 192.168.0.1 192.168.0.11 +1 443\r\n",
    "PROXY TCP4 192.168.0.1 192.168.0.11 1e3 443\r\n",
    "PROXY TCP4 192.168.0.1 192.168.0.11 443 99999999999\r\n",
    "PROXY TCP4 192.168.0.1\t192.168.0.11 56324 443\r\n", // tab
    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\0\r\n", // NUL
    "PROXY UNKNOWN \x7f\r\n", // not printable
    "PROXY UNKNOWN caf\xe9\r\n", // not US-ASCII
  ];
  for (const line of malformed) {
    const reason = reasonOf(() => parseProxyHeader(bytes(line)));
    assert.ok(
      reason === "malformed" || reason === "truncated",
      `${JSON.stringify(line)}: ${reason}`,
    );
  }
  // An LF alone never ends a line: with nothing after it, the line is
  // incomplete; with anything, malformed.
  rejects(bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"), "malformed");
  rejects(bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"), "truncated");
});

Deno.test("parseProxyHeader() refuses a version 1 line with no CRLF within 107 bytes as too long", () => {
  const full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  // 108 bytes: the worst case with one more digit.
  const line = `PROXY UNKNOWN ${full} ${full} 65535 655350\r\n`;
  assert.equal(line.length, 108);
  rejects(bytes(line), "too-long");
  rejects(bytes("PROXY UNKNOWN " + "x".repeat(200)), "too-long");
  // Its CR as byte 107: the LF would be byte 108.
  rejects(bytes("PROXY UNKNOWN " + "x".repeat(92) + "\r\n"), "too-long");
  assert.equal(parseProxyHeader(bytes("PROXY UNKNOWN " + "x".repeat(91) + "\r\n")).length, 107);
  // Without CRLF and shorter, it is merely incomplete.
  rejects(bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2"), "truncated");
});

Deno.test("parseProxyHeader() refuses what is not a PROXY header (HTTP, TLS, SSH, lower case) as a wrong signature", () => {
  for (
    const input of [
      "GET / HTTP/1.1\r\n\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
      "SSH-2.0-OpenSSH_9.2\r\n",
      "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXX TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "\r\n\r\nX",
      " PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    ]
  ) {
    rejects(bytes(input), "signature");
  }
});

Deno.test("parseProxyHeader() in mode v1 refuses a version 2 header, and in mode v2 a version 1 line, as a wrong signature", () => {
  const one = bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  const two = v2({ addresses: ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) });
  rejects(two, "signature", "v1");
  rejects(one, "signature", "v2");
  assert.equal(parseProxyHeader(one, "v1").version, 1);
  assert.equal(parseProxyHeader(two, "v2").version, 2);
  assert.equal(parseProxyHeader(one, "any").version, 1);
  assert.equal(parseProxyHeader(two, "any").version, 2);
});

// ---- version 2: the spec's examples ----

Deno.test("parseProxyHeader() reads each of the spec's seven family and transport bytes with its address length", () => {
  const v4 = ipv4Block([192, 0, 2, 7], [198, 51, 100, 1], 56324, 443);
  const v6 = [
    ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
    ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    0xdc,
    0x04,
    0x01,
    0xbb,
  ];
  const unix = bytes(unixField("/run/client.sock"), unixField("/run/server.sock"));
  const cases: [number, number[] | Uint8Array, Partial<ProxyHeader>][] = [
    [0x00, [], { family: "UNSPEC", transport: "UNSPEC", source: null, destination: null }],
    [0x11, v4, {
      family: "INET",
      transport: "STREAM",
      source: { transport: "tcp", hostname: "192.0.2.7", port: 56324 },
      destination: { transport: "tcp", hostname: "198.51.100.1", port: 443 },
    }],
    [0x12, v4, {
      family: "INET",
      transport: "DGRAM",
      source: { transport: "udp", hostname: "192.0.2.7", port: 56324 },
      destination: { transport: "udp", hostname: "198.51.100.1", port: 443 },
    }],
    [0x21, v6, {
      family: "INET6",
      transport: "STREAM",
      source: { transport: "tcp", hostname: "2001:db8::7", port: 56324 },
      destination: { transport: "tcp", hostname: "2001:db8::1", port: 443 },
    }],
    [0x22, v6, {
      family: "INET6",
      transport: "DGRAM",
      source: { transport: "udp", hostname: "2001:db8::7", port: 56324 },
      destination: { transport: "udp", hostname: "2001:db8::1", port: 443 },
    }],
    [0x31, unix, {
      family: "UNIX",
      transport: "STREAM",
      source: { transport: "unix", path: "/run/client.sock" },
      destination: { transport: "unix", path: "/run/server.sock" },
    }],
    [0x32, unix, {
      family: "UNIX",
      transport: "DGRAM",
      source: { transport: "unixpacket", path: "/run/client.sock" },
      destination: { transport: "unixpacket", path: "/run/server.sock" },
    }],
  ];
  const lengths: Record<number, number> = {
    0x00: 0,
    0x11: 12,
    0x12: 12,
    0x21: 36,
    0x22: 36,
    0x31: 216,
    0x32: 216,
  };
  for (const [fam, addresses, expected] of cases) {
    const header = parseProxyHeader(bytes(v2({ fam, addresses }), "payload"));
    assert.equal(header.length, 16 + lengths[fam], `fam 0x${fam.toString(16)}`);
    assert.equal(header.version, 2);
    assert.equal(header.command, "PROXY");
    for (const [key, value] of Object.entries(expected)) {
      assert.deepEqual(header[key as keyof ProxyHeader], value, `fam 0x${fam.toString(16)} ${key}`);
    }
  }
});

Deno.test("parseProxyHeader() reads the proxy-protocol-js README's header (LOCAL, UDP over IPv4) and drops LOCAL's addresses", () => {
  const input = Uint8Array.from([
    13,
    10,
    13,
    10,
    0,
    13,
    10,
    81,
    85,
    73,
    84,
    10,
    32,
    18,
    0,
    12,
    127,
    0,
    0,
    1,
    192,
    0,
    2,
    1,
    48,
    57,
    212,
    49,
  ]);
  const header = parseProxyHeader(input);
  assert.equal(header.command, "LOCAL");
  assert.equal(header.family, "INET");
  assert.equal(header.transport, "DGRAM");
  // "The receiver must ... use the real connection endpoints and discard the protocol block"
  assert.equal(header.source, null);
  assert.equal(header.destination, null);
  assert.equal(header.length, 28);
});

Deno.test("parseProxyHeader() skips the length a LOCAL header gives, never assuming zero", () => {
  const header = parseProxyHeader(
    bytes(v2({ verCmd: 0x20, fam: 0x00, tlvs: [tlv(0x04, "pad")] }), "PAYLOAD"),
  );
  assert.equal(header.command, "LOCAL");
  assert.equal(header.length, 22);
  // HAProxy's health check: LOCAL, UNSPEC, no addresses.
  assert.equal(parseProxyHeader(v2({ verCmd: 0x20, fam: 0x00 })).length, 16);
});

Deno.test("parseProxyHeader() reads an abstract Unix address with its leading NUL and an unnamed one as an empty path", () => {
  const abstract = new Uint8Array(108);
  abstract.set(encoder.encode("\0hidden"));
  const header = parseProxyHeader(
    v2({ fam: 0x31, addresses: bytes(abstract, new Uint8Array(108)) }),
  );
  assert.deepEqual(header.source, { transport: "unix", path: "\0hidden" });
  assert.deepEqual(header.destination, { transport: "unix", path: "" });
});

Deno.test("parseProxyHeader() decodes every registered TLV: ALPN, authority, CRC32C, unique ID, SSL with its sub-TLVs, NETNS; skips NOOP; keeps unknown types raw", () => {
  const ssl = bytes(
    [0x07, 0, 0, 0, 0],
    tlv(0x21, "TLSv1.3"),
    tlv(0x22, "client.example"),
    tlv(0x23, "ECDHE-RSA-AES128-GCM-SHA256"),
    tlv(0x24, "RSA-SHA256"),
    tlv(0x25, "RSA2048"),
    tlv(0x2f, [9, 9]),
  );
  const input = v2({
    addresses: ipv4Block([127, 0, 0, 7], [127, 0, 0, 1], 40000, 8080),
    tlvs: [
      tlv(0x01, "h2"),
      tlv(0x02, "example.com"),
      tlv(0x04, new Uint8Array(0)),
      tlv(0x05, new Uint8Array(128).fill(0xab)),
      tlv(0x20, ssl),
      tlv(0x30, "blue"),
      tlv(0xea, "\x01vpce-0123"),
      tlv(0xf0, "experiment"),
      tlv(0xff, ""),
      tlv(0x04, "padding"),
    ],
    crc: true,
  });
  const { tlvs } = parseProxyHeader(input);
  assert.deepEqual(tlvs.alpn, encoder.encode("h2"));
  assert.equal(tlvs.authority, "example.com");
  assert.equal(tlvs.crc32c, crc32c(bytes(input.subarray(0, input.length - 4), [0, 0, 0, 0])));
  assert.deepEqual(tlvs.uniqueId, new Uint8Array(128).fill(0xab));
  assert.deepEqual(tlvs.ssl, {
    client: 7,
    verify: 0,
    version: "TLSv1.3",
    cn: "client.example",
    cipher: "ECDHE-RSA-AES128-GCM-SHA256",
    sigAlg: "RSA-SHA256",
    keyAlg: "RSA2048",
    unknown: [{ type: 0x2f, value: Uint8Array.from([9, 9]) }],
  });
  assert.equal(tlvs.netns, "blue");
  assert.deepEqual(tlvs.unknown, [
    { type: 0xea, value: bytes("\x01vpce-0123") },
    { type: 0xf0, value: encoder.encode("experiment") },
    { type: 0xff, value: new Uint8Array(0) },
  ]);
});

Deno.test("parseProxyHeader() reads a real HAProxy 2.6 header (send-proxy-v2 with crc32c, unique-id, authority, ssl over TLS 1.3)", () => {
  // Captured from Debian's haproxy 2.6.12 with
  // "proxy-v2-options crc32c,unique-id,authority,ssl,cert-cn,ssl-cipher,cert-sig,cert-key".
  const hex = "0d0a0d0a000d0a515549540a2111009a7f0000017f00000183ee4653030004b3" +
    "01ae44010002683202000c6578616d706c652e74657374050029374630303030" +
    "30313a383345455f37463030303030313a343635335f36423136304245355f30" +
    "3030322000440100000000210007544c5376312e332500054543323536240011" +
    "65636473612d776974682d534841323536230016544c535f4145535f3235365f" +
    "47434d5f534841333834";
  const input = Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
  const header = parseProxyHeader(bytes(input, "\n"));
  assert.equal(header.length, 170);
  assert.equal(header.tlvs.crc32c, 0xb301ae44);
  assert.equal(header.tlvs.authority, "example.test");
  assert.equal(decoder.decode(header.tlvs.uniqueId), "7F000001:83EE_7F000001:4653_6B160BE5_0002");
  assert.equal(header.tlvs.ssl?.version, "TLSv1.3");
  assert.equal(header.tlvs.ssl?.cipher, "TLS_AES_256_GCM_SHA384");
  assert.equal(header.tlvs.ssl?.sigAlg, "ecdsa-with-SHA256");
  assert.equal(header.tlvs.ssl?.keyAlg, "EC256");
  // One bit flipped anywhere in the header fails the checksum (or the
  // structure, where the flip breaks that first) - except in the CRC32C
  // TLV's type byte (offset 28), which takes the checksum away: no receiver
  // can notice that.
  for (let i = 0; i < input.length; i++) {
    const flipped = input.slice();
    flipped[i] ^= 0x20;
    if (i === 28) {
      assert.equal(parseProxyHeader(flipped).tlvs.crc32c, undefined);
      continue;
    }
    const reason = reasonOf(() => parseProxyHeader(flipped));
    if (i >= 16) assert.ok(reason === "checksum" || reason === "malformed", `byte ${i}: ${reason}`);
  }
});

// ---- version 2: malformed ----

Deno.test("parseProxyHeader() refuses a version 2 signature wrong at any of its 12 bytes", () => {
  const good = v2({ addresses: ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) });
  for (let i = 0; i < 12; i++) {
    const bad = good.slice();
    bad[i] ^= 0x01;
    // byte 0 changed turns it into neither form
    rejects(bad, "signature");
  }
});

Deno.test("parseProxyHeader() refuses every version other than 2 and every command other than LOCAL and PROXY", () => {
  for (let byte = 0; byte < 256; byte++) {
    const input = v2({ verCmd: byte, fam: 0x00 });
    if (byte === 0x20 || byte === 0x21) {
      assert.equal(parseProxyHeader(input).command, byte === 0x20 ? "LOCAL" : "PROXY");
    } else {
      rejects(input, "malformed");
    }
  }
});

Deno.test("parseProxyHeader() refuses every family and transport byte but the spec's seven", () => {
  const valid = new Set([0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32]);
  for (let byte = 0; byte < 256; byte++) {
    const input = v2({ fam: byte, addresses: new Uint8Array(216) });
    if (valid.has(byte)) assert.equal(parseProxyHeader(input).length, 16 + 216);
    else rejects(input, "malformed");
  }
});

Deno.test("parseProxyHeader() refuses a length field shorter than the family's addresses", () => {
  const cases: [number, number][] = [[0x11, 12], [0x12, 12], [0x21, 36], [0x22, 36], [0x31, 216], [
    0x32,
    216,
  ]];
  for (const [fam, need] of cases) {
    for (const verCmd of [0x20, 0x21]) {
      rejects(v2({ verCmd, fam, addresses: new Uint8Array(need), length: need - 1 }), "malformed");
      rejects(v2({ verCmd, fam, length: 0 }), "malformed");
      assert.equal(
        parseProxyHeader(v2({ verCmd, fam, addresses: new Uint8Array(need) })).length,
        16 + need,
      );
    }
  }
});

Deno.test("parseProxyHeader() refuses TLVs whose lengths reach beyond the header", () => {
  const addresses = ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
  const cases: Uint8Array[] = [
    tlv(0x01, "h2", 3), // one byte too long
    tlv(0x01, "h2", 0xffff),
    bytes([0x01]), // a type alone
    bytes([0x01, 0x00]), // type and half a length
    bytes(tlv(0x04, ""), [0x02, 0x00]),
    tlv(0x20, bytes([1, 0, 0, 0, 0], tlv(0x21, "TLSv1.3", 8))), // a sub-TLV beyond the SSL TLV
    tlv(0x20, bytes([1, 0, 0, 0, 0], [0x21, 0x00])),
    tlv(0x20, [1, 0, 0, 0]), // SSL shorter than client + verify
  ];
  for (const tlvBytes of cases) {
    const input = v2({ addresses, tlvs: [tlvBytes] });
    rejects(bytes(input, new Uint8Array(64)), "malformed");
  }
  // A TLV longer than the header but within the bytes that follow is still refused.
  const input = v2({ addresses, tlvs: [tlv(0x02, "abc", 10)] });
  rejects(bytes(input, "0123456789"), "malformed");
});

Deno.test("parseProxyHeader() refuses bad TLV values: CRC32C not 4 bytes, unique ID over 128, repeated types, text that is not UTF-8", () => {
  const addresses = ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
  const cases: Uint8Array[][] = [
    [tlv(0x03, [0, 0, 0])],
    [tlv(0x03, [0, 0, 0, 0, 0])],
    [tlv(0x05, new Uint8Array(129))],
    [tlv(0x01, "h2"), tlv(0x01, "h2")],
    [tlv(0x02, "a"), tlv(0x02, "b")],
    [tlv(0x02, [0xff, 0xfe])],
    [tlv(0x30, [0xc3])],
    [tlv(0x20, bytes([1, 0, 0, 0, 0], tlv(0x21, "a"), tlv(0x21, "b")))],
    [tlv(0x20, bytes([1, 0, 0, 0, 0], tlv(0x22, [0xff])))],
  ];
  for (const tlvs of cases) rejects(v2({ addresses, tlvs }), "malformed");
  assert.equal(
    parseProxyHeader(v2({ addresses, tlvs: [tlv(0x05, new Uint8Array(128))] })).tlvs.uniqueId
      ?.length,
    128,
  );
});

Deno.test("parseProxyHeader() refuses a header whose CRC32C does not match", () => {
  const good = v2({
    addresses: ipv4Block([10, 0, 0, 1], [10, 0, 0, 2], 1234, 80),
    tlvs: [tlv(0x02, "example.com")],
    crc: true,
  });
  assert.equal(typeof parseProxyHeader(good).tlvs.crc32c, "number");
  const badSum = good.slice();
  badSum[badSum.length - 1] ^= 1;
  rejects(badSum, "checksum");
  // An address changed after the sum was computed.
  const spoofed = good.slice();
  spoofed[16] = 192;
  rejects(spoofed, "checksum");
  // The sum is over the header only: the payload after it does not count.
  assert.equal(parseProxyHeader(bytes(good, "payload")).length, good.length);
});

Deno.test("parseProxyHeader() refuses a version 2 header longer than the limit, and the limit is 4096 by default", () => {
  const addresses = ipv4Block([1, 2, 3, 4], [5, 6, 7, 8], 1, 2);
  const fill = (total: number) => tlv(0xe0, new Uint8Array(total - 16 - 12 - 3));
  assert.equal(DEFAULT_MAX_HEADER_LENGTH, 4096);
  assert.equal(parseProxyHeader(v2({ addresses, tlvs: [fill(4096)] })).length, 4096);
  rejects(v2({ addresses, tlvs: [fill(4097)] }), "too-long");
  assert.equal(parseProxyHeader(v2({ addresses, tlvs: [fill(4097)] }), "any", 4097).length, 4097);
  // Known from the first 16 bytes: no need to wait for the rest.
  assert.throws(
    () => proxyHeaderLength(v2({ addresses, length: 0xffff }).subarray(0, 16)),
    (error) => error instanceof ProxyHeaderError && error.reason === "too-long",
  );
});

// ---- truncation ----

const SAMPLES: Uint8Array[] = [
  bytes("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
  bytes("PROXY TCP6 2001:db8::7 2001:db8::1 56324 443\r\n"),
  bytes("PROXY UNKNOWN\r\n"),
  v2({ verCmd: 0x20, fam: 0x00 }),
  v2({ addresses: ipv4Block([192, 0, 2, 7], [198, 51, 100, 1], 56324, 443) }),
  v2({ fam: 0x21, addresses: new Uint8Array(36).fill(1), tlvs: [tlv(0x01, "h2")], crc: true }),
  v2({ fam: 0x31, addresses: bytes(unixField("/a"), unixField("/b")) }),
];

Deno.test("parseProxyHeader() refuses every header cut at each byte as truncated, and proxyHeaderLength() waits for more there", () => {
  for (const sample of SAMPLES) {
    for (let cut = 0; cut < sample.length; cut++) {
      const prefix = sample.subarray(0, cut);
      rejects(prefix, "truncated");
      const length = proxyHeaderLength(prefix);
      assert.ok(length === 0 || length === sample.length, `cut ${cut}: ${length}`);
    }
    assert.equal(parseProxyHeader(sample).length, sample.length);
  }
});

// ---- the reader ----

/** Hands out `input` in chunks whose sizes `size()` picks, then EOF (or
 * nothing, forever, when `hang`); records what each read asked for. */
class Chunks implements ByteSource {
  readonly asked: number[] = [];
  #pos = 0;
  #release: (() => void) | null = null;
  constructor(
    readonly input: Uint8Array,
    readonly size: () => number = () => Infinity,
    readonly hang = false,
  ) {}
  read(p: Uint8Array): Promise<number | null> {
    this.asked.push(p.length);
    if (this.#pos >= this.input.length) {
      if (!this.hang) return Promise.resolve(null);
      return new Promise((resolve) => this.#release = () => resolve(null));
    }
    const n = Math.min(Math.max(1, this.size()), p.length, this.input.length - this.#pos);
    p.set(this.input.subarray(this.#pos, this.#pos + n));
    this.#pos += n;
    return Promise.resolve(n);
  }
  /** Ends a read left hanging. */
  release() {
    this.#release?.();
  }
}

Deno.test("readProxyHeader() returns the header and the payload bytes read past it, whatever the chunk boundaries", async () => {
  const rng = seededRandom(SEED);
  const payload = bytes("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  for (let round = 0; round < 300; round++) {
    const sample = SAMPLES[round % SAMPLES.length];
    const input = bytes(sample, payload);
    const source = new Chunks(input, () => 1 + Math.floor(rng() * 40));
    const { header, rest } = await readProxyHeader(source, { timeoutMs: 10_000 });
    assert.deepEqual(header, parseProxyHeader(sample));
    // rest, then what is still unread, is the payload
    const unread: number[] = [];
    const one = new Uint8Array(64);
    for (let n; (n = await source.read(one)) !== null;) unread.push(...one.subarray(0, n));
    assert.deepEqual(bytes(rest, unread), payload);
  }
});

Deno.test("readProxyHeader() takes a header one byte at a time", async () => {
  for (const sample of SAMPLES) {
    const source = new Chunks(bytes(sample, "x"), () => 1);
    const { header, rest } = await readProxyHeader(source);
    assert.equal(header.length, sample.length);
    assert.equal(rest.length + (source.input.length - sample.length - rest.length), 1);
  }
});

Deno.test("readProxyHeader() never reads past a version 2 header once its length is known", async () => {
  const sample = v2({ addresses: new Uint8Array(12), tlvs: [tlv(0xe0, new Uint8Array(1000))] });
  const source = new Chunks(bytes(sample, "PAYLOAD"));
  const { header, rest } = await readProxyHeader(source);
  assert.equal(header.length, 16 + 12 + 1003);
  assert.equal(rest.length, 0);
  assert.deepEqual(source.asked, [536, sample.length - 536]);
});

Deno.test("readProxyHeader() leaves the payload unread when a short version 2 header arrives split", async () => {
  const sample = v2({ addresses: ipv4Block([127, 0, 0, 7], [127, 0, 0, 1], 1, 2) });
  let first = true;
  const source = new Chunks(bytes(sample, "PAYLOAD"), () => {
    const size = first ? 10 : Infinity;
    first = false;
    return size;
  });
  const { header, rest } = await readProxyHeader(source);
  assert.equal(header.length, 28);
  assert.equal(rest.length, 0);
  // the fixed part's other 6 bytes, then the 12 its length field announces
  assert.deepEqual(source.asked, [536, 6, 12]);
});

Deno.test("readProxyHeader() in mode v1 asks for at most 107 bytes, the longest line", async () => {
  const sample = bytes("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
  const source = new Chunks(bytes(sample, "x".repeat(500)));
  const { rest } = await readProxyHeader(source, { mode: "v1" });
  assert.deepEqual(source.asked, [107]);
  assert.equal(rest.length, 107 - sample.length);
});

Deno.test("readProxyHeader() refuses a connection that ends inside the header as truncated, at every byte", async () => {
  for (const sample of SAMPLES) {
    for (let cut = 0; cut < sample.length; cut++) {
      const error = await readProxyHeader(new Chunks(sample.subarray(0, cut))).catch((e) => e);
      assert.ok(error instanceof ProxyHeaderError, String(error));
      assert.equal(error.reason, "truncated", `cut ${cut}: ${error.message}`);
    }
  }
});

Deno.test("readProxyHeader() refuses a header that stops coming as timed out, at the deadline", async () => {
  const source = new Chunks(bytes("PROXY TCP4 1.2.3.4"), () => 4, true);
  try {
    const error = await within(
      readProxyHeader(source, { timeoutMs: 50 }).catch((e) => e),
      10_000,
      "the header's deadline",
    );
    assert.ok(error instanceof ProxyHeaderError);
    assert.equal(error.reason, "timeout");
    assert.match(error.message, /No complete PROXY header within 50 ms \(18 bytes arrived\)/);
  } finally {
    source.release();
  }
});

Deno.test("readProxyHeader() times out on a source that keeps reading zero bytes instead of spinning past the deadline", async () => {
  const source: ByteSource = { read: () => Promise.resolve(0) };
  const error = await within(
    readProxyHeader(source, { timeoutMs: 50 }).catch((e) => e),
    10_000,
    "the header's deadline",
  );
  assert.ok(error instanceof ProxyHeaderError);
  assert.equal(error.reason, "timeout");
});

Deno.test("readProxyHeader() refuses garbage at once, without waiting for the deadline", async () => {
  for (const garbage of ["GET / HTTP/1.1\r\n", "PROXY TCP4 \x00", "\r\n\r\n\x00\r\nQUIT\n\x31"]) {
    const source = new Chunks(bytes(garbage), undefined, true);
    try {
      const error = await within(
        readProxyHeader(source, { timeoutMs: 60_000 }).catch((e) => e),
        10_000,
        "the refusal",
      );
      assert.ok(error instanceof ProxyHeaderError);
      assert.notEqual(error.reason, "timeout");
    } finally {
      source.release();
    }
  }
});

Deno.test("readProxyHeader() wraps a failed read as an io error with the read's error as cause", async () => {
  const reset = new Deno.errors.ConnectionReset("Connection reset by peer");
  const source: ByteSource = { read: () => Promise.reject(reset) };
  const error = await readProxyHeader(source).catch((e) => e);
  assert.ok(error instanceof ProxyHeaderError);
  assert.equal(error.reason, "io");
  assert.equal(error.cause, reset);
});

Deno.test("readProxyHeader() refuses a bad mode, timeout or limit with a message naming the value", async () => {
  const source = new Chunks(bytes("PROXY UNKNOWN\r\n"));
  await assert.rejects(
    readProxyHeader(source, { mode: "v3" as ProxyProtocolMode }),
    /Invalid PROXY protocol mode "v3"/,
  );
  await assert.rejects(readProxyHeader(source, { timeoutMs: 0 }), RangeError);
  await assert.rejects(readProxyHeader(source, { timeoutMs: NaN }), RangeError);
  await assert.rejects(readProxyHeader(source, { maxHeaderLength: 100 }), /232 to 65551/);
  assert.deepEqual(source.asked, []);
});

Deno.test("readProxyHeader() over a real loopback connection: header and payload in separate writes, then a slow one timing out", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  {
    using client = await Deno.connect({ hostname: "127.0.0.1", port });
    const server = await listener.accept(); // its readable closes it
    const header = v2({ addresses: ipv4Block([127, 0, 0, 7], [127, 0, 0, 1], 5555, port) });
    await client.write(header.subarray(0, 5));
    await client.write(header.subarray(5));
    await client.write(encoder.encode("hello"));
    await client.closeWrite();
    const read = await within(readProxyHeader(server, { timeoutMs: 10_000 }), 10_000, "the header");
    assert.deepEqual(read.header.source, { transport: "tcp", hostname: "127.0.0.7", port: 5555 });
    // rest, then the rest of the connection to its EOF, is the payload
    const unread = await within(new Response(server.readable).bytes(), 10_000, "the payload");
    assert.equal(decoder.decode(bytes(read.rest, unread)), "hello");
  }
  {
    using client = await Deno.connect({ hostname: "127.0.0.1", port });
    const server = await listener.accept();
    await client.write(encoder.encode("PROXY TCP4 "));
    const error = await within(
      readProxyHeader(server, { timeoutMs: 50 }).catch((e) => e),
      10_000,
      "the header's deadline",
    );
    server.close(); // ends the read the deadline left pending
    assert.ok(error instanceof ProxyHeaderError);
    assert.equal(error.reason, "timeout");
  }
});

Deno.test("readProxyHeader() refuses a header cut by a TCP reset as io (the reset as cause) or truncated, and rejects nothing later", async () => {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const reset = sendThenReset(listener.addr.port, "PROXY TCP4 127.0.0.7 127.0");
  using server = await accepted;
  const error = await within(
    readProxyHeader(server, { timeoutMs: 10_000 }).catch((e) => e),
    10_000,
    "the reader to see the reset",
  );
  await reset;
  assert.ok(error instanceof ProxyHeaderError, String(error));
  // Linux may report the reset, or EOF when the bytes were read first.
  if (error.reason === "io") assert.ok(error.cause instanceof Deno.errors.ConnectionReset);
  else assert.equal(error.reason, "truncated");
});

// ---- differential check against proxy-protocol-js ----

function ipv4Text(address: number[]): string {
  return address.join(".");
}

/** An independent IPv6 check and normal form: the URL parser's. */
function urlIPv6(text: string): string | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return null;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
}

function randomIPv6Text(rng: () => number): string {
  const groups = Array.from({ length: 8 }, () => rng() < 0.4 ? 0 : Math.floor(rng() * 0x10000));
  const form = rng();
  if (form < 0.3) {
    // the spec's own form: eight groups of four digits, either case
    const text = groups.map((g) => g.toString(16).padStart(4, "0")).join(":");
    return rng() < 0.5 ? text : text.toUpperCase();
  }
  const address = new Uint8Array(16);
  groups.forEach((g, i) => address.set([g >> 8, g & 0xff], 2 * i));
  if (form < 0.4) address.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
  return formatIPv6(address, 0); // inet_ntop's compressed form
}

function randomV1(rng: () => number): string {
  const port = () => Math.floor(rng() * 65536);
  if (rng() < 0.5) {
    const octets = () => Array.from({ length: 4 }, () => Math.floor(rng() * 256));
    return `PROXY TCP4 ${ipv4Text(octets())} ${ipv4Text(octets())} ${port()} ${port()}\r\n`;
  }
  return `PROXY TCP6 ${randomIPv6Text(rng)} ${randomIPv6Text(rng)} ${port()} ${port()}\r\n`;
}

/** A copy of `line` with one random edit: a character replaced, deleted or
 * doubled, or a digit put in. */
function mutateText(line: string, rng: () => number): string {
  const at = Math.floor(rng() * line.length);
  const alphabet = "0123456789abcdefABCDEF:. \r\nPROXYTCP46UNKWx-+";
  const char = alphabet[Math.floor(rng() * alphabet.length)];
  switch (Math.floor(rng() * 4)) {
    case 0:
      return line.slice(0, at) + char + line.slice(at + 1);
    case 1:
      return line.slice(0, at) + line.slice(at + 1);
    case 2:
      return line.slice(0, at) + line[at] + line.slice(at);
    default:
      return line.slice(0, at) + char + line.slice(at);
  }
}

/** What the spec's grammar says of a version 1 line, written independently
 * of the parser (regular expressions and the URL parser): its fields when
 * valid, `null` when not. */
function specV1(input: string): { source: string; destination: string; ports: number[] } | null {
  const end = input.indexOf("\r\n");
  if (end === -1 || end + 2 > 107) return null;
  const line = input.slice(0, end);
  if (!/^[\x20-\x7e]*$/.test(line)) return null;
  if (/^PROXY UNKNOWN(?: .*)?$/.test(line)) return { source: "", destination: "", ports: [] };
  const octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
  const v4 = `${octet}(?:\\.${octet}){3}`;
  const port = "(0|[1-9][0-9]{0,4})";
  let m = new RegExp(`^PROXY TCP4 (${v4}) (${v4}) ${port} ${port}$`).exec(line);
  if (m === null) {
    m = new RegExp(`^PROXY TCP6 ([^ ]+) ([^ ]+) ${port} ${port}$`).exec(line);
    if (m === null) return null;
    const source = urlIPv6(m[1]);
    const destination = urlIPv6(m[2]);
    // the URL parser reads dotted tails anywhere in the last 32 bits, as inet_pton does
    if (source === null || destination === null) return null;
    m[1] = source;
    m[2] = destination;
  }
  const ports = [Number(m[3]), Number(m[4])];
  if (ports.some((p) => p > 65535)) return null;
  return { source: m[1], destination: m[2], ports };
}

function normalise(hostname: string): string {
  // The URL parser writes mapped addresses in hex; Deno and we write them dotted.
  const mapped = /^::ffff:(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(hostname);
  if (mapped === null) return hostname;
  const [a, b, c, d] = mapped.slice(1).map(Number);
  return `::ffff:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

Deno.test("parseProxyHeader() agrees with proxy-protocol-js on random version 1 lines and refuses all it refuses", () => {
  const rng = seededRandom(SEED + 1);
  let agreed = 0;
  let bothRefused = 0;
  let stricter = 0;
  for (let i = 0; i < 3000; i++) {
    const valid = randomV1(rng);
    const input = i % 2 === 0 ? valid : mutateText(valid, rng);
    const payload = "payload";
    let oracle: V1ProxyProtocol | null = null;
    try {
      oracle = V1ProxyProtocol.parse(input + payload);
    } catch {
      oracle = null;
    }
    let ours: ProxyHeader | null = null;
    try {
      ours = parseProxyHeader(bytes(input, payload));
    } catch (error) {
      if (!(error instanceof ProxyHeaderError)) throw error;
    }
    const spec = specV1(input);
    // Ours accepts exactly what the spec's grammar accepts.
    assert.equal(ours !== null, spec !== null, JSON.stringify(input));
    if (oracle === null) {
      assert.equal(ours, null, `the oracle refuses ${JSON.stringify(input)}; we accept it`);
      bothRefused++;
      continue;
    }
    if (ours === null) {
      stricter++; // the oracle's grammar is looser: any address text, any digits
      continue;
    }
    assert.equal(ours.length, input.indexOf("\r\n") + 2);
    agreed++;
    if (oracle.inetProtocol === "UNKNOWN") {
      assert.equal(ours.family, "UNSPEC");
      continue;
    }
    const source = ours.source as Deno.NetAddr;
    const destination = ours.destination as Deno.NetAddr;
    assert.equal(ours.family, oracle.inetProtocol === "TCP4" ? "INET" : "INET6");
    if (ours.family === "INET") {
      assert.equal(source.hostname, oracle.source.ipAddress);
      assert.equal(destination.hostname, oracle.destination.ipAddress);
    } else {
      assert.equal(normalise(source.hostname), urlIPv6(oracle.source.ipAddress));
      assert.equal(normalise(destination.hostname), urlIPv6(oracle.destination.ipAddress));
    }
    assert.equal(source.port, oracle.source.port);
    assert.equal(destination.port, oracle.destination.port);
    assert.equal(oracle.data, input.slice(ours.length) + payload);
  }
  console.log(
    `v1: ${agreed} agreed, ${bothRefused} refused by both, ${stricter} refused by us only (the spec's grammar refuses them too)`,
  );
  assert.ok(agreed > 1000 && bothRefused > 100 && stricter > 10);
});

interface Generated {
  input: Uint8Array;
  command: number;
  fam: number;
  tlvLength: number;
}

function randomV2(rng: () => number): Generated {
  const fams = [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32];
  const fam = fams[Math.floor(rng() * fams.length)];
  const command = rng() < 0.2 ? 0 : 1;
  const size = { 0: 0, 1: 12, 2: 36, 3: 216 }[fam >> 4]!;
  const addresses = Uint8Array.from({ length: size }, () => Math.floor(rng() * 256));
  if (fam >> 4 === 3) {
    // paths: printable, NUL-terminated
    for (const base of [0, 108]) {
      const n = Math.floor(rng() * 100);
      for (let k = 0; k < 108; k++) addresses[base + k] = k < n ? 0x61 + Math.floor(rng() * 26) : 0;
    }
  }
  const tlvs: Uint8Array[] = [];
  const used = new Set<number>();
  const count = Math.floor(rng() * 5);
  for (let k = 0; k < count; k++) {
    const type = [0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0 + Math.floor(rng() * 32)][
      Math.floor(rng() * 7)
    ];
    if (used.has(type) && type !== 0x04) continue;
    used.add(type);
    const text = () =>
      Array.from(
        { length: Math.floor(rng() * 40) },
        () => String.fromCharCode(0x21 + Math.floor(rng() * 94)),
      )
        .join("");
    if (type === 0x20) {
      tlvs.push(tlv(type, bytes([1, 0, 0, 0, 0], tlv(0x21, "TLSv1.2"), tlv(0x23, text()))));
    } else if (type === 0x05) {
      tlvs.push(
        tlv(
          type,
          Uint8Array.from({ length: Math.floor(rng() * 129) }, () => Math.floor(rng() * 256)),
        ),
      );
    } else {
      tlvs.push(tlv(type, text()));
    }
  }
  const input = v2({ verCmd: 0x20 | command, fam, addresses, tlvs, crc: rng() < 0.3 });
  return { input, command, fam, tlvLength: input.length - 16 - size };
}

Deno.test("parseProxyHeader() agrees with proxy-protocol-js on random version 2 headers and refuses all it refuses", () => {
  const rng = seededRandom(SEED + 2);
  let agreed = 0;
  let bothRefused = 0;
  let stricter = 0;
  for (let i = 0; i < 3000; i++) {
    const generated = randomV2(rng);
    let input = generated.input;
    // a payload follows, except after a cut (which it would fill in)
    let payload = encoder.encode("payload");
    if (i % 2 === 1) {
      // one random byte of the fixed part changed, or a random cut
      input = input.slice();
      if (rng() < 0.8) {
        input[Math.floor(rng() * 16)] = Math.floor(rng() * 256);
      } else {
        input = input.subarray(0, Math.floor(rng() * input.length));
        payload = new Uint8Array(0);
      }
    }
    let oracle: V2ProxyProtocol | null = null;
    try {
      oracle = V2ProxyProtocol.parse(bytes(input, payload));
    } catch {
      oracle = null;
    }
    let ours: ProxyHeader | null = null;
    try {
      ours = parseProxyHeader(bytes(input, payload));
    } catch (error) {
      if (!(error instanceof ProxyHeaderError)) throw error;
    }
    if (oracle === null) {
      assert.equal(
        ours,
        null,
        `the oracle refuses ${Array.from(input.subarray(0, 16))}; we accept it`,
      );
      bothRefused++;
      continue;
    }
    if (ours === null) {
      stricter++; // transport/family pairs outside the spec's seven, truncation, bad TLVs
      continue;
    }
    assert.equal(ours.command, oracle.command === 0 ? "LOCAL" : "PROXY");
    const families: Record<number, string> = {
      0x00: "UNSPEC",
      0x10: "INET",
      0x20: "INET6",
      0x30: "UNIX",
    };
    assert.equal(ours.family, families[Number(oracle.addressFamilyType)]);
    assert.equal(
      ours.transport,
      (["UNSPEC", "STREAM", "DGRAM"] as const)[oracle.transportProtocol],
    );
    // The oracle keeps everything past the addresses as data: the TLVs, then the payload.
    const tlvAndPayload = oracle.data as Uint8Array;
    assert.deepEqual(tlvAndPayload.subarray(tlvAndPayload.length - payload.length), payload);
    // a changed length field may take payload bytes into the header
    assert.equal(ours.length, 16 + ((input[14] << 8) | input[15]));
    if (ours.command === "PROXY" && ours.family !== "UNSPEC") {
      // deno-lint-ignore no-explicit-any
      const address = oracle.proxyAddress as any;
      if (ours.family === "UNIX") {
        const path = (field: number[]) => {
          const end = field.indexOf(0);
          return String.fromCharCode(...field.slice(0, end === -1 ? 108 : end));
        };
        assert.equal((ours.source as Deno.UnixAddr).path, path(address.sourceAddress.address));
        assert.equal(
          (ours.destination as Deno.UnixAddr).path,
          path(address.destinationAddress.address),
        );
      } else {
        const text = (a: number[]) =>
          a.length === 4 ? ipv4Text(a) : urlIPv6(
            Array.from({ length: 8 }, (_, g) => ((a[2 * g] << 8) | a[2 * g + 1]).toString(16))
              .join(":"),
          );
        const source = ours.source as Deno.NetAddr;
        const destination = ours.destination as Deno.NetAddr;
        assert.equal(normalise(source.hostname), text(address.sourceAddress.address));
        assert.equal(normalise(destination.hostname), text(address.destinationAddress.address));
        assert.equal(source.port, address.sourcePort);
        assert.equal(destination.port, address.destinationPort);
      }
    }
    agreed++;
  }
  console.log(
    `v2: ${agreed} agreed, ${bothRefused} refused by both, ${stricter} refused by us only (stricter than the oracle)`,
  );
  assert.ok(agreed > 1000 && bothRefused > 100 && stricter > 10);
});
