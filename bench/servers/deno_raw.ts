/**
 * The raw Deno reference servers: what a competent Deno user writes by hand
 * with no framework. Every connection gets its own task and one 16 KiB buffer
 * (the library's `rfile` default, so idle memory compares like for like);
 * echo servers write back each chunk as it arrives, with no line parsing.
 *
 *     deno run -A bench/servers/deno_raw.ts <mode> [path]
 *
 * Modes: `tcp-echo`, `tcp-oneshot` (the seed handler: one read of at most
 * 1024 bytes, reply upper-cased, close), `tcp-oneshot-serial` (the same,
 * one connection at a time, as a plain `TCPServer` works), `unix-echo`,
 * `udp-echo`, `unixpacket-echo`, and `udp-handler-floor`: the UDP loop with
 * the least any Python-shaped handler costs (an object per datagram whose
 * async `handle()` awaits a write into a reply buffer, sent after it) and no
 * library: where this library's share of the UDP gap starts.
 *
 * @module
 */
import { args, ready, shout } from "./ready.ts";

const BUFFER_SIZE = 16 * 1024;
const { mode, path } = args();

async function echo(conn: Deno.Conn): Promise<void> {
  // Without TCP_NODELAY, a message echoed in several writes waits for the
  // peer's delayed ACK (40 ms) after the first: 64 KiB echoes fall to a few
  // hundred a second. Anyone who measures sets it.
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
  const buf = new Uint8Array(BUFFER_SIZE);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      let sent = 0;
      while (sent < n) sent += await conn.write(buf.subarray(sent, n));
    }
  } catch {
    // a reset by the client ends the connection like EOF
  } finally {
    conn.close();
  }
}

async function oneShot(conn: Deno.Conn): Promise<void> {
  try {
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf) ?? 0;
    const reply = shout(buf.subarray(0, n));
    let sent = 0;
    while (sent < reply.length) sent += await conn.write(reply.subarray(sent));
  } catch {
    // the client went away
  } finally {
    conn.close();
  }
}

async function serve(listener: Deno.Listener, handle: (conn: Deno.Conn) => Promise<void>) {
  for await (const conn of listener) handle(conn);
}

/** One connection at a time, like a plain TCPServer. */
async function serveSerially(listener: Deno.Listener, handle: (conn: Deno.Conn) => Promise<void>) {
  for await (const conn of listener) await handle(conn);
}

async function datagrams(sock: Deno.DatagramConn): Promise<void> {
  const buf = new Uint8Array(65536);
  for (;;) {
    const [data, addr] = await sock.receive(buf);
    try {
      await sock.send(data, addr);
    } catch {
      // the client is gone (a Unix client's socket file removed, say)
    }
  }
}

/** The least a `DatagramRequestHandler` could be: the request, a packet and
 * a reply buffer per datagram; `write()` keeps a copy, as Python's `wfile`. */
class FloorHandler {
  readonly request: [Uint8Array, Deno.DatagramConn];
  readonly clientAddress: Deno.Addr;
  readonly packet: Uint8Array;
  reply: Uint8Array | null = null;
  readonly wfile = { write: (p: Uint8Array) => this.#write(p) };
  constructor(request: [Uint8Array, Deno.DatagramConn], clientAddress: Deno.Addr) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.packet = request[0];
  }
  #write(p: Uint8Array): Promise<number> {
    this.reply = p.slice();
    return Promise.resolve(p.length);
  }
  async handle(): Promise<void> {
    await this.wfile.write(this.packet);
  }
}

async function handledDatagrams(sock: Deno.DatagramConn): Promise<void> {
  const buf = new Uint8Array(65536);
  for (;;) {
    const [data, addr] = await sock.receive(buf);
    const handler = new FloorHandler([data, sock], addr);
    await handler.handle();
    try {
      if (handler.reply !== null) await sock.send(handler.reply, addr);
    } catch {
      // the client is gone
    }
  }
}

switch (mode) {
  case "tcp-echo":
  case "tcp-oneshot": {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    ready({ port: listener.addr.port });
    await serve(listener, mode === "tcp-echo" ? echo : oneShot);
    break;
  }
  case "tcp-oneshot-serial": {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    ready({ port: listener.addr.port });
    await serveSerially(listener, oneShot);
    break;
  }
  case "unix-echo": {
    const listener = Deno.listen({ transport: "unix", path });
    ready({ path });
    await serve(listener, echo);
    break;
  }
  case "udp-echo": {
    const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    ready({ port: (sock.addr as Deno.NetAddr).port });
    await datagrams(sock);
    break;
  }
  case "udp-handler-floor": {
    const sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    ready({ port: (sock.addr as Deno.NetAddr).port });
    await handledDatagrams(sock);
    break;
  }
  case "unixpacket-echo": {
    const sock = Deno.listenDatagram({ transport: "unixpacket", path });
    ready({ path });
    await datagrams(sock);
    break;
  }
  default:
    console.error(
      `Unknown mode "${mode}": use tcp-echo, tcp-oneshot, tcp-oneshot-serial, unix-echo, udp-echo, udp-handler-floor or unixpacket-echo`,
    );
    Deno.exit(2);
}
