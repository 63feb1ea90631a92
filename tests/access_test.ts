/**
 * Access control: `AccessList` matches IPv4 and IPv6 CIDR networks, and used
 * from `verifyRequest()` it closes a refused client before any handler runs.
 */
import assert from "node:assert/strict";
import { AccessList, StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
import { runHandler } from "../testing.ts";
import { decoder, encoder } from "./_net.ts";

Deno.test("AccessList matches IPv4 and IPv6 networks at any prefix length, deny before allow", () => {
  const access = new AccessList({
    allow: ["10.0.0.0/8", "192.168.1.0/25", "2001:db8::/32", "fe80::/10", "::1", "203.0.113.7"],
    deny: ["10.66.0.0/16", "2001:db8:bad::/48"],
  });
  const cases: Array<[string, boolean]> = [
    ["10.1.2.3", true],
    ["10.66.1.1", false], // denied inside an allowed network
    ["11.0.0.1", false],
    ["192.168.1.127", true], // /25: the last address in it
    ["192.168.1.128", false], // the first one past it
    ["203.0.113.7", true],
    ["203.0.113.8", false],
    ["::ffff:10.1.2.3", true], // an IPv4 client on a dual-stack socket
    ["::ffff:10.66.0.1", false],
    ["2001:db8::1", true],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", true],
    ["2001:db8:bad::1", false],
    ["2001:db9::1", false],
    ["fe80::1%eth0", true], // the zone does not matter
    ["febf:ffff::1", true], // fe80::/10 ends at febf:ffff:...
    ["fec0::1", false],
    ["::1", true],
    ["::2", false],
    ["not an address", false],
    ["", false],
  ];
  for (const [address, allowed] of cases) {
    assert.equal(access.allows(address), allowed, address);
  }
  assert.equal(access.allows({ hostname: "10.1.2.3" }), true);
  assert.equal(access.allows({ path: "/tmp/socket" } as { hostname?: string }), false);
});

Deno.test("AccessList without an allow list allows everyone not denied; an empty allow list nobody", () => {
  const denyOnly = new AccessList({ deny: ["0.0.0.0/0"] });
  assert.equal(denyOnly.allows("198.51.100.1"), false);
  assert.equal(denyOnly.allows("::1"), true, "IPv4 networks do not match IPv6 clients");
  assert.equal(denyOnly.allows("not an address"), true);
  const nobody = new AccessList({ allow: [] });
  assert.equal(nobody.allows("127.0.0.1"), false);
  const everybody = new AccessList();
  assert.equal(everybody.allows("127.0.0.1"), true);
  const all6 = new AccessList({ allow: ["::/0"] });
  assert.equal(all6.allows("2001:db8::1"), true);
  assert.equal(all6.allows("127.0.0.1"), false, "IPv6 networks do not match IPv4 clients");
});

Deno.test("AccessList refuses malformed networks with a message that says how to write them", () => {
  assert.throws(() => new AccessList({ allow: ["10.0.0.0/33"] }), /prefix length: use 0 to 32/);
  assert.throws(() => new AccessList({ allow: ["::/129"] }), /use 0 to 128/);
  assert.throws(() => new AccessList({ deny: ["10.1.0.0/8"] }), /did you mean "10.0.0.0\/8"/);
  assert.throws(
    () => new AccessList({ deny: ["2001:db8::1/32"] }),
    /did you mean "2001:db8::\/32"/,
  );
  for (
    const bad of ["localhost", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1::2::3", "::g"]
  ) {
    assert.throws(() => new AccessList({ allow: [bad] }), TypeError, bad);
  }
});

Deno.test("AccessList refuses a prefix length written with a leading zero, a sign or a space, as it refuses such an address", () => {
  for (const bad of ["10.0.0.0/08", "10.0.0.0/008", "::/064", "10.0.0.0/+8", "10.0.0.0/ 8"]) {
    assert.throws(() => new AccessList({ allow: [bad] }), RangeError, bad);
  }
  // the forms that stay valid
  assert.equal(new AccessList({ allow: ["10.0.0.0/8"] }).allows({ hostname: "10.9.9.9" }), true);
  assert.equal(new AccessList({ allow: ["0.0.0.0/0"] }).allows({ hostname: "1.2.3.4" }), true);
});

Deno.test("AccessList in verifyRequest(): a refused client is closed before any handler runs; an allowed one is served — from any address, in memory", async () => {
  let handlers = 0;
  class Hello extends StreamRequestHandler<Guarded> {
    override async handle() {
      handlers++;
      const line = await this.rfile.readline();
      await this.wfile.write(`hello ${decoder.decode(line)}`);
    }
  }
  class Guarded extends ThreadingTCPServer {
    static access = new AccessList({
      allow: ["10.0.0.0/8", "2001:db8::/32"],
      deny: ["10.66.0.0/16"],
    });
    refused: string[] = [];
    override verifyRequest(_request: Deno.TcpConn, address: Deno.NetAddr) {
      const allowed = Guarded.access.allows(address);
      if (!allowed) this.refused.push(address.hostname);
      return allowed;
    }
  }
  // In memory the client can come from any network, not only loopback.
  await using server = new Guarded({ hostname: "0.0.0.0", port: 0 }, Hello, {
    bindAndActivate: false,
  });
  const replies: Record<string, string> = {};
  for (const hostname of ["10.1.2.3", "10.66.1.1", "2001:db8::1", "192.0.2.1"]) {
    await using run = runHandler(Hello, {
      server,
      clientAddr: { transport: "tcp", hostname, port: 50000 },
    });
    await run.client.write(encoder.encode("me\n"));
    await run.client.closeWrite();
    replies[hostname] = await new Response(run.client.readable).text();
  }
  assert.deepEqual(replies, {
    "10.1.2.3": "hello me\n",
    "10.66.1.1": "", // refused: closed, nothing sent
    "2001:db8::1": "hello me\n",
    "192.0.2.1": "",
  });
  assert.deepEqual(server.refused, ["10.66.1.1", "192.0.2.1"]);
  assert.equal(handlers, 2, "no handler ran for the refused clients");
});
