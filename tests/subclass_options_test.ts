/**
 * Porting a server subclass whose `serverBind()` sets attributes, as
 * `http.server.HTTPServer` does: fields declared with `declare` survive the
 * bind (a field with an initialiser is reset after it), and the options a
 * subclass passes to the constructor are readable during the bind.
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  TCPServer,
  type TCPServerOptions,
  ThreadingTCPServer,
  TLSServer,
} from "../mod.ts";
import { cert, key } from "./_tls.ts";

/** http.server's HTTPServer, ported line by line. */
class HTTPServer extends TCPServer {
  static override allowReuseAddress = true;
  declare serverName: string;
  declare serverPort: number;

  override serverBind() {
    super.serverBind();
    const { hostname, port } = this.serverAddress;
    this.serverName = hostname === "0.0.0.0" ? Deno.hostname() : hostname;
    this.serverPort = port;
  }
}

Deno.test("serverBind() that sets serverName and serverPort, as http.server's HTTPServer does, keeps them with declare fields", async () => {
  await using httpd = new HTTPServer(["127.0.0.1", 0], BaseRequestHandler);
  const line = `Serving HTTP on ${httpd.serverName} port ${httpd.serverPort}`;
  assert.equal(line, `Serving HTTP on 127.0.0.1 port ${httpd.serverAddress.port}`);
  assert.notEqual(httpd.serverPort, 0);
});

Deno.test("serverBind() in a subclass: a field with an initialiser is reset after the bind, which is why the docs say declare", async () => {
  class Wiped extends TCPServer {
    serverPort = 0; // runs after the base constructor, which bound and set it
    override serverBind() {
      super.serverBind();
      this.serverPort = this.serverAddress.port;
    }
  }
  await using server = new Wiped(["127.0.0.1", 0], BaseRequestHandler);
  assert.equal(server.serverPort, 0);
});

interface GreeterOptions extends TCPServerOptions {
  /** What the server says first. */
  banner?: string;
}

class Greeter extends ThreadingTCPServer {
  declare readonly options: Readonly<GreeterOptions>;
  declare banner: string;

  constructor(address: [string, number], options: GreeterOptions = {}) {
    super(address, BaseRequestHandler, options);
  }

  override serverBind() {
    super.serverBind();
    // runs inside the base constructor: the options are already readable
    this.banner = `${this.options.banner ?? "hello"} from ${this.serverAddress.port}`;
  }
}

Deno.test("this.options gives a subclass the options it passed to the constructor, typed, already in serverBind()", async () => {
  await using server = new Greeter(["127.0.0.1", 0], { banner: "welcome", timeout: 1000 });
  assert.equal(server.banner, `welcome from ${server.serverAddress.port}`);
  assert.equal(server.options.banner, "welcome");
  assert.equal(server.options.timeout, 1000);
  assert.ok(Object.isFrozen(server.options));
  await using plain = new TCPServer(["127.0.0.1", 0], BaseRequestHandler, {
    requestQueueSize: 64,
  });
  const options: Readonly<TCPServerOptions> = plain.options;
  assert.equal(options.requestQueueSize, 64);
});

Deno.test("this.options stays out of console.log, so a TLS key passed as an option is not printed", async () => {
  await using server = new TLSServer(["127.0.0.1", 0], BaseRequestHandler, { cert, key });
  assert.equal(server.options.key, key);
  assert.doesNotMatch(Deno.inspect(server, { depth: 5 }), /PRIVATE KEY/);
});
