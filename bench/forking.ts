/**
 * CPU-bound requests: ThreadingTCPServer (one process) against
 * ForkingTCPServer (child processes) and, for the design choice, the same
 * children as Web Workers in one process.
 *
 * Every request is one 64-byte line; the handler hashes for about 2 ms and
 * echoes the line. The hashing is a chain of SHA-256 compressions over the
 * line, in JavaScript (`js`, the default: pure CPU on the handler's thread,
 * nothing allocated), or a chain of node:crypto SHA-256 digests (`node`:
 * synchronous too, but each call allocates, so V8's garbage collector
 * threads take about another 0.4 core per process). The load comes from
 * this repository's load generator (bench/loadgen/loadgen.c: C, epoll, one
 * thread), built into bench/.build/ on first use (see bench/build.ts).
 *
 *     deno run -A bench/forking.ts [rounds=3] [seconds=5] [connections=16] [js|node]
 *     deno run -A bench/forking.ts startup [rounds=5]
 *
 * The driver calibrates the hash chain once (so every server does the same
 * work per request), then for each round starts each server as its own
 * process (`deno run -A bench/forking.ts serve <kind> <iterations>`), runs
 * the load generator against it and stops it. Before each run it waits (at most a
 * minute) for a second in which the CPUs are 90% idle, since other programs
 * share this machine; during the run it measures, from /proc, the cores the
 * server used, the cores the client used, and the cores other programs
 * took. It prints one JSON line per run and a summary: requests/s per kind
 * (median, min–max), the forking/threading ratio per round, and the ratios
 * of the "quiet" rounds, where other programs took under 0.2 of a core
 * during both runs. Its last line is `forking: PASS …` or `forking: FAIL …`
 * against issue 4's figure — forking (2 children) at least 1.6× the
 * requests per second of threading, here the median of the rounds' ratios,
 * with no wrong reply — and it exits 1 on FAIL.
 *
 * Every wait is bounded: a server has 60 s to say it listens and 30 s to
 * exit once told to stop (then it is killed), the load generator is killed 30 s
 * after its run should have ended, and the wait for an idle machine gives
 * up after a minute.
 *
 * `startup` compares the two ways to run children: how long until 2
 * children listen, and the memory they add (the children's RSS for
 * processes, the growth of the process's RSS for Workers).
 *
 * @module
 */
import { createHash } from "node:crypto";
import {
  ForkingTCPServer,
  isForkingChild,
  StreamRequestHandler,
  ThreadingTCPServer,
} from "../mod.ts";
import { loadgen } from "./build.ts";

const CHILDREN = 2;
const TARGET_RATIO = 1.6;
const LISTEN_MS = 60_000;
const EXIT_MS = 30_000;

/** Resolves to `promise`'s value, or to `null` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), ms));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits at most `ms` for `child` to exit, then kills it (SIGKILL). */
async function exitOrKill(child: Deno.ChildProcess, ms: number): Promise<Deno.CommandStatus> {
  const status = await within(child.status, ms);
  if (status !== null) return status;
  try {
    child.kill("SIGKILL");
  } catch {
    // exited meanwhile
  }
  return await child.status;
}

/** The first line of `reader` (a server's {"port"}), within `ms`. */
async function firstLine(
  reader: ReadableStreamDefaultReader<string>,
  ms: number,
  what: string,
): Promise<string> {
  const read = async () => {
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${what} ended before listening`);
      first += value;
    }
    return first.split("\n")[0];
  };
  const line = await within(read(), ms);
  if (line === null) throw new Error(`${what} did not say it listens within ${ms / 1000} s`);
  return line;
}

// SHA-256's compression function in JavaScript, allocation-free: the
// constants are the fractional parts of the cube (square) roots of the first
// 64 (8) primes. Checked against node:crypto: sha256("abc") matches.
function primes(n: number): number[] {
  const out: number[] = [];
  for (let c = 2; out.length < n; c++) if (out.every((p) => c % p)) out.push(c);
  return out;
}
const frac = (x: number) => Math.floor((x - Math.floor(x)) * 2 ** 32) >>> 0;
const K = new Uint32Array(primes(64).map((p) => frac(Math.cbrt(p))));
const IV = new Uint32Array(primes(8).map((p) => frac(Math.sqrt(p))));

function compress(H: Uint32Array, W: Uint32Array): void {
  for (let t = 16; t < 64; t++) {
    const a = W[t - 15], b = W[t - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[t] = (W[t - 16] + s0 + W[t - 7] + s1) | 0;
  }
  let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t] + W[t]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  H[0] += a;
  H[1] += b;
  H[2] += c;
  H[3] += d;
  H[4] += e;
  H[5] += f;
  H[6] += g;
  H[7] += h;
}

/** `iterations` SHA-256 compressions chained over the line, in JavaScript:
 * pure CPU on the handler's thread, nothing allocated per iteration. */
function workJs(line: Uint8Array, iterations: number): number {
  const H = new Uint32Array(IV);
  const W = new Uint32Array(64);
  for (let i = 0; i < iterations; i++) {
    for (let t = 0; t < 8; t++) W[t] = H[t];
    for (let t = 8; t < 16; t++) {
      const o = (t - 8) * 4;
      W[t] = (line[o] << 24) | (line[o + 1] << 16) | (line[o + 2] << 8) | line[o + 3];
    }
    compress(H, W);
  }
  return H[0];
}

/** A chain of `iterations` node:crypto SHA-256 digests: synchronous, but
 * every call allocates, so V8's garbage collector threads work too. */
function workNode(line: Uint8Array, iterations: number): number {
  let digest: Uint8Array = line;
  for (let i = 0; i < iterations; i++) digest = createHash("sha256").update(digest).digest();
  return digest[0];
}

let hash: "js" | "node" = "js";
function work(line: Uint8Array, iterations: number): number {
  return hash === "js" ? workJs(line, iterations) : workNode(line, iterations);
}

function calibrate(targetMs: number): number {
  const line = new Uint8Array(64);
  let iterations = 100;
  for (let round = 0; round < 8; round++) {
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) work(line, iterations);
    const ms = (performance.now() - t0) / 20;
    iterations = Math.max(1, Math.round(iterations * targetMs / ms));
  }
  return iterations;
}

function hashingHandler(iterations: number) {
  return class Hashing extends StreamRequestHandler {
    override disableNagleAlgorithm = true;
    override async handle() {
      try {
        for await (const line of this.rfile) {
          work(line, iterations);
          await this.wfile.write(line);
        }
      } catch (error) {
        // the load generator drops its connections when its time is up
        if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
      }
    }
  };
}

/** Serves until stdin closes; prints {"port"} once listening. */
async function serve(kind: string, iterations: number): Promise<void> {
  const Handler = hashingHandler(iterations);
  const address = { hostname: "127.0.0.1", port: 0 };
  if (kind === "threading") {
    await using server = new ThreadingTCPServer(address, Handler);
    console.log(JSON.stringify({ port: server.serverAddress.port }));
    const serving = server.serveForever();
    await Deno.stdin.readable.pipeTo(new WritableStream());
    await server.shutdown();
    await serving;
    return;
  }
  if (kind === "forking") {
    const ready = Promise.withResolvers<void>();
    let started = 0;
    class Forking extends ForkingTCPServer {
      override childStarted() {
        if (++started === CHILDREN) ready.resolve();
      }
    }
    await using server = new Forking(address, Handler, { maxChildren: CHILDREN });
    const serving = server.serveForever();
    if (!isForkingChild()) {
      await ready.promise;
      console.log(JSON.stringify({ port: server.serverAddress.port }));
      await Deno.stdin.readable.pipeTo(new WritableStream());
      await server.shutdown();
    }
    await serving;
    return;
  }
  if (kind === "workers") {
    // The alternative design: the same children as Web Workers, each a
    // ThreadingTCPServer with allowReusePort on the same port.
    const probe = Deno.listen({ ...address, reusePort: true });
    const port = probe.addr.port;
    const workers = await startWorkers(port, iterations);
    probe.close();
    console.log(JSON.stringify({ port }));
    await Deno.stdin.readable.pipeTo(new WritableStream());
    for (const worker of workers) worker.terminate();
    return;
  }
  throw new Error(`Unknown kind "${kind}": use threading, forking or workers`);
}

/** Starts the Workers, each serving `port`; resolves once all listen. */
async function startWorkers(port: number, iterations: number): Promise<Worker[]> {
  const workers = Array.from(
    { length: CHILDREN },
    () => new Worker(import.meta.url, { type: "module" }),
  );
  await Promise.all(workers.map((worker) =>
    new Promise<void>((resolve) => {
      worker.onmessage = () => resolve();
      worker.postMessage({ port, iterations, hash });
    })
  ));
  return workers;
}

/** Inside a bench Worker: one ThreadingTCPServer sharing the port. */
function workerMain(): void {
  const scope = self as unknown as {
    onmessage: (
      event: MessageEvent<{ port: number; iterations: number; hash: "js" | "node" }>,
    ) => void;
    postMessage(message: unknown): void;
  };
  scope.onmessage = (event) => {
    const { port, iterations } = event.data;
    hash = event.data.hash;
    const server = new ThreadingTCPServer(
      { hostname: "127.0.0.1", port },
      hashingHandler(iterations),
      { allowReusePort: true },
    );
    server.serveForever();
    scope.postMessage("ready");
  };
}

/** Jiffies since boot: all CPUs busy, and all CPUs in total. */
function cpuTimes(): { busy: number; total: number } {
  const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return { busy: total - fields[3] - fields[4], total };
}

/** CPU jiffies of a process (and, with `reaped`, of its reaped children). */
function processCpu(pid: number | "self", reaped = false): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
    // utime, stime are fields 14 and 15 of stat(5); cutime, cstime 16 and 17
    return fields[11] + fields[12] + (reaped ? fields[13] + fields[14] : 0);
  } catch {
    return 0;
  }
}

async function serverCpu(pid: number): Promise<number> {
  const children = new TextDecoder().decode(
    (await new Deno.Command("pgrep", { args: ["-P", String(pid)] }).output()).stdout,
  ).trim().split("\n").filter(Boolean).map(Number);
  return [pid, ...children].reduce((sum, p) => sum + processCpu(p), 0);
}

/** Waits (at most `maxMs`) for a second in which the CPUs are 90% idle. */
async function waitIdle(maxMs: number): Promise<number> {
  const deadline = performance.now() + maxMs;
  while (true) {
    const a = cpuTimes();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const b = cpuTimes();
    const idle = 1 - (b.busy - a.busy) / (b.total - a.total);
    if (idle >= 0.9 || performance.now() > deadline) return Math.round(idle * 100);
  }
}

async function drive(rounds: number, seconds: number, connections: number): Promise<void> {
  const load = await loadgen();
  const iterations = calibrate(2);
  const line = new Uint8Array(64);
  const t0 = performance.now();
  for (let i = 0; i < 200; i++) work(line, iterations);
  const perRequestMs = (performance.now() - t0) / 200;
  console.log(
    JSON.stringify({ hash, calibrated: { iterations, perRequestMs: +perRequestMs.toFixed(3) } }),
  );
  const cpus = navigator.hardwareConcurrency;
  const kinds = ["threading", "forking", "workers"];
  let mismatches = 0;
  const results: Record<string, { rps: number; otherCores: number }[]> = {
    threading: [],
    forking: [],
    workers: [],
  };
  for (let round = 0; round < rounds; round++) {
    for (const kind of kinds) {
      const idleBefore = await waitIdle(60_000);
      const server = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--unstable-net",
          import.meta.filename!,
          "serve",
          kind,
          String(iterations),
          hash,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const lines = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let first: string;
      try {
        first = await firstLine(lines, LISTEN_MS, `The ${kind} server`);
      } catch (error) {
        await server.stdin.close().catch(() => {});
        await lines.cancel();
        await exitOrKill(server, 0);
        throw error;
      }
      const { port } = JSON.parse(first);
      const before = {
        cpu: cpuTimes(),
        server: await serverCpu(server.pid),
        self: processCpu("self", true),
      };
      const client = new Deno.Command(load, {
        args: ["-p", String(port), "-c", String(connections), "-s", "64", "-d", String(seconds)],
        stdout: "piped",
      }).spawn();
      // the load generator stops at its -d; a watchdog kills it 30 s after that
      const watchdog = setTimeout(() => {
        try {
          client.kill("SIGKILL");
        } catch {
          // exited meanwhile
        }
      }, (seconds + 30) * 1000);
      const output = await client.output();
      clearTimeout(watchdog);
      const after = {
        cpu: cpuTimes(),
        server: await serverCpu(server.pid),
        self: processCpu("self", true),
      };
      await server.stdin.close();
      await lines.cancel();
      await exitOrKill(server, EXIT_MS);
      if (!output.success) {
        throw new Error(
          `The load generator failed against the ${kind} server (code ${output.code})`,
        );
      }
      const report = JSON.parse(new TextDecoder().decode(output.stdout));
      mismatches += report.mismatches ?? 0;
      // In cores: what the server used, what the client and this driver
      // used, and what other programs on the machine took meanwhile.
      const oneCpu = (after.cpu.total - before.cpu.total) / cpus;
      const serverCores = (after.server - before.server) / oneCpu;
      const clientCores = (after.self - before.self) / oneCpu;
      const otherCores = (after.cpu.busy - before.cpu.busy) / oneCpu - serverCores - clientCores;
      const cores = (x: number) => +Math.max(0, x).toFixed(2);
      results[kind].push({ rps: report.rps, otherCores: cores(otherCores) });
      console.log(JSON.stringify({
        round,
        kind,
        rps: report.rps,
        p50_us: report.p50_us,
        p99_us: report.p99_us,
        errors: report.errors,
        mismatches: report.mismatches,
        idleBeforePct: idleBefore,
        serverCores: cores(serverCores),
        clientCores: cores(clientCores),
        otherCores: cores(otherCores),
      }));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const summary = Object.fromEntries(kinds.map((kind) => {
    const rps = results[kind].map((r) => r.rps);
    return [kind, { median: median(rps), min: Math.min(...rps), max: Math.max(...rps) }];
  }));
  const ratios = results.forking.map((r, i) => +(r.rps / results.threading[i].rps).toFixed(2));
  // Rounds in which other programs took less than a fifth of a core
  // during both runs: the comparison the machine did not distort.
  const quiet = ratios.filter((_, i) =>
    results.forking[i].otherCores < 0.2 && results.threading[i].otherCores < 0.2
  );
  console.log(JSON.stringify({ summary, forkingOverThreading: ratios, quietRounds: quiet }));
  const ratio = median(ratios);
  const pass = ratio >= TARGET_RATIO && mismatches === 0;
  console.log(
    `forking: ${
      pass ? "PASS" : "FAIL"
    } — forking over threading ×${ratio} (median of ${rounds} round${rounds === 1 ? "" : "s"}${
      quiet.length > 0 ? `; quiet rounds ×${median(quiet)}` : "; no quiet round"
    }), ${mismatches} wrong replies, ${cpus} cores, ${hash} hashing; issue 4's figure: ×${TARGET_RATIO} or more`,
  );
  if (!pass) Deno.exitCode = 1;
}

function rssOf(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Time to 2 listening children, and their memory: processes vs Workers. */
async function startup(rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    // Processes: a forking server whose program is this file ("serve
    // forking" in the children's arguments, so they serve).
    const t0 = performance.now();
    const server = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-net", import.meta.filename!, "serve", "forking", "1"],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    await firstLine(reader, LISTEN_MS, "The forking server"); // {"port"}: both children listen
    const processesMs = performance.now() - t0;
    const children = new TextDecoder().decode(
      (await new Deno.Command("pgrep", { args: ["-P", String(server.pid)] }).output()).stdout,
    ).trim().split("\n").map(Number);
    const processesRss = children.reduce((sum, pid) => sum + rssOf(pid), 0);
    await server.stdin.close();
    await reader.cancel();
    await exitOrKill(server, EXIT_MS);

    // Workers, in this process.
    const before = rssOf(Deno.pid);
    const t1 = performance.now();
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0, reusePort: true });
    const workers = await startWorkers(probe.addr.port, 1);
    const workersMs = performance.now() - t1;
    const workersRss = rssOf(Deno.pid) - before;
    probe.close();
    for (const worker of workers) worker.terminate();
    console.log(JSON.stringify({
      round,
      children: CHILDREN,
      processesMs: Math.round(processesMs),
      processesRssMB: +(processesRss / 1e6).toFixed(1),
      workersMs: Math.round(workersMs),
      workersRssMB: +(workersRss / 1e6).toFixed(1),
    }));
  }
}

if ("WorkerGlobalScope" in globalThis) {
  workerMain();
} else if (import.meta.main) {
  if (Deno.args[0] === "serve") {
    hash = Deno.args[3] === "node" ? "node" : "js";
    await serve(Deno.args[1], Number(Deno.args[2]));
  } else if (Deno.args[0] === "startup") {
    await startup(Number(Deno.args[1] ?? 5));
  } else {
    const [rounds = 3, seconds = 5, connections = 16] = Deno.args.slice(0, 3).map(Number);
    hash = Deno.args[3] === "node" ? "node" : "js";
    await drive(rounds, seconds, connections);
  }
}
