/**
 * Attack on issue 16: a version 2 `LOCAL` header (a balancer's health
 * check). The specification (doc/proxy-protocol.txt, section 2.2) says the
 * receiver "must accept this connection as valid and must use the real
 * connection endpoints and discard the protocol block including the family
 * which is ignored", and that receivers "must always consider this field
 * [the length] to skip the appropriate number of bytes and must not assume
 * zero is presented for LOCAL connections". HAProxy's own receiver, Apache's
 * mod_remoteip and the specification's sample code skip the block of a LOCAL
 * header unread. The library parses it as TLVs and checks the family byte,
 * so a health check whose block is anything else is dropped as "malformed"
 * and the balancer marks a healthy server down. (proxy-protocol-js, the
 * parser tests' oracle, accepts these headers too.)
 */
import assert from "node:assert/strict";
import { StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
import { decoder, encoder, readToEnd, writeAll } from "./_net.ts";
import { errorName } from "./_servers.ts";

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** A LOCAL header (version 2, command 0) with `family` and `block`. */
function local(family: number, block: number[]): Uint8Array {
  return Uint8Array.from([...SIGNATURE, 0x20, family, block.length >> 8, block.length, ...block]);
}

class Pong extends StreamRequestHandler {
  override async handle() {
    const line = decoder.decode(await this.rfile.readline()).trim();
    const { hostname } = this.clientAddress;
    await this.wfile.write(
      `${line === "PING" ? "PONG" : "?"} ${this.proxy?.header.command} ${hostname}\n`,
    );
  }
}

const cases: [string, Uint8Array][] = [
  // an unspecified family with a block that is not a TLV (3 bytes: no room for type and length)
  ["UNSPEC family and a 3-byte block", local(0x00, [0xde, 0xad, 0x00])],
  // a block whose first "TLV" claims more bytes than the block has
  ["UNSPEC family and a block that is not TLVs", local(0x00, [0xff, 0xff, 0xff, 0x00])],
];

for (const [what, header] of cases) {
  Deno.test(`ThreadingTCPServer({ proxyProtocol: "v2" }): a LOCAL header with ${what} is a valid health check that keeps the proxy's address, as the specification says`, async () => {
    const drops: unknown[] = [];
    await using server = new (class extends ThreadingTCPServer {
      override handleDrop(_c: Deno.TcpConn, _a: Deno.NetAddr, error: unknown) {
        drops.push(error);
      }
    })(["127.0.0.1", 0], Pong, { proxyProtocol: "v2", trustedProxies: ["127.0.0.0/8"] });
    server.serveForever();
    const conn = await Deno.connect(server.serverAddress);
    try {
      const bytes = new Uint8Array([...header, ...encoder.encode("PING\r\n")]);
      await writeAll(conn, bytes);
      await conn.closeWrite();
      const { bytes: reply } = await readToEnd(conn);
      assert.deepEqual(
        drops.map((d) => `${errorName(d)}: ${(d as Error).message}`),
        [],
        "the health check was dropped",
      );
      assert.equal(decoder.decode(reply), "PONG LOCAL 127.0.0.1\n");
    } finally {
      conn.close();
    }
  });
}
