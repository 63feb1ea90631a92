/**
 * Python sets a handler's options as class attributes: `class Handler(StreamRequestHandler):
 * timeout = 5`. request-flow.md teaches that a server's class attributes are static properties
 * here, so the same port of a handler writes `static timeout = 5_000` — which compiles (the base
 * has no such static) and was ignored: handlers read their instance fields, so the handler had no
 * timeout at all and a silent client held it for ever. porting.md's rule is that what cannot be
 * honoured "is refused rather than ignored": the server refuses such a handler class at once,
 * saying to write the instance field (`override timeout = 5_000`).
 */
import assert from "node:assert/strict";
import {
  DatagramRequestHandler,
  StreamRequestHandler,
  TCPServer,
  ThreadingTCPServer,
  UDPServer,
} from "../mod.ts";

Deno.test("a StreamRequestHandler with static timeout, as Python's class attribute is ported: refused by the server, naming the instance field", () => {
  class Handler extends StreamRequestHandler {
    static timeout = 5_000;
  }
  assert.throws(() => new TCPServer(["127.0.0.1", 0], Handler), (error: Error) => {
    assert.ok(error instanceof TypeError, `a TypeError, got ${error}`);
    assert.match(error.message, /static timeout/);
    assert.match(error.message, /override timeout = 5000/);
    return true;
  });
});

Deno.test("a static timeout of 0.5, Python's seconds: the field the error names is in milliseconds", () => {
  class Handler extends StreamRequestHandler {
    static timeout = 0.5;
  }
  assert.throws(
    () => new TCPServer(["127.0.0.1", 0], Handler),
    /override timeout = 500` in the class body instead \(milliseconds\)/,
  );
});

for (
  const name of [
    "rbufsize",
    "wbufsize",
    "idleTimeout",
    "requestTimeout",
    "writeTimeout",
    "disableNagleAlgorithm",
    "maxLineLength",
  ]
) {
  Deno.test(`a StreamRequestHandler with static ${name}: refused too`, () => {
    class Handler extends StreamRequestHandler {}
    Object.defineProperty(Handler, name, { value: 1, enumerable: true });
    assert.throws(() => new ThreadingTCPServer(["127.0.0.1", 0], Handler), TypeError);
  });
}

Deno.test("a DatagramRequestHandler with static maxLineLength: refused", () => {
  class Handler extends DatagramRequestHandler {
    static maxLineLength = 100;
  }
  assert.throws(() => new UDPServer(["127.0.0.1", 0], Handler), TypeError);
});

Deno.test("the instance fields, and statics of other names, are accepted", async () => {
  class Handler extends StreamRequestHandler {
    static greeting = "hello";
    override timeout = 5_000;
  }
  await using server = new TCPServer(["127.0.0.1", 0], Handler);
  assert.equal(server.RequestHandlerClass, Handler);
});
