/**
 * Python's way to an IPv6 server is a class attribute: `class TCPServerV6(TCPServer):
 * address_family = socket.AF_INET6`, bound to `("", port)` — every interface, IPv6 and IPv4
 * (`http.server`'s main sets it the same way). Ported line by line, `static addressFamily =
 * "AF_INET6"` was ignored: the server bound "0.0.0.0", IPv4 only, and an IPv6 client was refused.
 * Here the address picks the family (README: `addressFamily` is read-only), and porting.md's rule
 * is that an attribute Deno cannot honour "is refused rather than ignored": a declared family the
 * address contradicts throws from the constructor, saying to bind "::", and binds nothing.
 */
import assert from "node:assert/strict";
import { DatagramRequestHandler, StreamRequestHandler, TCPServer, UDPServer } from "../mod.ts";

Deno.test('TCPServer subclass with static addressFamily "AF_INET6" bound to "": refused, naming "::", instead of an IPv4-only server', () => {
  class TCPServerV6 extends TCPServer {
    static addressFamily = "AF_INET6";
  }
  assert.throws(() => new TCPServerV6(["", 0], StreamRequestHandler), (error: Error) => {
    assert.ok(error instanceof TypeError, `a TypeError, got ${error}`);
    assert.match(error.message, /addressFamily/);
    assert.match(error.message, /"::"/);
    return true;
  });
});

Deno.test('UDPServer subclass with static addressFamily "AF_INET6" bound to "": refused too', () => {
  class UDPServerV6 extends UDPServer {
    static addressFamily = "AF_INET6";
  }
  assert.throws(() => new UDPServerV6(["", 0], DatagramRequestHandler), TypeError);
});

Deno.test('static addressFamily "AF_INET6" with bindAndActivate false: serverBind() refuses and leaves nothing bound', () => {
  class TCPServerV6 extends TCPServer {
    static addressFamily = "AF_INET6";
  }
  const server = new TCPServerV6(["127.0.0.1", 0], StreamRequestHandler, {
    bindAndActivate: false,
  });
  assert.throws(() => server.serverBind(), TypeError);
  assert.equal(server.socket, undefined); // the test's resource sanitizer: no listener left open
});

Deno.test("a static addressFamily the address agrees with is accepted, as in Python", async () => {
  class TCPServerV6 extends TCPServer {
    static addressFamily = "AF_INET6";
  }
  class TCPServerV4 extends TCPServer {
    static addressFamily = "AF_INET";
  }
  await using v6 = new TCPServerV6(["::1", 0], StreamRequestHandler);
  assert.equal(v6.addressFamily, "AF_INET6");
  await using v4 = new TCPServerV4(["", 0], StreamRequestHandler);
  assert.equal(v4.addressFamily, "AF_INET");
});
