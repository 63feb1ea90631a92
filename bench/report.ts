/**
 * The benchmark's data model, its summary (medians and spreads over rounds,
 * ratios measured within a round) and the markdown table.
 *
 * @module
 */

/** A load pattern. */
export interface WorkloadInfo {
  /** Short id, as `BENCH_ONLY` takes it. */
  id: string;
  /** The table's heading. */
  title: string;
  /** What the servers listen on. */
  transport: "tcp" | "udp" | "unix" | "unixdgram";
  /** The load client's mode; `idle` holds connections and measures memory. */
  mode: "persist" | "connect" | "udp" | "idle";
  /** Concurrent connections (or client sockets). */
  conns: number;
  /** Bytes per request, newline included. */
  size: number;
  /** Whether the reply comes back upper-cased (the seed's handler). */
  upper?: boolean;
  /** The raw Deno server every ratio divides by. */
  reference: string;
}

/** A server under test. */
export interface ServerInfo {
  /** Short id. */
  id: string;
  /** The table's row label. */
  name: string;
  /** Who wrote it: this library, raw Deno, Node or CPython. */
  impl: "lib" | "deno" | "node" | "python";
  /** The workload ids it runs. */
  serves: string[];
  /** The command that starts it (a Unix socket path is appended). */
  command: string[];
}

/** A figure from the issue: a ratio bound between two servers. */
export interface Target {
  /** The workload id. */
  workload: string;
  /** The server measured. */
  server: string;
  /** The server it is compared with. */
  versus: string;
  /** The ratio must be at least this (requests/s). */
  atLeast?: number;
  /** The ratio must be at most this (RSS). */
  atMost?: number;
}

/** One server under one workload in one round. */
export interface Measurement {
  /** 1-based round. */
  round: number;
  /** The workload id. */
  workload: string;
  /** The server id. */
  server: string;
  /** The load client's JSON (plus RSS fields for the idle workload). */
  result?: Record<string, number>;
  /** Why it did not run (a class not there yet, a missing tool). */
  skipped?: string;
  /** Why it failed. */
  error?: string;
}

/** Everything one `deno task bench` run produced. */
export interface Report {
  /** When it started, ISO 8601. */
  date: string;
  /** Where it ran. */
  machine: { cpu: string; cores: number; loadavg: string; loadavgAfter?: string };
  /** The runtimes. */
  versions: { deno: string; v8: string; node: string; python: string };
  /** Seconds per measured run. */
  seconds: number;
  /** Seconds of warm-up before each. */
  warmup: number;
  /** How many rounds. */
  rounds: number;
  /** The workloads run. */
  workloads: WorkloadInfo[];
  /** The servers. */
  servers: ServerInfo[];
  /** The figures. */
  targets: Target[];
  /** Which load client produced each workload's table. */
  clients: Record<string, string>;
  /** Every run. */
  measurements: Measurement[];
}

/** Median, minimum and maximum of some values. */
export interface Spread {
  /** The median. */
  median: number;
  /** The smallest. */
  min: number;
  /** The largest. */
  max: number;
}

/** One row of a table: a server under a workload, over every round. */
export interface Figure {
  /** The workload id. */
  workload: string;
  /** The server id. */
  server: string;
  /** Requests/s, or RSS in KiB for the idle workload. */
  value: Spread | null;
  /** MB/s (both directions), median. */
  mbps: number | null;
  /** Latency medians, µs. */
  p50: number | null;
  /** Latency medians, µs. */
  p99: number | null;
  /** The server's CPU time (user + system, all threads) per request, µs,
   * median: steadier than requests/s on a shared machine. */
  cpu: number | null;
  /** `value` over the reference's in the same round. */
  ratio: Spread | null;
  /** For the idle workload: RSS growth per 10,000 connections, KiB, median. */
  per10k: number | null;
  /** For the idle workload: connections held, median. */
  held: number | null;
  /** Errors reported by the client, summed over rounds. */
  errors: number;
  /** Why there is no figure. */
  note?: string;
}

/** Median and range of `values` (null when empty). */
export function spread(values: number[]): Spread | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

function metric(w: WorkloadInfo, m: Measurement | undefined): number | null {
  const r = m?.result;
  if (!r) return null;
  return w.mode === "idle" ? r.rss_kb : r.rps;
}

/** `a / b` per round, for the rounds where both ran. */
export function ratios(report: Report, workload: string, a: string, b: string): number[] {
  const w = report.workloads.find((x) => x.id === workload);
  if (!w) return [];
  const out: number[] = [];
  for (let round = 1; round <= report.rounds; round++) {
    const find = (server: string) =>
      report.measurements.find((m) =>
        m.round === round && m.workload === workload && m.server === server
      );
    const x = metric(w, find(a));
    const y = metric(w, find(b));
    if (x !== null && y !== null && y > 0) out.push(x / y);
  }
  return out;
}

/** One {@linkcode Figure} per server per workload. */
export function summarize(report: Report): Figure[] {
  const figures: Figure[] = [];
  for (const w of report.workloads) {
    for (const s of report.servers.filter((s) => s.serves.includes(w.id))) {
      const runs = report.measurements.filter((m) => m.workload === w.id && m.server === s.id);
      const ok = runs.filter((m) => m.result);
      const pick = (f: (r: Record<string, number>) => number) =>
        spread(ok.map((m) => f(m.result!)))?.median ?? null;
      const failed = runs.find((m) => !m.result);
      figures.push({
        workload: w.id,
        server: s.id,
        value: spread(ok.map((m) => metric(w, m)!)),
        mbps: w.mode === "idle" ? null : pick((r) => r.mbps),
        p50: w.mode === "idle" ? null : pick((r) => r.p50_us),
        p99: w.mode === "idle" ? null : pick((r) => r.p99_us),
        cpu: w.mode === "idle" ? null : pick((r) => r.cpu_us_per_req),
        ratio: spread(ratios(report, w.id, s.id, w.reference)),
        per10k: w.mode === "idle" ? pick((r) => r.per_10k_kb) : null,
        held: w.mode === "idle" ? pick((r) => r.held) : null,
        errors: ok.reduce((n, m) => n + (m.result!.errors ?? 0) + (m.result!.mismatches ?? 0), 0),
        note: failed
          ? failed.skipped ? `n/a: ${failed.skipped}` : `failed: ${failed.error}`
          : undefined,
      });
    }
  }
  return figures;
}

const int = (n: number) => Math.round(n).toLocaleString("en");
const fixed = (n: number, d = 2) => n.toFixed(d);

function range(s: Spread, f: (n: number) => string, rounds: number): string {
  return rounds > 1 && s.min !== s.max ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}

/** The result of a target: the measured ratios and whether the median meets it. */
export function evaluate(report: Report, t: Target): { ratio: Spread | null; met: boolean | null } {
  const ratio = spread(ratios(report, t.workload, t.server, t.versus));
  if (!ratio) return { ratio, met: null };
  const met = t.atLeast !== undefined
    ? ratio.median >= t.atLeast
    : ratio.median <= (t.atMost ?? Infinity);
  return { ratio, met };
}

/** The markdown report: one table per workload, then the figures. */
export function renderMarkdown(report: Report, figures: Figure[]): string {
  const name = (id: string) => report.servers.find((s) => s.id === id)?.name ?? id;
  const lines: string[] = [];
  const { machine: m, versions: v } = report;
  lines.push(
    "# Benchmark results",
    "",
    `${report.date} · ${m.cores} × ${m.cpu} · load average (1, 5, 15 min) ${m.loadavg} at the start, ${
      m.loadavgAfter ?? "?"
    } at the end (it counts the benchmark's own processes: CPython's 10,000 threads in the idle workload lift it far)`,
    "",
    `Deno ${v.deno} (V8 ${v.v8}) · Node ${v.node} · ${v.python} · ${report.seconds} s per run after ${report.warmup} s of warm-up · ${report.rounds} round(s)` +
      (report.rounds > 1
        ? ": figures are medians, (min–max) the spread over rounds; ratios are taken within a round"
        : ""),
    "",
    "Every server runs in its own process; the load client in another. Ratios compare servers measured in the same run, on the same machine, with the same client: absolute numbers move from run to run, ratios much less. The machine's 2 cores are shared (the client takes one, the server the other, and other work may run beside them).",
    "",
  );
  for (const w of report.workloads) {
    const rows = figures.filter((f) => f.workload === w.id);
    lines.push(
      `## ${w.title}`,
      "",
      `Client: ${report.clients[w.id]}` + (w.mode === "idle"
        ? " — idle mode: opens the connections 100 at a time, one echoed line on each, then holds them"
        : ` — \`-m ${w.mode} -c ${w.conns} -s ${w.size}${w.upper ? " -U" : ""}\``) +
        `. Ratios: over ${name(w.reference)}.`,
      "",
    );
    const row = (cells: string[]) =>
      lines.push(`| ${cells.join(" | ")} |`);
    const ratio = (f: Figure) => f.ratio ? range(f.ratio, fixed, report.rounds) : "–";
    if (w.mode === "idle") {
      row([
        "Server",
        "connections held",
        "RSS with them (MiB)",
        "RSS growth per 10,000 connections (MiB)",
        "× raw Deno RSS",
        "errors",
      ]);
      row(["---", "---:", "---:", "---:", "---:", "---:"]);
      for (const f of rows) {
        if (!f.value) row([name(f.server), f.note ?? "–", "", "", "", ""]);
        else {
          row([
            name(f.server),
            int(f.held ?? 0),
            range(f.value, (n) => fixed(n / 1024, 1), report.rounds),
            fixed((f.per10k ?? 0) / 1024, 1),
            ratio(f),
            String(f.errors),
          ]);
        }
      }
    } else {
      row([
        "Server",
        "requests/s",
        "MB/s",
        "p50 µs",
        "p99 µs",
        "× raw Deno",
        "server CPU µs/request",
        "errors",
      ]);
      row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]);
      for (const f of rows) {
        if (!f.value) row([name(f.server), f.note ?? "–", "", "", "", "", "", ""]);
        else {
          row([
            name(f.server),
            range(f.value, int, report.rounds),
            fixed(f.mbps ?? 0),
            int(f.p50 ?? 0),
            int(f.p99 ?? 0),
            ratio(f),
            fixed(f.cpu ?? 0, 1),
            String(f.errors),
          ]);
        }
      }
    }
    lines.push("");
  }
  const targets = report.targets.filter((t) => report.workloads.some((w) => w.id === t.workload));
  if (targets.length) {
    lines.push(
      "## The issue's figures",
      "",
      "| Workload | Server | Compared with | Target | Measured | Met |",
      "| --- | --- | --- | ---: | ---: | --- |",
    );
    for (const t of targets) {
      const { ratio, met } = evaluate(report, t);
      const bound = t.atLeast !== undefined ? `≥ ${t.atLeast}×` : `≤ ${t.atMost}× (RSS)`;
      lines.push(
        `| ${t.workload} | ${name(t.server)} | ${name(t.versus)} | ${bound} | ${
          ratio ? range(ratio, fixed, report.rounds) + "×" : "–"
        } | ${met === null ? "not measured" : met ? "yes" : "**no**"} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}
