/**
 * This library's benchmark servers.
 *
 *     deno run -A bench/servers/deno_lib.ts <mode> [path]
 *
 * Modes:
 * - `threading-line`: `ThreadingTCPServer` + a `StreamRequestHandler` that
 *   echoes lines (`for await (const line of this.rfile) await this.wfile.write(line)`).
 * - `tcp-oneshot`, `threading-oneshot`: `TCPServer` / `ThreadingTCPServer`
 *   with the seed's `MyTCPHandler` (one read of at most 1024 bytes, the text
 *   trimmed and upper-cased, a newline put back for the load generator's check; no
 *   console output).
 * - `unix-line`: `ThreadingUnixStreamServer` + the line echo handler.
 * - `udp`, `unixdgram`: `UDPServer` / `UnixDatagramServer` + a
 *   `DatagramRequestHandler` that echoes the packet.
 * - `haproxy-plain`, `haproxy-v2`: `ThreadingTCPServer` + a one-shot echo
 *   (one read of at most 1024 bytes, sent back), behind HAProxy (started
 *   here, as a child: its CPU counts with the server's) without the PROXY
 *   protocol, or with `send-proxy-v2` and `proxyProtocol: "v2"`; the READY
 *   port is HAProxy's.
 *
 * A mode ending in `-otel` (`threading-line-otel`) is the same server passed
 * through `instrument()` of `@x/socketserver/otel`: exporting with
 * `OTEL_DENO=true`, left as it was without; `-otel-metrics`, through
 * `instrument(server, { spans: false })`.
 *
 * @module
 */
import {
  type AnyServer,
  BaseRequestHandler,
  DatagramRequestHandler,
  StreamRequestHandler,
  type StreamServer,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUnixStreamServer,
  UDPServer,
  UnixDatagramServer,
} from "../../mod.ts";
import { instrument } from "../../otel.ts";
import { args, ready, shout } from "./ready.ts";
import { startHaproxy } from "../../tests/_balancers.ts";

const given = args();
const [mode, otel] = given.mode.split(/-(?=otel)/) as [string, string | undefined];
const path = given.path;
/** The server, instrumented in an `-otel` mode. */
const served = <S extends AnyServer>(server: S): S =>
  otel === undefined ? server : instrument(server, { spans: otel !== "otel-metrics" });

/** One handler for the TCP and the Unix stream servers. */
class LineEcho extends StreamRequestHandler<StreamServer> {
  override async handle() {
    for await (const line of this.rfile) await this.wfile.write(line);
  }
}

class MyTCPHandler extends BaseRequestHandler {
  override async handle() {
    const buffer = new Uint8Array(1024);
    const n = await this.request.read(buffer) ?? 0;
    await this.request.write(shout(buffer.subarray(0, n)));
  }
}

/** Sends back what one read got: the connection-per-request echo. */
class OneShotEcho extends BaseRequestHandler<ThreadingTCPServer> {
  override async handle() {
    const buffer = new Uint8Array(1024);
    const n = await this.request.read(buffer) ?? 0;
    await this.request.write(buffer.subarray(0, n));
  }
}

/** One handler for the UDP and the Unix datagram servers. */
class DatagramEcho extends DatagramRequestHandler<AnyServer> {
  override async handle() {
    await this.wfile.write(this.packet);
  }
}

switch (mode) {
  case "threading-line": {
    const server = served(new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, LineEcho));
    ready({ port: server.serverAddress.port });
    await server.serveForever();
    break;
  }
  case "tcp-oneshot":
  case "threading-oneshot": {
    const Server = mode === "tcp-oneshot" ? TCPServer : ThreadingTCPServer;
    const server = served(new Server({ hostname: "127.0.0.1", port: 0 }, MyTCPHandler));
    ready({ port: server.serverAddress.port });
    await server.serveForever();
    break;
  }
  case "unix-line": {
    const server = served(new ThreadingUnixStreamServer({ path }, LineEcho));
    ready({ path });
    await server.serveForever();
    break;
  }
  case "udp": {
    const server = served(new UDPServer({ hostname: "127.0.0.1", port: 0 }, DatagramEcho));
    ready({ port: server.serverAddress.port });
    await server.serveForever();
    break;
  }
  case "unixdgram": {
    const server = served(new UnixDatagramServer({ path }, DatagramEcho));
    ready({ path });
    await server.serveForever();
    break;
  }
  case "haproxy-plain":
  case "haproxy-v2": {
    const v2 = mode === "haproxy-v2";
    const server = new ThreadingTCPServer(
      { hostname: "127.0.0.1", port: 0 },
      OneShotEcho,
      v2 ? { proxyProtocol: "v2", trustedProxies: ["127.0.0.1"] } : {},
    );
    const { balancer, ports } = await startHaproxy({
      backend: { hostname: "127.0.0.1", port: server.serverAddress.port },
      send: v2 ? "send-proxy-v2" : undefined,
      log: false,
    });
    // HAProxy is stopped with the server, not left running (no ready(): it exits at once)
    Deno.addSignalListener("SIGTERM", () => balancer.stop().finally(() => Deno.exit(0)));
    console.log(`READY ${JSON.stringify({ port: ports.ipv4, pid: Deno.pid })}`);
    await server.serveForever();
    break;
  }
  default:
    console.error(
      `Unknown mode "${mode}": use threading-line, tcp-oneshot, threading-oneshot, unix-line, udp, unixdgram, haproxy-plain or haproxy-v2`,
    );
    Deno.exit(2);
}
