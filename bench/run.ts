/**
 * `deno task bench`: starts every benchmark server in its own process, drives
 * each with the same load client, and writes `bench/results/latest.md`,
 * `latest.json` and `latest.svg`.
 *
 * Environment:
 * - `ECHO_LOAD`: path of a built echo-load binary
 *   (`cc -O2 -o /tmp/echo-load ../shared/tools/echo-load.c`); without it the
 *   load comes from `bench/load_client.ts`, a slower Deno client.
 * - `BENCH_SECONDS` (default 3): length of every measured run.
 * - `BENCH_WARMUP` (default 0.5): seconds of load before each measured run,
 *   so that JIT compilers have warmed up; not counted.
 * - `BENCH_ROUNDS` (default 1): how many times to run everything; with more
 *   than one, tables show the median and the spread (min–max).
 * - `BENCH_ONLY`: comma-separated workload ids to run (default: all).
 * - `BENCH_SERVERS`: comma-separated server ids to run (default: all).
 * - `BENCH_IDLE_CONNS` (default 10000): connections the idle workload holds.
 * - `BENCH_IDLE_SECONDS` (default 30): how long it may take to open them;
 *   RSS growth is scaled to 10,000 from however many it holds.
 * - `BENCH_OUT` (default `bench/results`): where the results go.
 *
 * Adding a server is one entry in {@linkcode SERVERS}; adding a workload, one
 * entry in {@linkcode WORKLOADS}.
 *
 * @module
 */
import { renderChart } from "./chart.ts";
import {
  type Figure,
  type Measurement,
  renderMarkdown,
  type Report,
  type ServerInfo,
  summarize,
  type Target,
  type WorkloadInfo,
} from "./report.ts";

const BENCH = new URL(".", import.meta.url).pathname;
const env = (name: string) => Deno.env.get(name);
const num = (name: string, fallback: number) => {
  const v = env(name);
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    throw new RangeError(`${name} must be a positive number, got "${v}"`);
  }
  return n;
};

const SECONDS = num("BENCH_SECONDS", 3);
const WARMUP = num("BENCH_WARMUP", 0.5);
const ROUNDS = Math.floor(num("BENCH_ROUNDS", 1));
const IDLE_CONNS = Math.floor(num("BENCH_IDLE_CONNS", 10_000));
const IDLE_SECONDS = num("BENCH_IDLE_SECONDS", 30);
const list = (name: string) => env(name)?.split(",").map((s) => s.trim()).filter(Boolean);
const ONLY = list("BENCH_ONLY");
const ONLY_SERVERS = list("BENCH_SERVERS");
const OUT = env("BENCH_OUT") ?? `${BENCH}results`;
const ECHO_LOAD = env("ECHO_LOAD");
const DENO_FLAGS = [
  "--quiet",
  "--unstable-net",
  "--allow-net",
  "--allow-read",
  "--allow-write=/tmp",
];

/** The workloads, in report order. `reference` is the raw Deno server whose
 * figure every ratio in the table divides by. */
export const WORKLOADS: WorkloadInfo[] = [
  {
    id: "line-1",
    title: "Persistent 64-byte line echo, 1 connection",
    transport: "tcp",
    mode: "persist",
    conns: 1,
    size: 64,
    reference: "deno-tcp-echo",
  },
  {
    id: "line-50",
    title: "Persistent 64-byte line echo, 50 connections",
    transport: "tcp",
    mode: "persist",
    conns: 50,
    size: 64,
    reference: "deno-tcp-echo",
  },
  {
    id: "line-64k",
    title: "Persistent 64 KiB line echo, 10 connections",
    transport: "tcp",
    mode: "persist",
    conns: 10,
    size: 65536,
    reference: "deno-tcp-echo",
  },
  {
    id: "oneshot",
    title: "Connection per request, the seed's upper-casing handler, 50 clients",
    transport: "tcp",
    mode: "connect",
    conns: 50,
    size: 64,
    upper: true,
    reference: "deno-tcp-oneshot",
  },
  {
    id: "udp",
    title: "UDP datagram echo, 64 bytes, 50 client sockets",
    transport: "udp",
    mode: "udp",
    conns: 50,
    size: 64,
    reference: "deno-udp-echo",
  },
  {
    id: "unix-50",
    title: "Unix stream socket, persistent 64-byte line echo, 50 connections",
    transport: "unix",
    mode: "persist",
    conns: 50,
    size: 64,
    reference: "deno-unix-echo",
  },
  {
    id: "unixdgram",
    title: "Unix datagram echo, 64 bytes, 50 client sockets",
    transport: "unixdgram",
    mode: "udp",
    conns: 50,
    size: 64,
    reference: "deno-unixpacket-echo",
  },
  {
    id: "idle",
    title: `Idle connections held: server RSS with ${
      IDLE_CONNS.toLocaleString("en")
    } connections open`,
    transport: "tcp",
    mode: "idle",
    conns: IDLE_CONNS,
    size: 64,
    reference: "deno-tcp-echo",
  },
];

const LINE = ["line-1", "line-50", "line-64k", "idle"];

/** Makes the entry helpers below: `(id, name, mode, serves)` → a server
 * whose command is `command(mode)`. */
function kind(impl: ServerInfo["impl"], command: (mode: string) => string[]) {
  return (id: string, name: string, mode: string, serves: string[]): ServerInfo => ({
    id,
    name,
    impl,
    serves,
    command: command(mode),
  });
}
const denoScript = (file: string) => (mode: string) => [
  Deno.execPath(),
  "run",
  ...DENO_FLAGS,
  `${BENCH}servers/${file}`,
  mode,
];
const lib = kind("lib", denoScript("deno_lib.ts"));
const raw = kind("deno", denoScript("deno_raw.ts"));
const node = kind("node", (mode) => ["node", `${BENCH}servers/node_net.mjs`, mode]);
const python = kind("python", (mode) => ["python3", `${BENCH}servers/py_socketserver.py`, mode]);

// deno-fmt-ignore
/** Every server: one line each. `serves` lists the workloads it runs. */
export const SERVERS: ServerInfo[] = [
  lib("lib-threading-line", "socketserver ThreadingTCPServer + StreamRequestHandler", "threading-line", LINE),
  lib("lib-threading-oneshot", "socketserver ThreadingTCPServer + seed handler", "threading-oneshot", ["oneshot"]),
  lib("lib-tcp-oneshot", "socketserver TCPServer + seed handler", "tcp-oneshot", ["oneshot"]),
  lib("lib-udp", "socketserver UDPServer + DatagramRequestHandler", "udp", ["udp"]),
  lib("lib-unix-line", "socketserver ThreadingMixIn(UnixStreamServer) + StreamRequestHandler", "unix-line", ["unix-50"]),
  lib("lib-unixdgram", "socketserver UnixDatagramServer + DatagramRequestHandler", "unixdgram", ["unixdgram"]),
  raw("deno-tcp-echo", "raw Deno.listen echo loop", "tcp-echo", LINE),
  raw("deno-tcp-oneshot", "raw Deno.listen one-shot", "tcp-oneshot", ["oneshot"]),
  raw("deno-tcp-oneshot-serial", "raw Deno.listen one-shot, one at a time", "tcp-oneshot-serial", ["oneshot"]),
  raw("deno-udp-echo", "raw Deno.listenDatagram loop", "udp-echo", ["udp"]),
  raw("deno-unix-echo", "raw Deno.listen (unix) echo loop", "unix-echo", ["unix-50"]),
  raw("deno-unixpacket-echo", "raw Deno.listenDatagram (unixpacket) loop", "unixpacket-echo", ["unixdgram"]),
  node("node-tcp-echo", "Node net (socket.pipe(socket))", "tcp-echo", LINE),
  node("node-tcp-oneshot", "Node net one-shot", "tcp-oneshot", ["oneshot"]),
  node("node-udp-echo", "Node dgram", "udp-echo", ["udp"]),
  node("node-unix-echo", "Node net (unix)", "unix-echo", ["unix-50"]),
  python("py-threading-line", "CPython ThreadingTCPServer + StreamRequestHandler", "threading-line", LINE),
  python("py-asyncio-line", "CPython asyncio streams", "asyncio-line", ["line-1", "line-50", "line-64k"]),
  python("py-threading-oneshot", "CPython ThreadingTCPServer + seed handler", "threading-oneshot", ["oneshot"]),
  python("py-tcp-oneshot", "CPython TCPServer + seed handler", "tcp-oneshot", ["oneshot"]),
  python("py-udp", "CPython UDPServer + DatagramRequestHandler", "udp", ["udp"]),
  python("py-unix-line", "CPython ThreadingUnixStreamServer + StreamRequestHandler", "unix-line", ["unix-50"]),
  python("py-unixdgram", "CPython UnixDatagramServer + DatagramRequestHandler", "unixdgram", ["unixdgram"]),
];

/** The issue's figures: `server` against `versus` on `workload`, as a ratio
 * of requests/s (RSS for the idle workload, where lower is better). */
// deno-fmt-ignore
export const TARGETS: Target[] = [
  { workload: "line-50", server: "lib-threading-line", versus: "deno-tcp-echo", atLeast: 0.95 },
  { workload: "line-50", server: "lib-threading-line", versus: "node-tcp-echo", atLeast: 1.1 },
  { workload: "line-50", server: "lib-threading-line", versus: "py-threading-line", atLeast: 3 },
  { workload: "oneshot", server: "lib-threading-oneshot", versus: "deno-tcp-oneshot", atLeast: 0.9 },
  { workload: "oneshot", server: "lib-threading-oneshot", versus: "py-threading-oneshot", atLeast: 4 },
  { workload: "oneshot", server: "lib-tcp-oneshot", versus: "py-tcp-oneshot", atLeast: 1 },
  { workload: "line-64k", server: "lib-threading-line", versus: "deno-tcp-echo", atLeast: 0.9 },
  { workload: "udp", server: "lib-udp", versus: "deno-udp-echo", atLeast: 0.9 },
  { workload: "idle", server: "lib-threading-line", versus: "deno-tcp-echo", atMost: 1.3 },
];

// ---------------------------------------------------------------- processes

/** Runs a command, raising the child's descriptor limit to the hard limit
 * first (the idle workload holds 10,000 sockets on each side). */
function spawn(command: string[], stdin: "null" | "piped" = "null"): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', "sh", ...command],
    stdin,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

/** Collects a stream's text, keeping the last few KB, while handing each
 * line to `onLine`. */
function drain(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  const state = { tail: "" };
  const done = (async () => {
    let partial = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      state.tail = (state.tail + chunk).slice(-4000);
      partial += chunk;
      let nl;
      while ((nl = partial.indexOf("\n")) !== -1) {
        onLine(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
    }
    if (partial) onLine(partial);
  })().catch(() => {});
  return { state, done };
}

interface Running {
  child: Deno.ChildProcess;
  pid: number;
  port?: number;
  path?: string;
  stderr: { tail: string };
  done: Promise<unknown>;
}

class Unavailable extends Error {}

async function startServer(server: ServerInfo, path: string | null): Promise<Running> {
  const command = path === null ? server.command : [...server.command, path];
  const child = spawn(command);
  const ready = Promise.withResolvers<{ port?: number; path?: string; pid: number }>();
  const out = drain(child.stdout, (line) => {
    if (line.startsWith("READY ")) ready.resolve(JSON.parse(line.slice(6)));
  });
  const err = drain(child.stderr, () => {});
  const exited = child.status.then((s) => s);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    ready.promise,
    exited,
    new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), 15_000)),
  ]);
  clearTimeout(timer);
  if (result === "timeout" || "code" in result) {
    if (result === "timeout") child.kill("SIGKILL");
    const status = await child.status;
    await err.done;
    const why = err.state.tail.trim().split("\n").slice(-1)[0] ?? "";
    if (status.code === 3) throw new Unavailable(why);
    throw new Error(`${server.id} did not start (exit ${status.code}): ${why}`);
  }
  return {
    child,
    pid: result.pid,
    port: result.port,
    path: result.path,
    stderr: err.state,
    done: Promise.all([out.done, err.done, child.status]),
  };
}

async function stopServer(running: Running): Promise<void> {
  try {
    running.child.kill("SIGTERM");
  } catch {
    // already gone
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stopped = await Promise.race([
    running.child.status.then(() => true),
    new Promise<false>((r) => timer = setTimeout(() => r(false), 3000)),
  ]);
  clearTimeout(timer);
  if (!stopped) {
    try {
      running.child.kill("SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  await running.done;
}

function clientCommand(useEchoLoad: boolean): string[] {
  if (useEchoLoad) return [ECHO_LOAD!];
  return [Deno.execPath(), "run", ...DENO_FLAGS, `${BENCH}load_client.ts`];
}

function clientArgs(w: WorkloadInfo, at: Running, seconds: number, conns = w.conns): string[] {
  const args = at.path !== undefined ? ["-u", at.path] : ["-h", "127.0.0.1", "-p", String(at.port)];
  args.push("-c", String(conns), "-s", String(w.size), "-d", String(seconds), "-m", w.mode);
  if (w.upper) args.push("-U");
  return args;
}

async function runClient(command: string[], seconds: number): Promise<Record<string, number>> {
  const child = spawn(command);
  const out = drain(child.stdout, () => {});
  const err = drain(child.stderr, () => {});
  const timer = setTimeout(() => child.kill("SIGKILL"), (seconds + 20) * 1000);
  await child.status;
  clearTimeout(timer);
  await Promise.all([out.done, err.done]);
  const line = out.state.tail.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`The load client printed no result: ${err.state.tail.trim() || line}`);
  }
}

function rssKb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = status.match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new Error(`No VmRSS for process ${pid}`);
  return Number(m[1]);
}

/** User + system CPU time of a process (all its threads), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- workloads

let socketCount = 0;
function socketPath(w: WorkloadInfo): string | null {
  if (w.transport !== "unix" && w.transport !== "unixdgram") return null;
  const path = `/tmp/socketserver-bench-${Deno.pid}-${socketCount++}.sock`;
  try {
    Deno.removeSync(path);
  } catch {
    // not there
  }
  return path;
}

async function measureLoad(
  w: WorkloadInfo,
  server: ServerInfo,
  useEchoLoad: boolean,
): Promise<Record<string, number>> {
  const path = socketPath(w);
  const running = await startServer(server, path);
  try {
    const client = clientCommand(useEchoLoad);
    await runClient([...client, ...clientArgs(w, running, WARMUP)], WARMUP);
    const cpu0 = cpuSeconds(running.pid);
    const result = await runClient([...client, ...clientArgs(w, running, SECONDS)], SECONDS);
    const cpu = cpuSeconds(running.pid) - cpu0;
    result.server_cpu_s = Number(cpu.toFixed(2));
    result.cpu_us_per_req = result.requests > 0
      ? Number((cpu * 1e6 / result.requests).toFixed(2))
      : 0;
    if (result.requests === 0) {
      throw new Error(
        `no request answered (${result.errors} errors); server said: ${
          running.stderr.tail.trim().split("\n").slice(-1)[0] ?? ""
        }`,
      );
    }
    return result;
  } finally {
    await stopServer(running);
    if (path) await Deno.remove(path).catch(() => {});
  }
}

async function measureIdle(w: WorkloadInfo, server: ServerInfo): Promise<Record<string, number>> {
  const running = await startServer(server, null);
  let client: Deno.ChildProcess | null = null;
  try {
    await sleep(500);
    const base = rssKb(running.pid);
    client = spawn([...clientCommand(false), ...clientArgs(w, running, IDLE_SECONDS)]);
    const first = Promise.withResolvers<string>();
    const out = drain(client.stdout, (line) => first.resolve(line));
    const err = drain(client.stderr, () => {});
    let timer: ReturnType<typeof setTimeout> | undefined;
    const line = await Promise.race([
      first.promise,
      client.status.then(() => ""),
      new Promise<string>((r) => timer = setTimeout(() => r(""), (IDLE_SECONDS + 30) * 1000)),
    ]);
    clearTimeout(timer);
    if (!line) throw new Error(`The idle client printed no result: ${err.state.tail.trim()}`);
    const result = JSON.parse(line);
    await sleep(1000); // let the server settle before reading its memory
    const rss = rssKb(running.pid);
    client.kill("SIGKILL");
    await Promise.all([client.status, out.done, err.done]);
    client = null;
    return {
      ...result,
      rss_base_kb: base,
      rss_kb: rss,
      per_10k_kb: result.held > 0 ? Math.round((rss - base) * 10_000 / result.held) : 0,
    };
  } finally {
    if (client !== null) {
      client.kill("SIGKILL");
      await client.status;
    }
    await stopServer(running);
  }
}

// ---------------------------------------------------------------- main

async function has(command: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return success;
  } catch {
    return false;
  }
}

async function version(command: string): Promise<string> {
  try {
    const { stdout } = await new Deno.Command(command, { args: ["--version"], stderr: "piped" })
      .output();
    return new TextDecoder().decode(stdout).trim().split("\n")[0];
  } catch {
    return "not installed";
  }
}

function machine(): Report["machine"] {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown CPU";
  const cores = cpuinfo.match(/^processor\s*:/gm)?.length ?? 0;
  return {
    cpu: model,
    cores,
    loadavg: Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" "),
  };
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Writes the markdown, JSON and SVG for a report. */
async function writeResults(report: Report): Promise<string> {
  const figures: Figure[] = summarize(report);
  const markdown = renderMarkdown(report, figures);
  await Deno.mkdir(OUT, { recursive: true });
  await Deno.writeTextFile(`${OUT}/latest.md`, markdown);
  await Deno.writeTextFile(
    `${OUT}/latest.json`,
    JSON.stringify({ ...report, figures }, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${OUT}/latest.svg`, renderChart(report, figures));
  return markdown;
}

if (import.meta.main && Deno.args[0] === "--render") {
  // Redraws the table and chart from a JSON report, without measuring.
  const path = Deno.args[1] ?? `${OUT}/latest.json`;
  const { figures: _, ...report } = JSON.parse(await Deno.readTextFile(path));
  await writeResults(report as Report);
  console.log(`Rendered ${OUT}/latest.md and latest.svg from ${path}`);
} else if (import.meta.main) {
  const useEchoLoad = ECHO_LOAD !== undefined && ECHO_LOAD !== "" && isFile(ECHO_LOAD);
  if (ECHO_LOAD && !useEchoLoad) {
    console.error(`ECHO_LOAD="${ECHO_LOAD}" is not a file: using bench/load_client.ts`);
  }
  const available = {
    lib: true,
    deno: true,
    node: await has("node"),
    python: await has("python3"),
  };
  const workloads = WORKLOADS.filter((w) => !ONLY || ONLY.includes(w.id));
  if (ONLY) {
    const unknown = ONLY.filter((id) => !WORKLOADS.some((w) => w.id === id));
    if (unknown.length) {
      throw new Error(
        `Unknown workload ${unknown.map((u) => `"${u}"`).join(", ")} in BENCH_ONLY: use ${
          WORKLOADS.map((w) => w.id).join(", ")
        }`,
      );
    }
  }
  const servers = SERVERS.filter((s) => !ONLY_SERVERS || ONLY_SERVERS.includes(s.id));
  const loadClient = useEchoLoad
    ? "echo-load (C, epoll, one thread)"
    : "bench/load_client.ts (Deno)";
  const report: Report = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      node: await version("node"),
      python: await version("python3"),
    },
    seconds: SECONDS,
    warmup: WARMUP,
    rounds: ROUNDS,
    workloads,
    servers,
    targets: TARGETS,
    clients: Object.fromEntries(
      workloads.map((w) => [w.id, w.mode === "idle" ? "bench/load_client.ts (Deno)" : loadClient]),
    ),
    measurements: [],
  };
  console.log(
    `Load client: ${loadClient}; ${SECONDS} s per run (+${WARMUP} s warm-up), ${ROUNDS} round(s)`,
  );
  const unavailable = new Map<string, string>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const w of workloads) {
      for (const server of servers.filter((s) => s.serves.includes(w.id))) {
        const tag = `[${round}/${ROUNDS}] ${w.id.padEnd(9)} ${server.id.padEnd(22)}`;
        const m: Measurement = { round, workload: w.id, server: server.id };
        if (!available[server.impl]) {
          m.skipped = `${server.impl === "node" ? "node" : "python3"} is not installed`;
        } else if (unavailable.has(server.id)) {
          m.skipped = unavailable.get(server.id);
        } else {
          try {
            m.result = w.mode === "idle"
              ? await measureIdle(w, server)
              : await measureLoad(w, server, useEchoLoad);
          } catch (error) {
            if (error instanceof Unavailable) {
              m.skipped = error.message;
              unavailable.set(server.id, error.message);
            } else {
              m.error = error instanceof Error ? error.message : String(error);
            }
          }
        }
        report.measurements.push(m);
        const r = m.result;
        console.log(
          `${tag} ${
            r
              ? w.mode === "idle"
                ? `${r.held} held, RSS ${(r.rss_kb / 1024).toFixed(1)} MiB (+${
                  (r.per_10k_kb / 1024).toFixed(1)
                } MiB per 10k)`
                : `${r.rps} req/s, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs, ${r.cpu_us_per_req} µs CPU/req${
                  r.errors ? `, ${r.errors} errors` : ""
                }`
              : m.skipped
              ? `n/a: ${m.skipped}`
              : `failed: ${m.error}`
          }`,
        );
      }
    }
  }
  report.machine.loadavgAfter = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(
    " ",
  );
  const markdown = await writeResults(report);
  console.log("\n" + markdown);
  console.log(`Written: ${OUT}/latest.md, latest.json, latest.svg`);
}
