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
 *   trimmed and upper-cased, a newline put back for echo-load's check; no
 *   console output).
 * - `unix-line`: `ThreadingMixIn(UnixStreamServer)` + the line echo handler.
 * - `udp`, `unixdgram`: `UDPServer` / `UnixDatagramServer` + a
 *   `DatagramRequestHandler` that echoes the packet.
 *
 * The last three need classes that `mod.ts` may not export yet; the mode then
 * exits with status 3 and says so, and the harness marks the row "n/a".
 *
 * @module
 */
import * as lib from "../../mod.ts";
import {
  BaseRequestHandler,
  StreamRequestHandler,
  ThreadingMixIn,
  ThreadingTCPServer,
} from "../../mod.ts";
import { TCPServer } from "../../mod.ts";
import { args, ready, shout } from "./ready.ts";

const { mode, path } = args();

class LineEcho extends StreamRequestHandler {
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

// Classes other branches are adding; looked up by name so this file runs
// before and after they land.
// deno-lint-ignore no-explicit-any
const optional = lib as Record<string, any>;

function need(name: string) {
  const found = optional[name];
  if (typeof found !== "function") {
    console.error(`mod.ts does not export ${name} yet`);
    Deno.exit(3);
  }
  return found;
}

// deno-lint-ignore no-explicit-any
function datagramEcho(): any {
  return class extends need("DatagramRequestHandler") {
    handle() {
      this.wfile.write(this.packet);
    }
  };
}

switch (mode) {
  case "threading-line": {
    const server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, LineEcho);
    ready({ port: server.serverAddress.port });
    await server.serveForever();
    break;
  }
  case "tcp-oneshot":
  case "threading-oneshot": {
    const Server = mode === "tcp-oneshot" ? TCPServer : ThreadingTCPServer;
    const server = new Server({ hostname: "127.0.0.1", port: 0 }, MyTCPHandler);
    ready({ port: server.serverAddress.port });
    await server.serveForever();
    break;
  }
  case "unix-line": {
    const Server = ThreadingMixIn(need("UnixStreamServer"));
    const server = new Server({ path }, LineEcho);
    ready({ path });
    await server.serveForever();
    break;
  }
  case "udp": {
    const server = new (need("UDPServer"))({ hostname: "127.0.0.1", port: 0 }, datagramEcho());
    ready({ port: server.serverAddress.port });
    await server.serveForever();
    break;
  }
  case "unixdgram": {
    const server = new (need("UnixDatagramServer"))({ path }, datagramEcho());
    ready({ path });
    await server.serveForever();
    break;
  }
  default:
    console.error(
      `Unknown mode "${mode}": use threading-line, tcp-oneshot, threading-oneshot, unix-line, udp or unixdgram`,
    );
    Deno.exit(2);
}
