/**
 * Fault-injection soak, bounded to a minute: hundreds of well-behaved
 * clients doing request/reply against `bench/soak_server.ts` (in its own
 * process) beside hostile ones — resets in the middle of a request, floods
 * without a newline, slowloris, connect-and-vanish; and over UDP,
 * well-behaved clients that resend after 200 ms without an answer beside
 * garbage datagrams (empty, oversized, random, invalid UTF-8), bursts of a
 * datagram flood, and clients that vanish before their reply; a server
 * whose handlers never await their writes, with clients that reset in the
 * middle of a 256 KiB reply beside well-behaved ones; bursts of 400 resets
 * beside the well-behaved clients (their p99 latency during the bursts is
 * reported: the goal is 100 ms); and a slow-reading pipelining client
 * during repeated graceful stops of a server, whose replies written before
 * each deadline must all arrive — then a graceful stop. It prints requests
 * answered, wrong or missing replies for
 * the well-behaved clients (must be 0), UDP datagrams lost and resent
 * (expected: the kernel drops what a flood leaves no room for), server
 * crashes (must be 0), what reached `handleError()` (must be nothing), the
 * drops by reason, and the server's peak RSS and open descriptors. Exits
 * non-zero when a "must" fails.
 *
 *     deno task soak                      # 30 s of load
 *     deno run -A bench/soak.ts --seconds 45 --good 300 --hostile 1 --max-connections 384 \
 *       --server-heap-mb 32 --udp-good 20 --udp-flood-burst 5000
 *
 * `-A` because Deno lists `/proc/<pid>/fd` only with every permission.
 *
 * @module
 */
import net from "node:net";
import { BufferedReader } from "../mod.ts";

function option(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(Deno.args[i + 1]);
}
const SECONDS = Math.min(45, option("seconds", 30));
const GOOD = option("good", 300);
const MAX_CONNECTIONS = option("max-connections", 384);
/** Caps the server's V8 old space (MiB), e.g. 32; 0 leaves V8's default. */
const SERVER_HEAP_MB = option("server-heap-mb", 0);
const SCALE = option("hostile", 1); // multiplies the hostile clients; 0 for none
const HOSTILE = {
  reset: 10 * SCALE,
  flood: 4 * SCALE,
  slowloris: 40 * SCALE,
  vanish: 30 * SCALE,
};
const UDP_GOOD = option("udp-good", 20);
/** Datagrams in one burst of a flood socket, which then rests 1 s. */
const UDP_FLOOD_BURST = option("udp-flood-burst", 5000);
const UDP_HOSTILE = { garbage: 2 * SCALE, flood: 2 * SCALE, vanish: 4 * SCALE };
/** A well-behaved UDP client resends after this long without its answer… */
const UDP_WAIT_MS = 200;
/** …and gives up (a missing reply) after this many sends: 10 s. */
const UDP_MAX_SENDS = 50;
/** Well-behaved clients of the server whose handlers never await writes,
 * and clients that reset it in the middle of a 256 KiB reply. */
const CARELESS_GOOD = option("careless-good", 20);
const CARELESS_RESET = option("careless-reset", 4 * SCALE);
/** Resets per burst, and the time between bursts. */
const BURST = option("burst", 400);
const BURST_EVERY_MS = option("burst-every-ms", 3000);
/** Time between graceful stops of the graceful server. */
const GRACEFUL_EVERY_MS = option("graceful-every-ms", 6000);

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rand = (n: number) => Math.floor(Math.random() * n);

// --- the server, in its own process ---------------------------------------
const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--unstable-net",
    "--allow-net=127.0.0.1",
    `--v8-flags=--expose-gc${SERVER_HEAP_MB > 0 ? `,--max-old-space-size=${SERVER_HEAP_MB}` : ""}`,
    new URL("./soak_server.ts", import.meta.url).pathname,
    `${MAX_CONNECTIONS}`,
  ],
  stdin: "piped",
  stdout: "piped",
  stderr: "piped",
}).spawn();
const serverStdin = server.stdin.getWriter();
const serverStderr = new Response(server.stderr).text();
// The server's stdout: one JSON event per line
// deno-lint-ignore no-explicit-any
type Event = Record<string, any>;
const events: Event[] = [];
const eventWaiters: Array<() => void> = [];
const pump = (async () => {
  let pending = "";
  for await (const chunk of server.stdout.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      try {
        events.push(JSON.parse(line));
      } catch {
        console.log(`server: ${line}`);
      }
    }
    for (const wake of eventWaiters.splice(0)) wake();
  }
  for (const wake of eventWaiters.splice(0)) wake();
})();
/** The first event from index `from` on that has `key`; null once stdout ends. */
async function serverEvent(key: string, from = 0): Promise<Event | null> {
  for (;;) {
    const found = events.slice(from).find((event) => key in event);
    if (found !== undefined) return found;
    const { promise, resolve } = Promise.withResolvers<void>();
    eventWaiters.push(resolve);
    const ended = await Promise.race([promise.then(() => false), pump.then(() => true)]);
    if (ended) return events.slice(from).find((event) => key in event) ?? null;
  }
}
const { port, udpPort, carelessPort } = (await serverEvent("port"))!;
const udpTarget = { transport: "udp" as const, hostname: "127.0.0.1", port: udpPort };
let serverExited = false;
let crashes = 0;
const serverStatus = server.status.then((status) => {
  serverExited = true;
  return status;
});

// --- measuring it ----------------------------------------------------------
function procStatus(field: string): number {
  const text = Deno.readTextFileSync(`/proc/${server.pid}/status`);
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return match ? Number(match[1]) * 1024 : NaN;
}
function descriptors(): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${server.pid}/fd`)) n++;
  return n;
}
/** The kernel's count of datagrams dropped at the server's UDP socket (its
 * receive buffer was full): the last column of its line in /proc/net/udp. */
function udpKernelDrops(): number {
  const local = `0100007F:${udpPort.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local) return Number(fields.at(-1));
  }
  return NaN;
}
const baseline = { rss: procStatus("VmRSS"), fds: descriptors() };
let peakFds = baseline.fds;
const sampler = setInterval(() => {
  if (serverExited) return;
  try {
    peakFds = Math.max(peakFds, descriptors());
  } catch {
    // exited between the check and the read
  }
}, 100);

// --- well-behaved clients --------------------------------------------------
const good = { answered: 0, wrong: 0, missing: 0, connections: 0, outstanding: 0 };
/** Pairs of (start, latency) in ms, per request of the well-behaved clients. */
const latencies: number[] = [];
let running = true;

async function wellBehaved(id: number): Promise<void> {
  let seq = 0;
  while (running) {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port });
    } catch {
      good.missing++; // could not even connect
      await sleep(50);
      continue;
    }
    good.connections++;
    const rfile = new BufferedReader(conn);
    try {
      // a few dozen requests per connection, then a fresh one
      for (let n = 20 + rand(40); n > 0 && running; n--) {
        const request = `client ${id} request ${seq++} ${"x".repeat(rand(200))}\n`;
        good.outstanding++;
        let reply: string;
        const began = performance.now();
        try {
          await conn.write(encoder.encode(request));
          reply = decoder.decode(await rfile.readline());
        } finally {
          good.outstanding--;
        }
        latencies.push(began, performance.now() - began);
        if (reply === "") {
          good.missing++;
          break;
        }
        if (reply === `ok ${request}`) good.answered++;
        else good.wrong++;
        await sleep(rand(40)); // think time, well within the idle timeout
      }
    } catch {
      good.missing++; // the server reset or closed a well-behaved client
    } finally {
      conn.close();
    }
  }
}

// --- hostile clients -------------------------------------------------------
const hostile = {
  reset: 0,
  flood: 0,
  floodBytes: 0,
  slowloris: 0,
  slowlorisBytes: 0,
  vanish: 0,
  connectAndClose: 0,
};

/** Sends half a request, then resets the connection (RST). */
function resetMidWrite(): Promise<void> {
  hostile.reset++;
  const { promise, resolve } = Promise.withResolvers<void>();
  const socket = net.connect(port, "127.0.0.1", () => {
    socket.write(`half a request that never en`, () => {
      setTimeout(() => socket.resetAndDestroy(), rand(50));
    });
  });
  socket.on("error", () => {});
  socket.on("close", () => resolve());
  return promise;
}

/** Sends megabytes without a newline (at most 100 MB) until cut off. */
async function flood(): Promise<void> {
  hostile.flood++;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunk = new Uint8Array(1 << 20).fill(0x78);
  try {
    for (let i = 0; i < 100; i++) hostile.floodBytes += await conn.write(chunk);
  } catch {
    // dropped by the server: the point
  } finally {
    conn.close();
  }
}

/** One byte every 200 ms, never a newline, until the server hangs up. */
async function slowloris(): Promise<void> {
  hostile.slowloris++;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reply = conn.read(new Uint8Array(16)).catch(() => null); // EOF when dropped
  let dropped = false;
  reply.then(() => dropped = true);
  try {
    for (let i = 0; i < 100 && !dropped; i++) { // at most 20 s
      await conn.write(encoder.encode("x"));
      hostile.slowlorisBytes++;
      await sleep(200);
    }
  } catch {
    // dropped
  } finally {
    conn.close();
    await reply;
  }
}

/** Connects and says nothing, until the server hangs up; or closes at once. */
async function vanish(): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (Math.random() < 0.3) {
    hostile.connectAndClose++;
    conn.close();
    return;
  }
  hostile.vanish++;
  try {
    await conn.read(new Uint8Array(16)); // EOF once the idle timeout drops it
  } catch {
    // reset
  } finally {
    conn.close();
  }
}

/** Keeps `count` clients of one kind running until the soak ends. */
async function keep(count: number, client: () => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: count }, async () => {
    while (running) {
      try {
        await client();
      } catch {
        await sleep(50); // could not connect: the backlog is full; retry
      }
    }
  }));
}

// --- UDP: well-behaved clients --------------------------------------------
const udp = {
  answered: 0,
  /** Requests answered only after one or more resends. */
  retried: 0,
  resends: 0,
  maxSends: 0,
  wrong: 0,
  missing: 0,
  /** Answers to an earlier send of a request already answered. */
  late: 0,
  outstanding: 0,
};

/** Resolves to `promise`'s value, or `null` after `ms`. */
async function orNull<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<null>((resolve) => timer = setTimeout(resolve, ms, null)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Request/reply over UDP, as a UDP client must: resend after UDP_WAIT_MS
 * without the answer, up to UDP_MAX_SENDS sends. */
async function udpWellBehaved(id: number): Promise<void> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let pending: Promise<[Uint8Array, Deno.Addr]> | null = null;
  const earlier: string[] = []; // answers that may still arrive late
  let seq = 0;
  try {
    while (running) {
      const request = `udp client ${id} request ${seq++} ${"y".repeat(rand(200))}\n`;
      const expected = `ok ${request}`;
      const bytes = encoder.encode(request);
      let sends = 0;
      let answered = false;
      udp.outstanding++;
      while (!answered && sends < UDP_MAX_SENDS) {
        await socket.send(bytes, udpTarget);
        sends++;
        const deadline = performance.now() + UDP_WAIT_MS;
        for (let left = UDP_WAIT_MS; left > 0; left = deadline - performance.now()) {
          pending ??= socket.receive();
          const got = await orNull(pending, left);
          if (got === null) break;
          pending = null;
          const reply = decoder.decode(got[0]);
          if (reply === expected) answered = true;
          else if (earlier.includes(reply)) udp.late++;
          else udp.wrong++;
          if (answered) break;
        }
      }
      udp.outstanding--;
      earlier.push(expected);
      if (earlier.length > 20) earlier.shift();
      if (!answered) {
        udp.missing++;
        continue;
      }
      udp.answered++;
      udp.maxSends = Math.max(udp.maxSends, sends);
      if (sends > 1) {
        udp.retried++;
        udp.resends += sends - 1;
      }
      await sleep(rand(40));
    }
  } finally {
    pending?.catch(() => {}); // closing rejects it
    socket.close();
  }
}

// --- UDP: hostile clients --------------------------------------------------
const udpHostile = { empty: 0, oversized: 0, random: 0, invalidUtf8: 0, flood: 0, vanish: 0 };
const INVALID_UTF8 = [[0x80], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xff, 0xfe]]
  .map((bytes) => new Uint8Array(bytes));

/** 100 garbage datagrams every 50 ms: empty, longer than the server's
 * maxPacketSize (8192) up to the largest UDP datagram, random bytes,
 * invalid UTF-8. */
async function udpGarbage(): Promise<void> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    while (running) {
      for (let i = 0; i < 100; i++) {
        switch (rand(4)) {
          case 0:
            await socket.send(new Uint8Array(0), udpTarget);
            udpHostile.empty++;
            break;
          case 1:
            await socket.send(new Uint8Array(8193 + rand(65507 - 8193)), udpTarget);
            udpHostile.oversized++;
            break;
          case 2: {
            const random = new Uint8Array(1 + rand(1400));
            crypto.getRandomValues(random);
            random[0] = 0xff; // never valid UTF-8, so never answered
            await socket.send(random, udpTarget);
            udpHostile.random++;
            break;
          }
          default:
            await socket.send(INVALID_UTF8[rand(INVALID_UTF8.length)], udpTarget);
            udpHostile.invalidUtf8++;
        }
      }
      await sleep(50);
    }
  } finally {
    socket.close();
  }
}

/** Bursts of UDP_FLOOD_BURST small datagrams as fast as they go, then 1 s
 * of rest: each burst overruns the server's receive buffer. */
async function udpFlood(): Promise<void> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const junk = new Uint8Array(64).fill(0xfe);
  try {
    while (running) {
      for (let i = 0; i < UDP_FLOOD_BURST && running; i++) {
        await socket.send(junk, udpTarget);
        udpHostile.flood++;
      }
      await sleep(1000);
    }
  } finally {
    socket.close();
  }
}

/** Sends a valid request and closes its socket at once: the reply goes to a
 * closed port (ICMP port unreachable). 20 a second per client. */
async function udpVanish(): Promise<void> {
  while (running) {
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      await socket.send(encoder.encode("gone before the reply\n"), udpTarget);
      udpHostile.vanish++;
    } finally {
      socket.close();
    }
    await sleep(50);
  }
}

// --- handlers that never await their writes -------------------------------
const careless = { answered: 0, wrong: 0, missing: 0, resets: 0, resetBytes: 0 };

/** Request/reply on the careless server, checking every reply. */
async function carelessWellBehaved(id: number): Promise<void> {
  let seq = 0;
  while (running) {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname: "127.0.0.1", port: carelessPort });
    } catch {
      careless.missing++;
      await sleep(50);
      continue;
    }
    const rfile = new BufferedReader(conn);
    try {
      for (let n = 20 + rand(40); n > 0 && running; n--) {
        const request = `careless ${id} request ${seq++}\n`;
        await conn.write(encoder.encode(request));
        const reply = decoder.decode(await rfile.readline());
        if (reply === "") {
          careless.missing++;
          break;
        }
        if (reply === `ok ${request}`) careless.answered++;
        else careless.wrong++;
        await sleep(rand(40));
      }
    } catch {
      careless.missing++;
    } finally {
      conn.close();
    }
  }
}

/** Asks the careless server for 256 KiB, reads part of it, and resets the
 * connection (RST) in the middle of the reply. */
function resetMidReply(): Promise<void> {
  careless.resets++;
  const { promise, resolve } = Promise.withResolvers<void>();
  const stopAt = 1024 + rand(128 * 1024);
  let got = 0;
  const socket = net.connect(carelessPort, "127.0.0.1", () => socket.write("big\n"));
  socket.on("data", (chunk: Uint8Array) => {
    got += chunk.length;
    if (got >= stopAt && !socket.destroyed) {
      careless.resetBytes += got;
      socket.resetAndDestroy();
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => resolve());
  return promise;
}

// --- bursts of resets -------------------------------------------------------
const bursts = { count: 0, resets: 0, windows: [] as Array<[number, number]> };

/** `BURST` connections reset as soon as they connect, all at once; many
 * are reset before the server accepts them. */
async function resetBurst(): Promise<void> {
  const start = performance.now();
  await Promise.all(Array.from({ length: BURST }, () =>
    new Promise<void>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.resetAndDestroy());
      socket.on("error", () => {});
      socket.on("close", () => resolve());
    })));
  bursts.count++;
  bursts.resets += BURST;
  // requests begun while the burst lasts, and 100 ms after, count as during it
  bursts.windows.push([start, performance.now() + 100]);
}

async function burstLoop(): Promise<void> {
  await sleep(BURST_EVERY_MS / 2);
  while (running) {
    await resetBurst();
    await sleep(BURST_EVERY_MS);
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

// --- repeated graceful stops -------------------------------------------------
const gracefulRounds: Array<{ written: number; received: number; cut: boolean; ms: number }> = [];
const GRACEFUL_REQUEST = encoder.encode("a pipelined request to the graceful server\n");

/** A client that pipelines requests as fast as the server takes them and
 * reads slowly (16 KiB every 5 ms) to EOF; resolves to what it received. */
async function slowPipelining(gracefulPort: number): Promise<{ bytes: number; cut: boolean }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: gracefulPort });
  const batch = new Uint8Array(GRACEFUL_REQUEST.length * 4096);
  for (let i = 0; i < 4096; i++) batch.set(GRACEFUL_REQUEST, i * GRACEFUL_REQUEST.length);
  let sending = true;
  const sender = (async () => {
    try {
      while (sending) {
        for (let n = 0; n < batch.length;) n += await conn.write(batch.subarray(n));
      }
    } catch {
      // the server shut its side, then closed: the end of the round
    }
  })();
  let bytes = 0;
  let tail = 0; // bytes after the last newline received
  const buffer = new Uint8Array(16 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      bytes += n;
      const last = buffer.subarray(0, n).lastIndexOf(0x0a);
      tail = last === -1 ? tail + n : n - last - 1;
      await sleep(5);
    }
  } catch {
    // a reset: counted by the byte totals
  } finally {
    sending = false;
    conn.close();
    await sender;
  }
  return { bytes, cut: tail !== 0 };
}

async function gracefulLoop(): Promise<void> {
  let from = 0;
  while (running) {
    const current = await serverEvent("graceful", from);
    if (current === null) return;
    from = events.indexOf(current) + 1;
    const client = slowPipelining(current.graceful);
    await sleep(700); // the kernel's buffers fill: the slow reader is behind
    await serverStdin.write(encoder.encode("stop-graceful\n"));
    const stopped = await serverEvent("gracefulStopped", from);
    if (stopped === null) return;
    from = Math.max(from, events.indexOf(stopped) + 1);
    const { bytes, cut } = await client;
    gracefulRounds.push({
      written: stopped.gracefulStopped.written,
      received: bytes,
      cut,
      ms: stopped.gracefulStopped.ms,
    });
    await sleep(GRACEFUL_EVERY_MS - 700);
  }
}

// --- the run ---------------------------------------------------------------
console.log(
  `soak: ${SECONDS} s, ${GOOD} well-behaved clients, hostile: ${
    Object.entries(HOSTILE).map(([k, v]) => `${v} ${k}`).join(", ")
  }; server maxConnections ${MAX_CONNECTIONS}, line limit 4096, timeouts: read 2 s, idle 3 s, request 2 s, write 2 s
UDP: ${UDP_GOOD} well-behaved clients (resend after ${UDP_WAIT_MS} ms, give up after ${UDP_MAX_SENDS} sends), hostile: ${
    Object.entries(UDP_HOSTILE).map(([k, v]) => `${v} ${k}`).join(", ")
  } (flood bursts of ${UDP_FLOOD_BURST}, 1 s apart); server: ThreadingUDPServer, maxConnections 1024
unawaited writes: ${CARELESS_GOOD} well-behaved clients, ${CARELESS_RESET} resetting in the middle of a 256 KiB reply; reset bursts: ${BURST} every ${BURST_EVERY_MS} ms; graceful stops (graceMs 300, lingerMs 10000) every ${GRACEFUL_EVERY_MS} ms under a slow pipelining reader`,
);
const started = performance.now();
const goodDone = Promise.all([
  ...Array.from({ length: GOOD }, (_, i) => wellBehaved(i)),
  ...Array.from({ length: UDP_GOOD }, (_, i) => udpWellBehaved(i)),
  ...Array.from({ length: CARELESS_GOOD }, (_, i) => carelessWellBehaved(i)),
  gracefulLoop(),
]);
const hostileDone = Promise.all([
  keep(HOSTILE.reset, resetMidWrite),
  keep(HOSTILE.flood, flood),
  keep(HOSTILE.slowloris, slowloris),
  keep(HOSTILE.vanish, vanish),
  keep(UDP_HOSTILE.garbage, udpGarbage),
  keep(UDP_HOSTILE.flood, udpFlood),
  keep(UDP_HOSTILE.vanish, udpVanish),
  keep(CARELESS_RESET, resetMidReply),
  burstLoop(),
]);
const crashWatch = serverStatus.then(() => {
  if (running) crashes++;
});

let peakRss = 0;
for (let t = 0; t < SECONDS && !serverExited; t++) {
  await sleep(1000);
  peakRss = Math.max(peakRss, procStatus("VmRSS"));
  if ((t + 1) % 10 === 0) {
    console.log(
      `  ${
        t + 1
      } s: ${good.answered} answered, UDP ${udp.answered} answered (${udp.resends} resends), rss ${
        (procStatus("VmRSS") / 2 ** 20).toFixed(1)
      } MiB, fds ${descriptors()}`,
    );
  }
}
running = false;
// every client finishes what it is doing: a well-behaved one its request,
// a hostile one until the server drops it (timeouts: at most ~3 s)
const finish = await Promise.race([
  Promise.all([goodDone, hostileDone]).then(() => "done"),
  sleep(15_000).then(() => "timeout"),
]);
const elapsed = (performance.now() - started) / 1000;
if (finish === "timeout") {
  good.missing += good.outstanding;
  udp.missing += udp.outstanding;
}
const endFds = serverExited ? NaN : descriptors();
const kernelDrops = serverExited ? NaN : udpKernelDrops();
const peakHwm = serverExited ? NaN : procStatus("VmHWM");
clearInterval(sampler);

await serverStdin.close().catch(() => {});
server.kill("SIGTERM");
const serverStats = await serverEvent("requests");
const status = await serverStatus;
await crashWatch;
if (!status.success) crashes += serverStats ? 0 : 1;
if (serverStats?.serveForeverFailed) crashes++;
const stderr = await serverStderr;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const handleErrors = serverStats?.handleError.length ?? NaN;
console.log(`
requests answered (well-behaved)   ${good.answered}  (${
  (good.answered / elapsed).toFixed(0)
}/s over ${elapsed.toFixed(1)} s, ${good.connections} connections)
replies wrong                      ${good.wrong}
replies missing                    ${good.missing}
server crashes                     ${crashes}
handleError() calls                ${handleErrors}
server requests / connections      ${serverStats?.requests} / ${serverStats?.connections}
drops (handleDrop), by reason      ${JSON.stringify(serverStats?.drops)}
hostile clients run                ${JSON.stringify(hostile)}
UDP requests answered              ${udp.answered}  (${
  (udp.answered / elapsed).toFixed(0)
}/s, ${UDP_GOOD} clients)
UDP requests resent                ${udp.retried} needed a resend, ${udp.resends} resends in all, at most ${udp.maxSends} sends for one; ${udp.late} late answers to an earlier send
UDP replies wrong                  ${udp.wrong}
UDP replies missing                ${udp.missing}  (no answer after ${UDP_MAX_SENDS} sends)
UDP hostile datagrams sent         ${JSON.stringify(udpHostile)}
UDP server: answered / refused     ${serverStats?.udp.requests} / ${
  JSON.stringify(serverStats?.udp.refused)
}
UDP server drops (handleDrop)      ${JSON.stringify(serverStats?.udp.drops)}
UDP server peak in flight          ${serverStats?.udp.peakActive}
UDP dropped by the kernel          ${kernelDrops}  (server socket's receive buffer full: /proc/net/udp)
server RSS                         baseline ${mib(baseline.rss)}, peak ${
  mib(Math.max(peakHwm, peakRss))
} (VmHWM)
server heap peaks                  total ${mib(serverStats?.memory.heapTotal)}, used ${
  mib(serverStats?.memory.heapUsed)
}, external ${mib(serverStats?.memory.external)}
server after the load and a GC     heap used ${mib(serverStats?.afterGc?.heapUsed)}, external ${
  mib(serverStats?.afterGc?.external)
}, rss ${mib(serverStats?.afterGc?.rss)}
server open descriptors            baseline ${baseline.fds}, peak ${peakFds}, after the load ${endFds}; maxConnections ${MAX_CONNECTIONS} (the main server's; the unawaited-writes and graceful servers have no limit)
server peak requests in flight     ${serverStats?.peakActive}
server stderr                      ${stderr.trim() === "" ? "(empty)" : "\n" + stderr.trim()}`);

// the well-behaved clients' latency, overall and while a reset burst lasted
const all: number[] = [];
const during: number[] = [];
for (let i = 0; i < latencies.length; i += 2) {
  const [began, ms] = [latencies[i], latencies[i + 1]];
  all.push(ms);
  if (bursts.windows.some(([from, to]) => began >= from && began <= to)) during.push(ms);
}
all.sort((a, b) => a - b);
during.sort((a, b) => a - b);
const p99During = percentile(during, 0.99);
const gracefulLost = gracefulRounds.filter((round) => round.received !== round.written).length;
const gracefulCut = gracefulRounds.filter((round) => round.cut).length;
console.log(`
unawaited writes: answered         ${careless.answered}  (${CARELESS_GOOD} clients; server: ${serverStats?.careless.requests} line replies, ${serverStats?.careless.big} 256 KiB replies, none awaited)
unawaited writes: wrong / missing  ${careless.wrong} / ${careless.missing}
unawaited writes: resets mid-reply ${careless.resets}  (${
  (careless.resetBytes / 2 ** 20).toFixed(1)
} MiB read before the resets)
unawaited writes: drops, errors    ${
  JSON.stringify(serverStats?.careless.drops)
}, handleError ${serverStats?.careless.handleError}
reset bursts                       ${bursts.count} bursts of ${BURST} (${bursts.resets} resets); accepts that failed, retried at once: ${
  JSON.stringify(serverStats?.acceptFailures)
}
well-behaved latency, all          p50 ${percentile(all, 0.5).toFixed(1)} ms, p99 ${
  percentile(all, 0.99).toFixed(1)
} ms, max ${all.at(-1)?.toFixed(1)} ms (${all.length} requests)
well-behaved latency, in bursts    p50 ${percentile(during, 0.5).toFixed(1)} ms, p99 ${
  p99During.toFixed(1)
} ms, max ${during.at(-1)?.toFixed(1)} ms (${during.length} requests); goal p99 <= 100 ms: ${
  p99During <= 100 ? "met" : "MISSED"
}
graceful stops                     ${gracefulRounds.length} rounds; bytes written before the deadline / received: ${
  gracefulRounds.map((round) => `${round.written}/${round.received}`).join(", ")
}
graceful stops: lost, cut          ${gracefulLost} rounds lost bytes, ${gracefulCut} ended in a cut reply; serverClose() took ${
  gracefulRounds.map((round) => round.ms).join(", ")
} ms (at most 300 + 10000)`);
if (serverStats?.handleError.length) console.log(serverStats.handleError.join("\n"));

const ok = good.wrong === 0 && good.missing === 0 && udp.wrong === 0 && udp.missing === 0 &&
  crashes === 0 && handleErrors === 0 && careless.wrong === 0 && careless.missing === 0 &&
  gracefulRounds.length > 0 && gracefulLost === 0 && gracefulCut === 0;
console.log(ok ? "\nsoak: PASS" : "\nsoak: FAIL");
Deno.exit(ok ? 0 : 1);
