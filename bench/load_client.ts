/**
 * The project's own closed-loop load client, for machines without a built
 * `echo-load` (`/work/shared/tools/echo-load.c`). Same flags, same modes,
 * same one-line JSON result, so the harness treats the two alike; it is
 * slower than the C client, so its figures are lower and say so.
 *
 *     deno run -A bench/load_client.ts [-h HOST] [-p PORT | -u PATH] [-c CONNS]
 *       [-s SIZE] [-d SECONDS] [-m persist|connect|udp|idle] [-U]
 *
 * - `persist`: every connection sends a SIZE-byte line, waits for the same
 *   bytes back, checks them, and sends again.
 * - `connect`: every request is a new connection: send the line, read until
 *   the server closes, check.
 * - `udp`: every client socket sends a datagram and waits for it back (lost
 *   after 200 ms: counted and sent again). With `-u`, Unix datagrams.
 * - `idle` (not in echo-load): opens CONNS connections, 100 at a time, each
 *   sending one line and waiting for its echo so the server has really taken
 *   it, for at most SECONDS; then prints its JSON line (`held`: how many are
 *   open) and holds them all until it is killed.
 *
 * `-U`: the payload is lower-case letters and the reply must come back
 * upper-cased.
 *
 * @module
 */

interface Options {
  host: string;
  port: number;
  path: string | null;
  conns: number;
  size: number;
  seconds: number;
  mode: "persist" | "connect" | "udp" | "idle";
  upper: boolean;
}

function parse(argv: string[]): Options {
  const o: Options = {
    host: "127.0.0.1",
    port: 9999,
    path: null,
    conns: 50,
    size: 64,
    seconds: 5,
    mode: "persist",
    upper: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new TypeError(`Flag "${flag}" needs a value`);
      return v;
    };
    switch (flag) {
      case "-h":
        o.host = value();
        break;
      case "-p":
        o.port = Number(value());
        break;
      case "-u":
        o.path = value();
        break;
      case "-c":
        o.conns = Number(value());
        break;
      case "-s":
        o.size = Math.max(2, Number(value()));
        break;
      case "-d":
        o.seconds = Number(value());
        break;
      case "-m": {
        const m = value();
        if (m !== "persist" && m !== "connect" && m !== "udp" && m !== "idle") {
          throw new TypeError(`Unknown mode "${m}": use persist, connect, udp or idle`);
        }
        o.mode = m;
        break;
      }
      case "-U":
        o.upper = true;
        break;
      default:
        throw new TypeError(`Unknown flag "${flag}"`);
    }
  }
  return o;
}

const HIST_US = 2_000_000;

/** Counts and latencies, reported like echo-load's JSON line. */
class Stats {
  hist = new Uint32Array(HIST_US);
  requests = 0;
  errors = 0;
  mismatches = 0;
  lost = 0;
  overHist = 0;
  maxUs = 0;

  record(t0: number): void {
    const us = Math.floor((performance.now() - t0) * 1000);
    if (us > this.maxUs) this.maxUs = us;
    if (us < HIST_US) this.hist[us]++;
    else this.overHist++;
    this.requests++;
  }

  json(o: Options, elapsed: number): string {
    const total = this.requests;
    let acc = 0, p50 = 0, p99 = 0, got50 = false, got99 = false;
    for (let us = 0; us < HIST_US && total > 0; us++) {
      acc += this.hist[us];
      if (!got50 && acc * 2 >= total) (p50 = us, got50 = true);
      if (!got99 && acc * 100 >= total * 99) (p99 = us, got99 = true);
      if (got99) break;
    }
    if (!got99 && total > 0) p99 = this.maxUs;
    return JSON.stringify({
      mode: o.mode,
      conns: o.conns,
      size: o.size,
      seconds: Number(elapsed.toFixed(2)),
      requests: total,
      rps: Math.round(total / elapsed),
      mbps: Number((total * o.size * 2 / elapsed / 1e6).toFixed(2)),
      p50_us: p50,
      p99_us: p99,
      max_us: this.maxUs,
      errors: this.errors,
      mismatches: this.mismatches,
      lost: this.lost,
    });
  }
}

function payloads(o: Options): { payload: Uint8Array; expect: Uint8Array } {
  const payload = new Uint8Array(o.size);
  const expect = new Uint8Array(o.size);
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const digits = "0123456789";
  for (let i = 0; i + 1 < o.size; i++) {
    payload[i] = o.upper ? letters.charCodeAt(i % 26) : digits.charCodeAt(i % 10);
    expect[i] = o.upper ? payload[i] - 32 : payload[i];
  }
  payload[o.size - 1] = expect[o.size - 1] = 0x0a;
  return { payload, expect };
}

function same(a: Uint8Array, b: Uint8Array, n: number): boolean {
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function connect(o: Options): Promise<Deno.Conn> {
  if (o.path !== null) return Deno.connect({ transport: "unix", path: o.path });
  return Deno.connect({ hostname: o.host, port: o.port }).then((conn) => {
    conn.setNoDelay(true);
    return conn;
  });
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let n = 0;
  while (n < bytes.length) n += await conn.write(bytes.subarray(n));
}

/** Reads until `want` bytes are in `buf`; false at EOF first. */
async function readExactly(conn: Deno.Conn, buf: Uint8Array, want: number): Promise<boolean> {
  let off = 0;
  while (off < want) {
    const n = await conn.read(buf.subarray(off, want));
    if (n === null) return false;
    off += n;
  }
  return true;
}

function closeQuietly(conn: { close(): void } | null): void {
  try {
    conn?.close();
  } catch {
    // already closed
  }
}

async function persist(o: Options, stats: Stats, end: number): Promise<void> {
  const { payload, expect } = payloads(o);
  const rbuf = new Uint8Array(o.size);
  let conn: Deno.Conn | null = null;
  while (performance.now() < end) {
    try {
      conn ??= await connect(o);
      const t0 = performance.now();
      await writeAll(conn, payload);
      if (!await readExactly(conn, rbuf, o.size)) throw new Error("EOF");
      if (same(rbuf, expect, o.size)) stats.record(t0);
      else stats.mismatches++;
    } catch {
      stats.errors++;
      closeQuietly(conn);
      conn = null;
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  closeQuietly(conn);
}

async function oneShot(o: Options, stats: Stats, end: number): Promise<void> {
  const { payload, expect } = payloads(o);
  const rbuf = new Uint8Array(o.size + 1);
  while (performance.now() < end) {
    const t0 = performance.now();
    let conn: Deno.Conn | null = null;
    try {
      conn = await connect(o);
      await writeAll(conn, payload);
      let off = 0;
      for (;;) {
        if (off === rbuf.length) throw new Error("reply too long");
        const n = await conn.read(rbuf.subarray(off));
        if (n === null) break;
        off += n;
      }
      if (off !== o.size) stats.errors++;
      else if (same(rbuf, expect, off)) stats.record(t0);
      else stats.mismatches++;
    } catch {
      stats.errors++;
    } finally {
      closeQuietly(conn);
    }
  }
}

async function datagrams(o: Options, stats: Stats, end: number, index: number): Promise<void> {
  const { payload, expect } = payloads(o);
  let sock: Deno.DatagramConn;
  let server: Deno.Addr;
  let mine: string | null = null;
  if (o.path !== null) {
    mine = `/tmp/load-client-${Deno.pid}-${index}.sock`;
    try {
      Deno.removeSync(mine);
    } catch {
      // not there
    }
    sock = Deno.listenDatagram({ transport: "unixpacket", path: mine });
    server = { transport: "unixpacket", path: o.path };
  } else {
    sock = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    server = { transport: "udp", hostname: o.host, port: o.port };
  }
  const rbuf = new Uint8Array(o.size + 1);
  let pending: Promise<[Uint8Array, Deno.Addr]> | null = null;
  try {
    while (performance.now() < end) {
      const t0 = performance.now();
      await sock.send(payload, server);
      pending ??= sock.receive(rbuf);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<null>((r) => timer = setTimeout(() => r(null), 200));
      const got = await Promise.race([pending, expired]);
      clearTimeout(timer);
      if (got === null) {
        stats.lost++;
        continue;
      }
      pending = null;
      if (same(got[0], expect, got[0].length)) stats.record(t0);
      else stats.mismatches++;
    }
  } catch {
    stats.errors++;
  } finally {
    closeQuietly(sock);
    if (mine !== null) await Deno.remove(mine).catch(() => {});
  }
}

async function idle(o: Options, stats: Stats): Promise<Deno.Conn[]> {
  const { payload, expect } = payloads(o);
  const held: Deno.Conn[] = [];
  const deadline = performance.now() + o.seconds * 1000;
  let next = 0;
  /** Connects and has one line echoed; the connection, or null. */
  const open = async (rbuf: Uint8Array): Promise<Deno.Conn | null> => {
    let conn: Deno.Conn | null = null;
    try {
      conn = await connect(o);
      const t0 = performance.now();
      await writeAll(conn, payload);
      if (!await readExactly(conn, rbuf, o.size)) throw new Error("EOF");
      if (same(rbuf, expect, o.size)) stats.record(t0);
      else stats.mismatches++;
      return conn;
    } catch {
      closeQuietly(conn);
      return null;
    }
  };
  const opener = async () => {
    const rbuf = new Uint8Array(o.size);
    while (next < o.conns && performance.now() < deadline) {
      next++;
      // A server with a short backlog drops SYNs, and the kernel retries
      // for seconds: an attempt may not outlast the run.
      const attempt = open(rbuf);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((r) => {
        timer = setTimeout(() => r("late"), Math.max(0, deadline - performance.now()));
      });
      const conn = await Promise.race([attempt, late]);
      clearTimeout(timer);
      if (conn === "late") {
        stats.errors++;
        attempt.then(closeQuietly);
      } else if (conn === null) {
        stats.errors++;
      } else {
        held.push(conn);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(100, o.conns) }, opener));
  return held;
}

if (import.meta.main) {
  const o = parse(Deno.args);
  const stats = new Stats();
  const start = performance.now();
  if (o.mode === "idle") {
    const held = await idle(o, stats);
    console.log(
      stats.json(o, (performance.now() - start) / 1000).replace(
        /^\{/,
        `{"held":${held.length},`,
      ),
    );
    // Hold every connection until the harness kills this process.
    setInterval(() => {}, 1 << 30);
    await new Promise(() => {});
  }
  const end = start + o.seconds * 1000;
  const loops = Array.from({ length: o.conns }, (_, i) => {
    if (o.mode === "persist") return persist(o, stats, end);
    if (o.mode === "connect") return oneShot(o, stats, end);
    return datagrams(o, stats, end, i);
  });
  // A loop waiting on a server that stopped answering must not hold the run.
  const cap = new Promise((r) => setTimeout(r, o.seconds * 1000 + 2000));
  await Promise.race([Promise.all(loops), cap]);
  console.log(stats.json(o, (performance.now() - start) / 1000));
  Deno.exit(0);
}
