/**
 * Fault-injection soak, bounded to a minute: hundreds of well-behaved
 * clients doing request/reply against `bench/soak_server.ts` (in its own
 * process) beside hostile ones — resets in the middle of a request, floods
 * without a newline, slowloris, connect-and-vanish; and over UDP,
 * well-behaved clients that resend after 200 ms without an answer beside
 * garbage datagrams (empty, oversized, random, invalid UTF-8), bursts of a
 * datagram flood, and clients that vanish before their reply — then a
 * graceful stop. It prints requests answered, wrong or missing replies for
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
  stdout: "piped",
  stderr: "piped",
}).spawn();
const serverLines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
const serverStderr = new Response(server.stderr).text();
let pendingOut = "";
async function serverLine(): Promise<string | null> {
  while (!pendingOut.includes("\n")) {
    const { value, done } = await serverLines.read();
    if (done) return null;
    pendingOut += value;
  }
  const i = pendingOut.indexOf("\n");
  const line = pendingOut.slice(0, i);
  pendingOut = pendingOut.slice(i + 1);
  return line;
}
const { port, udpPort } = JSON.parse((await serverLine())!);
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
        try {
          await conn.write(encoder.encode(request));
          reply = decoder.decode(await rfile.readline());
        } finally {
          good.outstanding--;
        }
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

// --- the run ---------------------------------------------------------------
console.log(
  `soak: ${SECONDS} s, ${GOOD} well-behaved clients, hostile: ${
    Object.entries(HOSTILE).map(([k, v]) => `${v} ${k}`).join(", ")
  }; server maxConnections ${MAX_CONNECTIONS}, line limit 4096, timeouts: read 2 s, idle 3 s, request 2 s, write 2 s
UDP: ${UDP_GOOD} well-behaved clients (resend after ${UDP_WAIT_MS} ms, give up after ${UDP_MAX_SENDS} sends), hostile: ${
    Object.entries(UDP_HOSTILE).map(([k, v]) => `${v} ${k}`).join(", ")
  } (flood bursts of ${UDP_FLOOD_BURST}, 1 s apart); server: ThreadingUDPServer, maxConnections 1024`,
);
const started = performance.now();
const goodDone = Promise.all([
  ...Array.from({ length: GOOD }, (_, i) => wellBehaved(i)),
  ...Array.from({ length: UDP_GOOD }, (_, i) => udpWellBehaved(i)),
]);
const hostileDone = Promise.all([
  keep(HOSTILE.reset, resetMidWrite),
  keep(HOSTILE.flood, flood),
  keep(HOSTILE.slowloris, slowloris),
  keep(HOSTILE.vanish, vanish),
  keep(UDP_HOSTILE.garbage, udpGarbage),
  keep(UDP_HOSTILE.flood, udpFlood),
  keep(UDP_HOSTILE.vanish, udpVanish),
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

server.kill("SIGTERM");
const statsLine = await serverLine();
const status = await serverStatus;
await crashWatch;
const serverStats = statsLine ? JSON.parse(statsLine) : null;
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
server open descriptors            baseline ${baseline.fds}, peak ${peakFds}, after the load ${endFds}; maxConnections ${MAX_CONNECTIONS}
server peak requests in flight     ${serverStats?.peakActive}
server stderr                      ${stderr.trim() === "" ? "(empty)" : "\n" + stderr.trim()}`);
if (serverStats?.handleError.length) console.log(serverStats.handleError.join("\n"));

const ok = good.wrong === 0 && good.missing === 0 && udp.wrong === 0 && udp.missing === 0 &&
  crashes === 0 && handleErrors === 0;
console.log(ok ? "\nsoak: PASS" : "\nsoak: FAIL");
Deno.exit(ok ? 0 : 1);
