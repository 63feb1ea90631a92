/**
 * `deno task bench`: the whole field — C epoll, Bun, Go, raw Deno, Node, this
 * library, CPython socketserver and asyncio — on every workload, each server
 * in its own process, all driven by the same closed-loop load generator
 * (`bench/loadgen/loadgen.c`, built on first use). Writes
 * `bench/results/latest.md`, `latest.json` and `latest.svg`, and, after a
 * complete run, the figures block of `bench/README.md`.
 *
 * Environment:
 * - `BENCH_ROUNDS` (default 5): rounds; every round runs every server on
 *   every workload, the servers' order rotated from round to round; figures
 *   are medians, ratios are taken within a round.
 * - `BENCH_SECONDS` (default 3): length of every measured window.
 * - `BENCH_WARMUP` (default 0.5): seconds of load before each window, on
 *   the same connections, not counted.
 * - `BENCH_ONLY`: comma-separated workload ids to run (default: all).
 * - `BENCH_SERVERS`: comma-separated server ids, or implementations (`c`,
 *   `bun`, `go`, `deno`, `node`, `lib`, `python`, `asyncio`), to run.
 * - `BENCH_IDLE_CONNS` (default 10000): connections the idle workload holds.
 * - `BENCH_IDLE_SECONDS` (default 10): how long it may take to open them
 *   (CPython's ThreadingTCPServer, with its backlog of 5, needs about that);
 *   RSS growth is scaled to 10,000 from however many it holds.
 * - `BENCH_OUT` (default `bench/results`): where the results go.
 * - `BENCH_README` (default: only after a complete run with `BENCH_OUT`
 *   unset): `1` or `0` to force or prevent rewriting bench/README.md's block.
 *
 * `deno run -A bench/run.ts --render [report.json]` redraws the results and
 * the README block from a JSON report without measuring; `--plan` prints
 * how many runs the settings make and how long they should take.
 *
 * Adding a server is one entry in {@linkcode SERVERS}; adding a workload, one
 * entry in {@linkcode WORKLOADS}.
 *
 * @module
 */
import { build, BUILD_DIR, BuildError, loadgen, version } from "./build.ts";
import { renderChart } from "./chart.ts";
import {
  type Figure,
  type Impl,
  IMPLS,
  type Measurement,
  METHOD,
  renderMarkdown,
  renderReadmeBlock,
  replaceReadmeBlock,
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
const ROUNDS = Math.floor(num("BENCH_ROUNDS", 5));
const IDLE_CONNS = Math.floor(num("BENCH_IDLE_CONNS", 10_000));
const IDLE_SECONDS = num("BENCH_IDLE_SECONDS", 10);
const list = (name: string) => env(name)?.split(",").map((s) => s.trim()).filter(Boolean);
const ONLY = list("BENCH_ONLY");
const ONLY_SERVERS = list("BENCH_SERVERS");
const OUT = env("BENCH_OUT") ?? `${BENCH}results`;
const README = `${BENCH}README.md`;
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
    short: "line echo 64 B, 1 connection",
    transport: "tcp",
    mode: "persist",
    conns: 1,
    size: 64,
    reference: "deno-tcp-echo",
  },
  {
    id: "line-50",
    title: "Persistent 64-byte line echo, 50 connections",
    short: "line echo 64 B, 50 connections",
    transport: "tcp",
    mode: "persist",
    conns: 50,
    size: 64,
    reference: "deno-tcp-echo",
  },
  {
    id: "line-64k",
    title: "Persistent 64 KiB line echo, 10 connections",
    short: "line echo 64 KiB, 10 connections",
    transport: "tcp",
    mode: "persist",
    conns: 10,
    size: 65536,
    reference: "deno-tcp-echo",
  },
  {
    id: "oneshot",
    title: "Connection per request, the seed's upper-casing handler, 20 clients",
    short: "connection per request, seed handler, 20 clients",
    transport: "tcp",
    mode: "connect",
    conns: 20,
    size: 64,
    upper: true,
    reference: "deno-tcp-oneshot",
  },
  {
    id: "udp",
    title: "UDP datagram echo, 64 bytes, 20 client sockets",
    short: "UDP echo 64 B, 20 sockets",
    transport: "udp",
    mode: "udp",
    conns: 20,
    size: 64,
    reference: "deno-udp-echo",
    floor: "deno-udp-handler-floor",
  },
  {
    id: "unix-50",
    title: "Unix stream socket, persistent 64-byte line echo, 50 connections",
    short: "Unix stream line echo 64 B, 50 connections",
    transport: "unix",
    mode: "persist",
    conns: 50,
    size: 64,
    reference: "deno-unix-echo",
  },
  {
    id: "unixdgram",
    title: "Unix datagram echo, 64 bytes, 20 client sockets",
    short: "Unix datagram echo 64 B, 20 sockets",
    transport: "unixdgram",
    mode: "udp",
    conns: 20,
    size: 64,
    reference: "deno-unixpacket-echo",
  },
  {
    id: "proxy-v2",
    title:
      "Connection per request through HAProxy, 64-byte echo, 20 clients: PROXY protocol v2 against none",
    short: "through HAProxy, connection per request: send-proxy-v2 vs none",
    transport: "tcp",
    mode: "connect",
    conns: 20,
    size: 64,
    reference: "lib-haproxy-plain",
    field: false,
  },
  {
    id: "idle",
    title: `Idle connections held: server RSS with ${
      IDLE_CONNS.toLocaleString("en")
    } connections open`,
    short: "idle connections: RSS growth per 10,000",
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
function kind(impl: Impl, command: (mode: string) => string[]) {
  return (id: string, name: string, mode: string, serves: string[]): ServerInfo => ({
    id,
    name,
    impl,
    serves,
    command: command(mode),
  });
}
/** A server its runtime cannot write: a row that says why. */
function lacks(impl: Impl, id: string, name: string, serves: string[], why: string): ServerInfo {
  return { id, name, impl, serves, command: [], unsupported: why };
}
const denoScript = (file: string) => (mode: string) => [
  Deno.execPath(),
  "run",
  ...DENO_FLAGS,
  `${BENCH}servers/${file}`,
  mode,
];
const lib = kind("lib", denoScript("deno_lib.ts"));
const HAPROXY = "/usr/sbin/haproxy";
/** A library server behind HAProxy, which it starts (Debian's path, as the tests'). */
const behindHaproxy = (id: string, name: string, mode: string, serves: string[]): ServerInfo => {
  try {
    Deno.statSync(HAPROXY);
  } catch {
    return lacks("lib", id, name, serves, "haproxy is not installed (apt-get install haproxy)");
  }
  const run = [Deno.execPath(), "run", ...DENO_FLAGS, `--allow-run=${HAPROXY}`];
  return { id, name, impl: "lib", serves, command: [...run, `${BENCH}servers/deno_lib.ts`, mode] };
};
const raw = kind("deno", denoScript("deno_raw.ts"));
const node = kind("node", (mode) => ["node", `${BENCH}servers/node_net.mjs`, mode]);
const bun = kind("bun", (mode) => ["bun", `${BENCH}servers/bun_net.mjs`, mode]);
const go = kind("go", (mode) => [`${BUILD_DIR}go_net`, mode]);
const c = kind("c", (mode) => [`${BUILD_DIR}c_epoll`, mode]);
const py = (mode: string) => ["python3", `${BENCH}servers/py_socketserver.py`, mode];
const python = kind("python", py);
const asyncio = kind("asyncio", py);

// deno-fmt-ignore
/** Every server: one line each. `serves` lists the workloads it runs; the
 * first server of an implementation on a workload is its column in the
 * field table. */
export const SERVERS: ServerInfo[] = [
  c("c-tcp-echo", "C epoll echo", "tcp-echo", LINE),
  c("c-tcp-oneshot", "C epoll one-shot", "tcp-oneshot", ["oneshot"]),
  c("c-udp-echo", "C recvfrom/sendto loop", "udp-echo", ["udp"]),
  c("c-unix-echo", "C epoll echo (unix)", "unix-echo", ["unix-50"]),
  c("c-unixdgram-echo", "C recvfrom/sendto loop (unix datagram)", "unixdgram-echo", ["unixdgram"]),
  bun("bun-tcp-echo", "Bun.listen echo", "tcp-echo", LINE),
  bun("bun-tcp-oneshot", "Bun.listen one-shot", "tcp-oneshot", ["oneshot"]),
  bun("bun-udp-echo", "Bun.udpSocket echo", "udp-echo", ["udp"]),
  bun("bun-unix-echo", "Bun.listen echo (unix)", "unix-echo", ["unix-50"]),
  lacks("bun", "bun-unixdgram", "Bun (unix datagram)", ["unixdgram"], "Bun has no Unix datagram sockets"),
  go("go-tcp-echo", "Go net, goroutine per connection", "tcp-echo", LINE),
  go("go-tcp-oneshot", "Go net one-shot", "tcp-oneshot", ["oneshot"]),
  go("go-udp-echo", "Go net.ListenPacket loop", "udp-echo", ["udp"]),
  go("go-unix-echo", "Go net echo (unix)", "unix-echo", ["unix-50"]),
  go("go-unixdgram-echo", "Go net.ListenPacket loop (unixgram)", "unixdgram-echo", ["unixdgram"]),
  raw("deno-tcp-echo", "raw Deno.listen echo loop", "tcp-echo", LINE),
  raw("deno-tcp-oneshot", "raw Deno.listen one-shot", "tcp-oneshot", ["oneshot"]),
  raw("deno-tcp-oneshot-serial", "raw Deno.listen one-shot, one at a time", "tcp-oneshot-serial", ["oneshot"]),
  raw("deno-udp-echo", "raw Deno.listenDatagram loop", "udp-echo", ["udp"]),
  raw("deno-udp-handler-floor", "raw Deno.listenDatagram loop + a handler object and async handle() per datagram", "udp-handler-floor", ["udp"]),
  raw("deno-unix-echo", "raw Deno.listen (unix) echo loop", "unix-echo", ["unix-50"]),
  raw("deno-unixpacket-echo", "raw Deno.listenDatagram (unixpacket) loop", "unixpacket-echo", ["unixdgram"]),
  node("node-tcp-echo", "Node net (socket.pipe(socket))", "tcp-echo", LINE),
  node("node-tcp-oneshot", "Node net one-shot", "tcp-oneshot", ["oneshot"]),
  node("node-udp-echo", "Node dgram", "udp-echo", ["udp"]),
  node("node-unix-echo", "Node net (unix)", "unix-echo", ["unix-50"]),
  lacks("node", "node-unixdgram", "Node (unix datagram)", ["unixdgram"], "Node's dgram has no Unix datagram sockets"),
  lib("lib-threading-line", "socketserver ThreadingTCPServer + StreamRequestHandler", "threading-line", LINE),
  lib("lib-threading-oneshot", "socketserver ThreadingTCPServer + seed handler", "threading-oneshot", ["oneshot"]),
  lib("lib-tcp-oneshot", "socketserver TCPServer + seed handler", "tcp-oneshot", ["oneshot"]),
  lib("lib-udp", "socketserver UDPServer + DatagramRequestHandler", "udp", ["udp"]),
  lib("lib-unix-line", "socketserver ThreadingMixIn(UnixStreamServer) + StreamRequestHandler", "unix-line", ["unix-50"]),
  lib("lib-unixdgram", "socketserver UnixDatagramServer + DatagramRequestHandler", "unixdgram", ["unixdgram"]),
  behindHaproxy("lib-haproxy-plain", "socketserver ThreadingTCPServer behind HAProxy, no PROXY protocol", "haproxy-plain", ["proxy-v2"]),
  behindHaproxy("lib-haproxy-v2", "socketserver ThreadingTCPServer, proxyProtocol \"v2\", behind HAProxy send-proxy-v2", "haproxy-v2", ["proxy-v2"]),
  lib("lib-threading-line-otel", "the same, through instrument(); OTEL_DENO unset", "threading-line-otel", ["line-50"]),
  lib("lib-threading-oneshot-otel", "the same, through instrument(); OTEL_DENO unset", "threading-oneshot-otel", ["oneshot"]),
  lib("lib-udp-otel", "the same, through instrument(); OTEL_DENO unset", "udp-otel", ["udp"]),
  python("py-threading-line", "CPython ThreadingTCPServer + StreamRequestHandler", "threading-line", LINE),
  python("py-threading-oneshot", "CPython ThreadingTCPServer + seed handler", "threading-oneshot", ["oneshot"]),
  python("py-tcp-oneshot", "CPython TCPServer + seed handler", "tcp-oneshot", ["oneshot"]),
  python("py-udp", "CPython UDPServer + DatagramRequestHandler", "udp", ["udp"]),
  python("py-unix-line", "CPython ThreadingUnixStreamServer + StreamRequestHandler", "unix-line", ["unix-50"]),
  python("py-unixdgram", "CPython UnixDatagramServer + DatagramRequestHandler", "unixdgram", ["unixdgram"]),
  asyncio("py-asyncio-line", "CPython asyncio streams", "asyncio-line", LINE),
  asyncio("py-asyncio-oneshot", "CPython asyncio streams one-shot", "asyncio-oneshot", ["oneshot"]),
  asyncio("py-asyncio-udp", "CPython asyncio DatagramProtocol", "asyncio-udp", ["udp"]),
  asyncio("py-asyncio-unix-line", "CPython asyncio streams (unix)", "asyncio-unix-line", ["unix-50"]),
  asyncio("py-asyncio-unixdgram", "CPython asyncio DatagramProtocol (unix)", "asyncio-unixdgram", ["unixdgram"]),
];

/** Issues 18's and 19's goals, each a bound on a per-round ratio's median. */
// deno-fmt-ignore
export const TARGETS: Target[] = [
  { workload: "line-50", server: "lib-threading-line", versus: "deno-tcp-echo", metric: "cpu", atMost: 1.05 },
  { workload: "line-50", server: "lib-threading-line", versus: "deno-tcp-echo", metric: "rps", atLeast: 0.95 },
  { workload: "line-50", server: "lib-threading-line", versus: "deno-tcp-echo", metric: "p99", atMost: 1.1 },
  { workload: "line-50", server: "lib-threading-line", versus: "node-tcp-echo", metric: "cpu", atMost: 1 },
  { workload: "line-50", server: "lib-threading-line", versus: "node-tcp-echo", metric: "rps", atLeast: 1 },
  { workload: "oneshot", server: "lib-threading-oneshot", versus: "deno-tcp-oneshot", metric: "cpu", atMost: 1.05 },
  { workload: "oneshot", server: "lib-threading-oneshot", versus: "deno-tcp-oneshot", metric: "rps", atLeast: 0.95 },
  { workload: "oneshot", server: "lib-threading-oneshot", versus: "node-tcp-oneshot", metric: "cpu", atMost: 1 },
  { workload: "oneshot", server: "lib-threading-oneshot", versus: "node-tcp-oneshot", metric: "rps", atLeast: 1 },
  { workload: "oneshot", server: "lib-tcp-oneshot", versus: "deno-tcp-oneshot-serial", metric: "cpu", atMost: 1.05 },
  { workload: "oneshot", server: "lib-tcp-oneshot", versus: "deno-tcp-oneshot-serial", metric: "rps", atLeast: 0.95 },
  { workload: "oneshot", server: "lib-tcp-oneshot", versus: "node-tcp-oneshot", metric: "cpu", atMost: 1 },
  { workload: "oneshot", server: "lib-tcp-oneshot", versus: "node-tcp-oneshot", metric: "rps", atLeast: 1 },
  { workload: "udp", server: "lib-udp", versus: "deno-udp-echo", metric: "cpu", atMost: 1.05 },
  { workload: "udp", server: "lib-udp", versus: "deno-udp-echo", metric: "rps", atLeast: 0.95 },
  { workload: "udp", server: "lib-udp", versus: "node-udp-echo", metric: "cpu", atMost: 1 },
  { workload: "udp", server: "lib-udp", versus: "node-udp-echo", metric: "rps", atLeast: 1 },
  { workload: "udp", server: "lib-udp", versus: "py-udp", metric: "cpu", atMost: 1 },
  { workload: "udp", server: "lib-udp", versus: "py-udp", metric: "rps", atLeast: 1 },
  { workload: "line-64k", server: "lib-threading-line", versus: "deno-tcp-echo", metric: "rps", atLeast: 0.9 },
  { workload: "idle", server: "lib-threading-line", versus: "deno-tcp-echo", metric: "rss", atMost: 1.3 },
  // issue 19: instrument() costs nothing that shows while OTEL_DENO is unset
  { workload: "line-50", server: "lib-threading-line-otel", versus: "lib-threading-line", metric: "cpu", atMost: 1.03 },
  { workload: "oneshot", server: "lib-threading-oneshot-otel", versus: "lib-threading-oneshot", metric: "cpu", atMost: 1.03 },
  { workload: "udp", server: "lib-udp-otel", versus: "lib-udp", metric: "cpu", atMost: 1.03 },
];

// ---------------------------------------------------------------- processes

/** Runs a command, raising the child's descriptor limit to the hard limit
 * first (the idle workload holds 10,000 sockets on each side). */
function spawn(command: string[]): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', "sh", ...command],
    stdin: "null",
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

/** A bounded wait: the promise's value, or `fallback` after `ms`. */
async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<F>((r) => timer = setTimeout(() => r(fallback), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function startServer(server: ServerInfo, path: string | null): Promise<Running> {
  const command = path === null ? server.command : [...server.command, path];
  const child = spawn(command);
  const ready = Promise.withResolvers<{ port?: number; path?: string; pid: number }>();
  const out = drain(child.stdout, (line) => {
    if (line.startsWith("READY ")) ready.resolve(JSON.parse(line.slice(6)));
  });
  const err = drain(child.stderr, () => {});
  const result = await within(
    Promise.race([ready.promise, child.status]),
    15_000,
    "timeout" as const,
  );
  if (result === "timeout" || "code" in result) {
    if (result === "timeout") child.kill("SIGKILL");
    const status = await child.status;
    await err.done;
    const why = err.state.tail.trim().split("\n").slice(-1)[0] ?? "";
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
  if (!await within(running.child.status.then(() => true), 3000, false)) {
    try {
      running.child.kill("SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  await running.done;
}

function clientArgs(w: WorkloadInfo, at: Running): string[] {
  const args = at.path !== undefined ? ["-u", at.path] : ["-h", "127.0.0.1", "-p", String(at.port)];
  args.push("-m", w.mode, "-c", String(w.conns), "-s", String(w.size));
  if (w.upper) args.push("-U");
  return args;
}

/** Runs the load generator to its end and parses its JSON line. */
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
    throw new Error(`The load generator printed no result: ${err.state.tail.trim() || line}`);
  }
}

function rssKb(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = status.match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new Error(`No VmRSS for process ${pid}`);
  return Number(m[1]);
}

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

/** One measured window: the server started, the generator's warm-up and
 * window on the same connections, the server's CPU read by the generator
 * at the window's edges. */
async function measureLoad(
  w: WorkloadInfo,
  server: ServerInfo,
  client: string,
): Promise<Record<string, number>> {
  const path = socketPath(w);
  const running = await startServer(server, path);
  try {
    const args = [
      ...clientArgs(w, running),
      "-w",
      String(WARMUP),
      "-d",
      String(SECONDS),
      "-P",
      String(running.pid),
    ];
    const result = await runClient([client, ...args], WARMUP + SECONDS);
    if (!(result.requests > 0)) {
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

async function measureIdle(
  w: WorkloadInfo,
  server: ServerInfo,
  client: string,
): Promise<Record<string, number>> {
  const running = await startServer(server, null);
  let held: Deno.ChildProcess | null = null;
  try {
    await sleep(500);
    const base = rssKb(running.pid);
    held = spawn([client, ...clientArgs(w, running), "-d", String(IDLE_SECONDS)]);
    const first = Promise.withResolvers<string>();
    const out = drain(held.stdout, (line) => first.resolve(line));
    const err = drain(held.stderr, () => {});
    const line = await within(
      Promise.race([first.promise, held.status.then(() => "")]),
      (IDLE_SECONDS + 30) * 1000,
      "",
    );
    if (!line) throw new Error(`The idle client printed no result: ${err.state.tail.trim()}`);
    const result = JSON.parse(line);
    await sleep(1000); // let the server settle before reading its memory
    const rss = rssKb(running.pid);
    held.kill("SIGTERM");
    if (!await within(held.status.then(() => true), 3000, false)) held.kill("SIGKILL");
    await Promise.all([held.status, out.done, err.done]);
    held = null;
    return {
      ...result,
      rss_base_kb: base,
      rss_kb: rss,
      per_10k_kb: result.held > 0 ? Math.round((rss - base) * 10_000 / result.held) : 0,
    };
  } finally {
    if (held !== null) {
      held.kill("SIGKILL");
      await held.status;
    }
    await stopServer(running);
  }
}

// ---------------------------------------------------------------- main

function machine(): Report["machine"] {
  const cpuinfo = Deno.readTextFileSync("/proc/cpuinfo");
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown CPU";
  const cores = cpuinfo.match(/^processor\s*:/gm)?.length ?? 0;
  const kb = Number(Deno.readTextFileSync("/proc/meminfo").match(/^MemTotal:\s+(\d+)/m)?.[1]);
  return {
    cpu: model,
    cores,
    kernel: Deno.readTextFileSync("/proc/sys/kernel/osrelease").trim(),
    memory: Number.isFinite(kb) ? `${(kb / 1024 / 1024).toFixed(1)} GiB RAM` : undefined,
    loadavg: Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" "),
  };
}

/** Writes the markdown, JSON and SVG for a report, and the README block
 * when `readme` is set. */
async function writeResults(report: Report, readme: boolean): Promise<string> {
  const figures: Figure[] = summarize(report);
  const markdown = renderMarkdown(report, figures);
  await Deno.mkdir(OUT, { recursive: true });
  await Deno.writeTextFile(`${OUT}/latest.md`, markdown);
  await Deno.writeTextFile(
    `${OUT}/latest.json`,
    JSON.stringify({ ...report, figures }, null, 2) + "\n",
  );
  await Deno.writeTextFile(`${OUT}/latest.svg`, renderChart(report, figures));
  if (readme) {
    const text = await Deno.readTextFile(README);
    await Deno.writeTextFile(README, replaceReadmeBlock(text, renderReadmeBlock(report, figures)));
    // the block's tables, aligned as `deno fmt --check` wants them
    await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", README] }).output();
  }
  return markdown;
}

/** Seconds a run takes beyond its warm-up and window: starting and
 * stopping the server (measured on the 2-core machine). */
const OVERHEAD: Record<Impl, number> = {
  c: 0.05,
  go: 0.05,
  bun: 0.15,
  node: 0.15,
  python: 0.15,
  asyncio: 0.2,
  deno: 0.3,
  lib: 0.4,
};

/** Seconds an idle run takes: start, 0.5 s, opening the connections, 1 s,
 * stop; CPython's threads with a backlog of 5 take the whole allowance. */
function idleEstimate(s: ServerInfo): number {
  return 2 + OVERHEAD[s.impl] + (s.impl === "python" ? IDLE_SECONDS : 1);
}

/** Seconds the whole plan should take. */
function estimate(plan: { w: WorkloadInfo; list: ServerInfo[] }[], skip: Map<Impl, string>) {
  let seconds = 0;
  for (const { w, list } of plan) {
    for (const s of list) {
      if (s.unsupported || skip.has(s.impl)) continue;
      seconds += w.mode === "idle" ? idleEstimate(s) : WARMUP + SECONDS + OVERHEAD[s.impl];
    }
  }
  return seconds * ROUNDS;
}

function selectServers(): ServerInfo[] {
  if (!ONLY_SERVERS) return SERVERS;
  const unknown = ONLY_SERVERS.filter((id) =>
    !SERVERS.some((s) => s.id === id) && !IMPLS.some((c) => c.impl === id)
  );
  if (unknown.length) {
    throw new Error(
      `Unknown server ${unknown.map((u) => `"${u}"`).join(", ")} in BENCH_SERVERS: use ${
        IMPLS.map((c) => c.impl).join(", ")
      } or a server id (${SERVERS.map((s) => s.id).join(", ")})`,
    );
  }
  return SERVERS.filter((s) => ONLY_SERVERS.includes(s.id) || ONLY_SERVERS.includes(s.impl));
}

/** Which implementations can run, and why the others cannot. */
async function peers(servers: ServerInfo[]): Promise<Map<Impl, string>> {
  const missing = new Map<Impl, string>();
  const want = new Set(servers.filter((s) => !s.unsupported).map((s) => s.impl));
  const check = async (impl: Impl, command: string, install: string) => {
    if (want.has(impl) && await version(command) === null) {
      missing.set(impl, `${command} is not installed (${install})`);
    }
  };
  await check("node", "node", "apt-get install nodejs");
  await check("bun", "bun", "npm install -g bun");
  await check("python", "python3", "apt-get install python3");
  await check("asyncio", "python3", "apt-get install python3");
  for (const [impl, part] of [["c", "c"], ["go", "go"]] as const) {
    if (!want.has(impl)) continue;
    try {
      await build(part);
    } catch (error) {
      if (!(error instanceof BuildError)) throw error;
      missing.set(impl, error.message);
    }
  }
  return missing;
}

if (import.meta.main && Deno.args[0] === "--render") {
  // Redraws the results and the README block from a JSON report.
  const path = Deno.args[1] ?? `${OUT}/latest.json`;
  const { figures: _, ...report } = JSON.parse(await Deno.readTextFile(path));
  await writeResults(report as Report, env("BENCH_README") !== "0");
  console.log(`Rendered ${OUT}/latest.md, latest.svg and the README block from ${path}`);
} else if (import.meta.main) {
  const started = performance.now();
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
  const workloads = WORKLOADS.filter((w) => !ONLY || ONLY.includes(w.id));
  const servers = selectServers();
  let client: string;
  try {
    client = await loadgen();
  } catch (error) {
    if (!(error instanceof BuildError)) throw error;
    console.error(`The load generator could not be built: ${error.message}`);
    Deno.exit(1);
  }
  const missing = await peers(servers);
  for (const [impl, why] of missing) console.log(`Skipping ${impl}: ${why}`);
  const v = async (command: string) => (await version(command)) ?? "not installed";
  const report: Report = {
    date: new Date().toISOString(),
    machine: machine(),
    versions: {
      deno: `${Deno.version.deno} (V8 ${Deno.version.v8})`,
      node: await v("node"),
      bun: await v("bun"),
      go: (await v("go")).replace(/^go version /, ""),
      python: await v("python3"),
      cc: await v("cc"),
    },
    seconds: SECONDS,
    warmup: WARMUP,
    rounds: ROUNDS,
    workloads,
    servers,
    targets: TARGETS,
    method: METHOD,
    clients: Object.fromEntries(
      workloads.map((w) => [w.id, "bench/loadgen (C, epoll, one thread)"]),
    ),
    measurements: [],
  };
  const plan = workloads.map((w) => ({
    w,
    list: servers.filter((s) => s.serves.includes(w.id)),
  }));
  const runs = plan.reduce((n, { list }) => n + list.filter((s) => !s.unsupported).length, 0);
  console.log(
    `${ROUNDS} round(s) of ${runs} runs, ${SECONDS} s each (+${WARMUP} s warm-up): about ${
      Math.ceil(estimate(plan, missing) / 60)
    } minutes`,
  );
  if (Deno.args[0] === "--plan") Deno.exit(0);
  const clock = () => {
    const s = Math.round((performance.now() - started) / 1000);
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const { w, list } of plan) {
      // round-robin: each round starts one server further along
      const shift = list.length ? (round - 1) % list.length : 0;
      for (const server of [...list.slice(shift), ...list.slice(0, shift)]) {
        const m: Measurement = { round, workload: w.id, server: server.id };
        if (server.unsupported) m.skipped = server.unsupported;
        else if (missing.has(server.impl)) m.skipped = missing.get(server.impl);
        else {
          try {
            m.result = w.mode === "idle"
              ? await measureIdle(w, server, client)
              : await measureLoad(w, server, client);
          } catch (error) {
            m.error = error instanceof Error ? error.message : String(error);
          }
        }
        report.measurements.push(m);
        if (m.skipped && round > 1) continue;
        const tag = `${clock().padStart(5)} [${round}/${ROUNDS}] ${w.id.padEnd(9)} ${
          server.id.padEnd(24)
        }`;
        const r = m.result;
        console.log(
          `${tag} ${
            r
              ? w.mode === "idle"
                ? `${r.held} held, RSS ${(r.rss_kb / 1024).toFixed(1)} MiB (+${
                  (r.per_10k_kb / 1024).toFixed(1)
                } MiB per 10k)`
                : `${r.rps} req/s, p50 ${r.p50_us} µs, p99 ${r.p99_us} µs, ${r.cpu_us_per_req} µs CPU/req${
                  r.errors || r.mismatches ? `, ${r.errors} errors, ${r.mismatches} mismatches` : ""
                }`
              : m.skipped
              ? `n/a: ${m.skipped}`
              : `failed: ${m.error}`
          }`,
        );
      }
    }
  }
  report.machine.loadavgAfter = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3)
    .join(" ");
  report.elapsed = Math.round((performance.now() - started) / 1000);
  const complete = !ONLY && !ONLY_SERVERS && env("BENCH_OUT") === undefined;
  const readme = env("BENCH_README") === "1" || (complete && env("BENCH_README") !== "0");
  const markdown = await writeResults(report, readme);
  console.log("\n" + markdown);
  console.log(
    `Written: ${OUT}/latest.md, latest.json, latest.svg${
      readme ? " and bench/README.md's figures" : " (bench/README.md left alone: a partial run)"
    }; ${clock()} in all`,
  );
}
