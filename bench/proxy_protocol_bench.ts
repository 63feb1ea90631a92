/**
 * Micro-benchmarks of the PROXY protocol header parser and reader, in memory,
 * so that only the parsing is timed:
 *
 *     deno bench bench/proxy_protocol_bench.ts
 *
 * Headers as HAProxy and nginx send them: v1 TCP4 and TCP6 lines, a v2 TCP4
 * header without TLVs (send-proxy-v2), and a v2 header with the TLVs of
 * `send-proxy-v2-ssl` and `proxy-v2-options crc32c,unique-id,authority`.
 *
 * @module
 */
import { crc32c } from "../src/_crc32c.ts";
import { parseProxyHeader } from "../src/_proxy_protocol.ts";
import { V2_SIGNATURE } from "../src/_proxy_v2.ts";
import { readProxyHeader } from "../src/_proxy_reader.ts";

const encoder = new TextEncoder();

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function tlv(type: number, value: Uint8Array | string): Uint8Array {
  const v = typeof value === "string" ? encoder.encode(value) : value;
  return concat([type, v.length >> 8, v.length & 0xff], v);
}

function v2(addresses: number[], tlvs: Uint8Array[] = [], crc = false): Uint8Array {
  const body = concat(addresses, ...tlvs, crc ? tlv(0x03, new Uint8Array(4)) : []);
  const header = concat(V2_SIGNATURE, [0x21, 0x11, body.length >> 8, body.length & 0xff], body);
  if (crc) {
    const sum = crc32c(header);
    header.set(
      [sum >>> 24, (sum >>> 16) & 0xff, (sum >>> 8) & 0xff, sum & 0xff],
      header.length - 4,
    );
  }
  return header;
}

const ADDRESSES = [127, 0, 0, 7, 127, 0, 0, 1, 0xdb, 0xd1, 0x1f, 0x90];
const V1_TCP4 = encoder.encode("PROXY TCP4 127.0.0.7 127.0.0.1 56273 8080\r\n");
const V1_TCP6 = encoder.encode("PROXY TCP6 2001:db8::7 2001:db8::1 56273 8080\r\n");
const V2_PLAIN = v2(ADDRESSES);
const V2_TLVS = v2(ADDRESSES, [
  tlv(0x01, "h2"),
  tlv(0x02, "example.com"),
  tlv(0x05, "7F000007:DBD1_7F000001:1F90_6B160BE5_0002"),
  tlv(
    0x20,
    concat(
      [1, 0, 0, 0, 0],
      tlv(0x21, "TLSv1.3"),
      tlv(0x23, "TLS_AES_256_GCM_SHA384"),
      tlv(0x24, "ecdsa-with-SHA256"),
      tlv(0x25, "EC256"),
    ),
  ),
], true);

Deno.bench("parse v1 TCP4 (nginx, send-proxy)", { group: "parse", baseline: true }, () => {
  parseProxyHeader(V1_TCP4);
});
Deno.bench("parse v1 TCP6", { group: "parse" }, () => {
  parseProxyHeader(V1_TCP6);
});
Deno.bench("parse v2 TCP4 (send-proxy-v2)", { group: "parse" }, () => {
  parseProxyHeader(V2_PLAIN);
});
Deno.bench(`parse v2 TCP4 + TLVs and CRC32C (${V2_TLVS.length} B)`, { group: "parse" }, () => {
  parseProxyHeader(V2_TLVS);
});

/** A source that hands out the header and a payload in one read, as a
 * socket does when the whole segment has arrived. */
function source(input: Uint8Array) {
  let done = false;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (done) return Promise.resolve(null);
      done = true;
      p.set(input.subarray(0, p.length));
      return Promise.resolve(Math.min(p.length, input.length));
    },
  };
}

const PAYLOAD = encoder.encode("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
const V1_INPUT = concat(V1_TCP4, PAYLOAD);
const V2_INPUT = concat(V2_PLAIN, PAYLOAD);

Deno.bench(
  "readProxyHeader v1 + payload, one read",
  { group: "read", baseline: true },
  async () => {
    await readProxyHeader(source(V1_INPUT));
  },
);
Deno.bench("readProxyHeader v2 + payload, one read", { group: "read" }, async () => {
  await readProxyHeader(source(V2_INPUT));
});
