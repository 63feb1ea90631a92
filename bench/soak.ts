/**
 * Fault-injection soak, bounded to a minute: hundreds of well-behaved
 * clients doing request/reply against `bench/soak_server.ts` (in its own
 * process) beside hostile ones — resets in the middle of a request, floods
 * without a newline, slowloris, connect-and-vanish — then a graceful stop.
 * It prints requests answered, wrong or missing replies for the
 * well-behaved clients (must be 0), server crashes (must be 0), what reached
 * `handleError()` (must be nothing), the drops by reason, and the server's
 * peak RSS and open descriptors. Exits non-zero when a "must" fails.
 *
 *     deno task soak                      # 30 s of load
 *     deno run -A bench/soak.ts --seconds 45 --good 300 --hostile 1 --max-connections 384 \
 *       --server-heap-mb 32
 *
 * `-A` because Deno lists `/proc/<pid>/fd` only with every permission.
 * Datagram faults are not covered yet (no UDP server on this branch).
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

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const rand = (n: number) => Math.floor(Math.random() * n);

// --- the server, in its own process ---------------------------------------
const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
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
const { port } = JSON.parse((await serverLine())!);
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

// --- the run ---------------------------------------------------------------
console.log(
  `soak: ${SECONDS} s, ${GOOD} well-behaved clients, hostile: ${
    Object.entries(HOSTILE).map(([k, v]) => `${v} ${k}`).join(", ")
  }; server maxConnections ${MAX_CONNECTIONS}, line limit 4096, timeouts: read 2 s, idle 3 s, request 2 s`,
);
const started = performance.now();
const goodDone = Promise.all(Array.from({ length: GOOD }, (_, i) => wellBehaved(i)));
const hostileDone = Promise.all([
  keep(HOSTILE.reset, resetMidWrite),
  keep(HOSTILE.flood, flood),
  keep(HOSTILE.slowloris, slowloris),
  keep(HOSTILE.vanish, vanish),
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
      `  ${t + 1} s: ${good.answered} answered, rss ${
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
if (finish === "timeout") good.missing += good.outstanding;
const endFds = serverExited ? NaN : descriptors();
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

const ok = good.wrong === 0 && good.missing === 0 && crashes === 0 && handleErrors === 0;
console.log(ok ? "\nsoak: PASS" : "\nsoak: FAIL");
Deno.exit(ok ? 0 : 1);
