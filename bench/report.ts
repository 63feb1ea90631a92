/**
 * The benchmark's data model, its summary (medians and spreads over rounds,
 * ratios taken within a round), the markdown report and the figures block
 * of `bench/README.md`.
 *
 * @module
 */

/** Who wrote a server. */
export type Impl = "c" | "bun" | "go" | "deno" | "node" | "lib" | "python" | "asyncio";

/** The field's columns, in the order the tables and the chart show them. */
export const IMPLS: { impl: Impl; label: string }[] = [
  { impl: "c", label: "C epoll (the limit)" },
  { impl: "bun", label: "Bun" },
  { impl: "go", label: "Go" },
  { impl: "deno", label: "raw Deno" },
  { impl: "node", label: "Node" },
  { impl: "lib", label: "this library" },
  { impl: "python", label: "CPython socketserver" },
  { impl: "asyncio", label: "CPython asyncio" },
];

/** A load pattern. */
export interface WorkloadInfo {
  /** Short id, as `BENCH_ONLY` takes it. */
  id: string;
  /** The table's heading. */
  title: string;
  /** The field table's row label. */
  short?: string;
  /** What the servers listen on. */
  transport: "tcp" | "udp" | "unix" | "unixdgram";
  /** The load generator's mode; `idle` holds connections and measures memory. */
  mode: "persist" | "connect" | "udp" | "idle";
  /** Concurrent connections (or client sockets). */
  conns: number;
  /** Bytes per request, newline included. */
  size: number;
  /** Whether the reply comes back upper-cased (the seed's handler). */
  upper?: boolean;
  /** The raw Deno server every ratio divides by. */
  reference: string;
  /** A raw Deno server running the least a Python-shaped handler costs per request: the gap
   * text splits the library's share at it. */
  floor?: string;
  /** `false`: a comparison of two of this library's servers, left out of
   * the field table (one column per implementation).
   * @default {true} */
  field?: boolean;
}

/** A server under test. */
export interface ServerInfo {
  /** Short id. */
  id: string;
  /** The table's row label. */
  name: string;
  /** Who wrote it. */
  impl: Impl;
  /** The workload ids it runs. */
  serves: string[];
  /** The command that starts it (a Unix socket path is appended). */
  command: string[];
  /** Set when its runtime cannot do the workload at all: why. It never runs. */
  unsupported?: string;
}

/** What a figure compares. */
export type Metric = "rps" | "cpu" | "p99" | "rss";

/** A figure from the issue: a bound on a ratio between two servers. */
export interface Target {
  /** The workload id. */
  workload: string;
  /** The server measured. */
  server: string;
  /** The server it is compared with. */
  versus: string;
  /** What is compared: `rss` is memory per idle connection; without it,
   * requests/s (the server's whole RSS for the idle workload). */
  metric?: Metric;
  /** The ratio's median must be at least this. */
  atLeast?: number;
  /** The ratio's median must be at most this. */
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
  /** The load generator's JSON (plus RSS fields for the idle workload). */
  result?: Record<string, number>;
  /** Why it did not run (a runtime not installed, a build that failed). */
  skipped?: string;
  /** Why it failed. */
  error?: string;
}

/** Everything one `deno task bench` run produced. */
export interface Report {
  /** When it started, ISO 8601. */
  date: string;
  /** Where it ran. */
  machine: {
    cpu: string;
    cores: number;
    kernel?: string;
    memory?: string;
    loadavg: string;
    loadavgAfter?: string;
  };
  /** The runtimes and tools, by name (`deno`, `node`, `bun`, `go`, ...). */
  versions: Record<string, string>;
  /** Seconds per measured run. */
  seconds: number;
  /** Seconds of warm-up before each. */
  warmup: number;
  /** How many rounds. */
  rounds: number;
  /** How long the whole run took, seconds. */
  elapsed?: number;
  /** How the run measured, in words (reports from before the field have none). */
  method?: string;
  /** The workloads run. */
  workloads: WorkloadInfo[];
  /** The servers. */
  servers: ServerInfo[];
  /** The issue's figures. */
  targets: Target[];
  /** Which load generator produced each workload's table. */
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
  /** The server's CPU time (user + system, all threads and children) per
   * request, µs: steadier than requests/s on a shared machine. */
  cpu: Spread | null;
  /** `value` over the reference's in the same round. */
  ratio: Spread | null;
  /** CPU per request over the reference's in the same round. */
  cpuRatio: Spread | null;
  /** For the idle workload: RSS growth per 10,000 connections, KiB. */
  per10k: Spread | null;
  /** For the idle workload: connections held, median. */
  held: number | null;
  /** Errors and mismatches reported by the load generator, over all rounds. */
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

/** One measurement's value of a metric (null when it has none). */
export function value(
  w: WorkloadInfo,
  m: Measurement | undefined,
  metric: Metric | "value" = "value",
): number | null {
  const r = m?.result;
  if (!r) return null;
  const v = metric === "value"
    ? (w.mode === "idle" ? r.rss_kb : r.rps)
    : metric === "rps"
    ? r.rps
    : metric === "cpu"
    ? r.cpu_us_per_req
    : metric === "p99"
    ? r.p99_us
    : r.per_10k_kb;
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function find(report: Report, round: number, workload: string, server: string) {
  return report.measurements.find((m) =>
    m.round === round && m.workload === workload && m.server === server
  );
}

/** `a / b` of a metric per round, for the rounds where both ran. */
export function ratios(
  report: Report,
  workload: string,
  a: string,
  b: string,
  metric: Metric | "value" = "value",
): number[] {
  const w = report.workloads.find((x) => x.id === workload);
  if (!w) return [];
  const out: number[] = [];
  for (let round = 1; round <= report.rounds; round++) {
    const x = value(w, find(report, round, workload, a), metric);
    const y = value(w, find(report, round, workload, b), metric);
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
      const all = (metric: Metric | "value") =>
        spread(ok.map((m) => value(w, m, metric)).filter((v): v is number => v !== null));
      const median = (f: (r: Record<string, number>) => number) =>
        spread(ok.map((m) => f(m.result!)))?.median ?? null;
      const idle = w.mode === "idle";
      const failed = runs.find((m) => !m.result);
      figures.push({
        workload: w.id,
        server: s.id,
        value: all("value"),
        mbps: idle ? null : median((r) => r.mbps),
        p50: idle ? null : median((r) => r.p50_us),
        p99: idle ? null : median((r) => r.p99_us),
        cpu: idle ? null : all("cpu"),
        ratio: spread(ratios(report, w.id, s.id, w.reference)),
        cpuRatio: idle ? null : spread(ratios(report, w.id, s.id, w.reference, "cpu")),
        per10k: idle ? all("rss") : null,
        held: idle ? median((r) => r.held) : null,
        errors: ok.reduce((n, m) => n + (m.result!.errors ?? 0) + (m.result!.mismatches ?? 0), 0),
        note: s.unsupported
          ? `n/a: ${s.unsupported}`
          : failed
          ? failed.skipped ? `n/a: ${failed.skipped}` : `failed: ${failed.error}`
          : undefined,
      });
    }
  }
  return figures;
}

const int = (n: number) => Math.round(n).toLocaleString("en");
const fixed = (n: number, d = 2) => n.toFixed(d);
const kilo = (n: number) => n >= 10_000 ? `${Math.round(n / 1000)}k` : `${(n / 1000).toFixed(1)}k`;

function range(s: Spread, f: (n: number) => string): string {
  return s.min !== s.max ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median);
}

/** The result of a target: the measured ratios and whether the median meets it. */
export function evaluate(report: Report, t: Target): { ratio: Spread | null; met: boolean | null } {
  const ratio = spread(ratios(report, t.workload, t.server, t.versus, t.metric ?? "value"));
  if (!ratio) return { ratio, met: null };
  const met = (t.atLeast === undefined || ratio.median >= t.atLeast) &&
    (t.atMost === undefined || ratio.median <= t.atMost);
  return { ratio, met };
}

/** The primary server of an implementation on a workload: the first listed. */
function primary(report: Report, impl: Impl, workload: string): ServerInfo | undefined {
  return report.servers.find((s) => s.impl === impl && s.serves.includes(workload));
}

function machineLines(report: Report): string[] {
  const { machine: m, versions: v } = report;
  const tools = Object.entries(v)
    .filter(([name]) => name !== "v8") // older reports kept V8 apart
    .map(([name, text]) => `${name}: ${name === "deno" && v.v8 ? `${text} (V8 ${v.v8})` : text}`)
    .join(" · ");
  return [
    `${m.cores} × ${m.cpu}${m.memory ? `, ${m.memory}` : ""}${
      m.kernel ? `, Linux ${m.kernel}` : ""
    }; load average (1, 5, 15 min) ${m.loadavg} at the start, ${m.loadavgAfter ?? "?"} at the end.`,
    "",
    `Versions: ${tools}.`,
  ];
}

/** How `deno task bench` measures, as its reports say it. */
export const METHOD =
  "every server in its own process, driven by the same closed-loop client; within a round each workload visits every server once, the order rotated from round to round. Server CPU per request is user + system time of the server's process and its children over the measured window, read from `/proc/PID/stat` by the client at the window's edges, ÷ requests answered. Figures are medians over the rounds; (min–max) is the spread; every ratio is taken within one round, then its median and spread reported.";

function methodLine(report: Report): string {
  const clients = [...new Set(Object.values(report.clients))].join("; ");
  return `${report.rounds} round(s) of ${report.seconds} s per run after ${report.warmup} s of warm-up${
    report.elapsed ? `, ${Math.round(report.elapsed / 60)} minutes in all` : ""
  }; client: ${clients}; ${
    report.method ??
      "measured by the suite before the field (servers in a fixed order each round, server CPU read by the harness around the client's run); ratios taken within a round."
  }`;
}

/** The field at a glance: one row per workload, one column per
 * implementation, each cell the primary server's CPU per request and
 * requests/s (RSS growth per 10,000 connections for the idle workload). */
export function fieldTable(report: Report, figures: Figure[]): string[] {
  const columns = IMPLS.filter((c) => report.servers.some((s) => s.impl === c.impl));
  const lines = [
    `| workload: server CPU µs/request (requests/s) | ${
      columns.map((c) => c.impl === "lib" ? `**${c.label}**` : c.label).join(" | ")
    } |`,
    `| --- | ${columns.map(() => "---").join(" | ")} |`,
  ];
  const skipped = new Map<string, string>();
  for (const w of report.workloads) {
    if (w.field === false) continue;
    const cells = columns.map((c) => {
      const s = primary(report, c.impl, w.id);
      if (!s) return "";
      const f = figures.find((x) => x.workload === w.id && x.server === s.id);
      if (s.unsupported) return "n/a";
      if (!f?.value) {
        if (f?.note) skipped.set(c.label, f.note.replace(/^n\/a: /, ""));
        return "–";
      }
      const text = w.mode === "idle"
        ? `${fixed((f.per10k?.median ?? 0) / 1024, 1)} MiB`
        : `${fixed(f.cpu?.median ?? 0, 1)} (${kilo(f.value.median)})`;
      return c.impl === "lib" ? `**${text}**` : text;
    });
    lines.push(`| ${w.short ?? w.title} | ${cells.join(" | ")} |`);
  }
  const notes = [...skipped].map(([label, why]) => `${label}: ${why}`);
  if (notes.length) lines.push("", `Not measured — ${notes.join("; ")}.`);
  return lines;
}

/** The workloads left out of the field (`field: false`), each a small
 * table of its servers against its reference. */
export function comparisonLines(report: Report, figures: Figure[]): string[] {
  const name = (id: string) => report.servers.find((s) => s.id === id)?.name ?? id;
  const lines: string[] = [];
  for (const w of report.workloads.filter((w) => w.field === false)) {
    const rows = figures.filter((f) => f.workload === w.id && f.value);
    if (rows.length === 0) continue;
    lines.push(
      "",
      `**${w.title}** (\`-m ${w.mode} -c ${w.conns} -s ${w.size}\`; ratios over ${
        name(w.reference)
      }, per round):`,
      "",
      "| Server | requests/s | p99 µs | server CPU µs/request | × req/s | × CPU/request |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const f of rows) {
      const ratio = (s: Spread | null) => s ? range(s, fixed) : "–";
      lines.push(
        `| ${name(f.server)} | ${range(f.value!, int)} | ${int(f.p99 ?? 0)} | ${
          f.cpu ? range(f.cpu, (n) => fixed(n, 1)) : "–"
        } | ${ratio(f.ratio)} | ${ratio(f.cpuRatio)} |`,
      );
    }
  }
  return lines;
}

/** The gap to the C limit in words, per workload: what raw Deno adds to C
 * (Deno's per-operation cost) and what this library adds to raw Deno. */
export function gapLines(report: Report): string[] {
  const lines: string[] = [];
  for (const w of report.workloads) {
    const c = primary(report, "c", w.id);
    const lib = primary(report, "lib", w.id);
    if (!c || !lib) continue;
    const idle = w.mode === "idle";
    const metric: Metric = idle ? "rss" : "cpu";
    const per: { c: number; d: number; l: number }[] = [];
    for (let round = 1; round <= report.rounds; round++) {
      const get = (id: string) => value(w, find(report, round, w.id, id), metric);
      const [cv, dv, lv] = [get(c.id), get(w.reference), get(lib.id)];
      if (cv !== null && dv !== null && lv !== null) per.push({ c: cv, d: dv, l: lv });
    }
    const label = w.short ?? w.title;
    if (per.length === 0) {
      lines.push(`- ${label}: not measured in this run (C, raw Deno and this library all needed).`);
      continue;
    }
    const med = (f: (x: { c: number; d: number; l: number }) => number) =>
      spread(per.map(f))!.median;
    const c0 = med((x) => x.c), d0 = med((x) => x.d), l0 = med((x) => x.l);
    const denoX = med((x) => x.d / x.c), libX = med((x) => x.l / x.d);
    const share = med((x) => x.l > x.c ? (x.d - x.c) / (x.l - x.c) : NaN);
    const unit = idle ? " MiB per 10,000 connections" : " µs of CPU per request";
    const f = (n: number) => idle ? fixed(n / 1024, 1) : fixed(n, 1);
    const plus = (n: number) => `${n >= 0 ? "+" : "−"}${f(Math.abs(n))}`;
    let text = `- ${label}: C needs ${f(c0)}${unit}; raw Deno ${f(d0)} (${fixed(denoX)}× C, ${
      plus(d0 - c0)
    }: Deno's per-operation cost); this library ${f(l0)} (${fixed(libX)}× raw Deno, ${
      plus(l0 - d0)
    }: the library's own).`;
    if (Number.isFinite(share)) {
      const deno = Math.round(Math.min(1, Math.max(0, share)) * 100);
      text += ` Of the library's gap to C, ${deno} % is Deno's and ${100 - deno} % the library's.`;
    }
    const floor = w.floor === undefined
      ? null
      : floorLine(report, w.id, w.reference, w.floor, lib.id);
    if (floor !== null) text += ` ${floor}`;
    if (report.rounds > 1) text += ` (Medians of per-round values over ${per.length} rounds.)`;
    lines.push(text);
  }
  return lines;
}

/** Where a handler's floor (`floorId`) puts the library (`libId`) between raw Deno and itself. */
function floorLine(
  report: Report,
  workload: string,
  rawId: string,
  floorId: string,
  libId: string,
): string | null {
  const w = report.workloads.find((x) => x.id === workload)!;
  const per: { d: number; f: number; l: number }[] = [];
  for (let round = 1; round <= report.rounds; round++) {
    const get = (id: string) => value(w, find(report, round, workload, id), "cpu");
    const [dv, fv, lv] = [get(rawId), get(floorId), get(libId)];
    if (dv !== null && fv !== null && lv !== null) per.push({ d: dv, f: fv, l: lv });
  }
  if (per.length === 0) return null;
  const med = (f: (x: { d: number; f: number; l: number }) => number) => spread(per.map(f))!.median;
  return `The same loop with a handler object and an async \`handle()\` per request, and no library (the least Python's handler contract costs), needs ${
    fixed(med((x) => x.f), 1)
  } (${fixed(med((x) => x.f / x.d))}× raw Deno): this library is ${
    fixed(med((x) => x.l / x.f))
  }× that floor.`;
}

function gapOrWhy(report: Report): string[] {
  const lines = gapLines(report);
  return lines.length
    ? lines
    : ["Not measured: this run had no C server beside raw Deno and this library."];
}

/** The issue's figures: each ratio's median and spread, and whether it is met. */
export function targetsTable(report: Report): string[] {
  const name = (id: string) => report.servers.find((s) => s.id === id)?.name ?? id;
  const targets = report.targets.filter((t) => report.workloads.some((w) => w.id === t.workload));
  if (targets.length === 0) return [];
  const what: Record<Metric, string> = {
    rps: "requests/s",
    cpu: "CPU/request",
    p99: "p99 latency",
    rss: "RSS per connection",
  };
  const lines = [
    "| Workload | Server | Compared with | Ratio of | Target | Measured: median (min–max) | Met |",
    "| --- | --- | --- | --- | ---: | ---: | --- |",
  ];
  for (const t of targets) {
    const { ratio, met } = evaluate(report, t);
    const idle = report.workloads.find((w) => w.id === t.workload)?.mode === "idle";
    const bound = [
      t.atLeast !== undefined ? `≥ ${t.atLeast}×` : "",
      t.atMost !== undefined ? `≤ ${t.atMost}×` : "",
    ].filter(Boolean).join(", ");
    lines.push(
      `| ${t.workload} | ${name(t.server)} | ${name(t.versus)} | ${
        t.metric ? what[t.metric] : idle ? "RSS" : "requests/s"
      } | ${bound} | ${ratio ? range(ratio, fixed) + "×" : "–"} | ${
        met === null ? "not measured" : met ? "yes" : "**no**"
      } |`,
    );
  }
  return lines;
}

/** The markdown report: the field, the gap to C, one table per workload,
 * then the issue's figures. */
export function renderMarkdown(report: Report, figures: Figure[]): string {
  const name = (id: string) => report.servers.find((s) => s.id === id)?.name ?? id;
  const lines: string[] = [
    "# Benchmark results",
    "",
    `${report.date}`,
    "",
    ...machineLines(report),
    "",
    methodLine(report),
    "",
    "## The field",
    "",
    ...fieldTable(report, figures),
    "",
    "## The gap to the C limit",
    "",
    ...gapOrWhy(report),
    "",
  ];
  for (const w of report.workloads) {
    const rows = figures.filter((f) => f.workload === w.id);
    lines.push(
      `## ${w.title}`,
      "",
      `Client: ${report.clients[w.id]} \`-m ${w.mode} -c ${w.conns} -s ${w.size}${
        w.upper ? " -U" : ""
      }\`` + (w.mode === "idle"
        ? " (opens the connections 100 at a time, one echoed line on each, then holds them)"
        : "") +
        `. Ratios: over ${name(w.reference)}, per round.`,
      "",
    );
    const row = (cells: string[]) =>
      lines.push(`| ${cells.join(" | ")} |`);
    const ratio = (s: Spread | null) => s ? range(s, fixed) : "–";
    if (w.mode === "idle") {
      row([
        "Server",
        "connections held",
        "RSS with them (MiB)",
        "RSS growth per 10,000 connections (MiB)",
        "× raw Deno's growth",
        "errors",
      ]);
      row(["---", "---:", "---:", "---:", "---:", "---:"]);
      for (const f of rows) {
        if (!f.value) row([name(f.server), f.note ?? "–", "", "", "", ""]);
        else {
          row([
            name(f.server),
            int(f.held ?? 0),
            range(f.value, (n) => fixed(n / 1024, 1)),
            f.per10k ? range(f.per10k, (n) => fixed(n / 1024, 1)) : "–",
            ratio(spread(ratios(report, w.id, f.server, w.reference, "rss"))),
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
        "server CPU µs/request",
        `× ${w.field === false ? "reference" : "raw Deno"} req/s`,
        `× ${w.field === false ? "reference" : "raw Deno"} CPU/req`,
        "errors",
      ]);
      row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]);
      for (const f of rows) {
        if (!f.value) row([name(f.server), f.note ?? "–", "", "", "", "", "", "", ""]);
        else {
          row([
            name(f.server),
            range(f.value, int),
            fixed(f.mbps ?? 0),
            int(f.p50 ?? 0),
            int(f.p99 ?? 0),
            f.cpu ? range(f.cpu, (n) => fixed(n, 1)) : "–",
            ratio(f.ratio),
            ratio(f.cpuRatio),
            String(f.errors),
          ]);
        }
      }
    }
    lines.push("");
  }
  const targets = targetsTable(report);
  if (targets.length) lines.push("## The issue's figures", "", ...targets, "");
  return lines.join("\n");
}

/** The figures block of `bench/README.md`, between its markers. */
export function renderReadmeBlock(report: Report, figures: Figure[]): string {
  const targets = targetsTable(report);
  return [
    `Generated by \`deno task bench\` from the run of ${report.date.slice(0, 10)} (${
      report.date.slice(11, 16)
    } UTC); every number below is in [results/latest.md](results/latest.md), with each run's raw figures in [latest.json](results/latest.json).`,
    "",
    ...machineLines(report),
    "",
    methodLine(report),
    "",
    ...fieldTable(report, figures),
    ...comparisonLines(report, figures),
    "",
    "**The gap to the C limit**, in server CPU per request (memory for idle connections):",
    "",
    ...gapOrWhy(report),
    ...(targets.length ? ["", "**The issue's figures** (per-round ratios):", "", ...targets] : []),
  ].join("\n");
}

/** The markers around the generated block in `bench/README.md`. */
export const README_MARKERS = [
  "<!-- figures:start (generated by deno task bench: do not edit by hand) -->",
  "<!-- figures:end -->",
] as const;

/** `readme` with the text between its markers replaced by `block`. */
export function replaceReadmeBlock(readme: string, block: string): string {
  const [start, end] = README_MARKERS;
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a === -1 || b === -1 || b < a) {
    throw new Error(`bench/README.md has no "${start}" … "${end}" markers: put them back`);
  }
  return readme.slice(0, a + start.length) + "\n\n" + block + "\n\n" + readme.slice(b);
}
