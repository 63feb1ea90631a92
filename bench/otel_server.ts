/**
 * What observing costs a real server (issue 19), in one interleaved A/B run
 * per workload, server CPU per request and requests/s from the same load
 * generator as `deno task bench`:
 *
 * - `base` (with `--base DIR`): the library of another tree — a checkout
 *   before `stats()`'s counters — to show what the counters cost;
 * - `plain`: this tree's server;
 * - `off`: the same through `instrument()`, `OTEL_DENO` unset;
 * - `on`: through `instrument()` with `OTEL_DENO=true`, exporting JSON to a
 *   receiver in this process (which counts the spans that arrive);
 * - `metrics`: the same with `instrument(server, { spans: false })`.
 *
 *     deno run -A bench/otel_server.ts [--base DIR] [--only line-50,oneshot,udp] [rounds] [seconds]
 *
 * Prints, per workload and configuration, the medians over rounds and the
 * per-round ratios to `plain` (median, min–max).
 *
 * @module
 */
import { loadgen } from "./build.ts";
import { OtlpReceiver } from "../tests/_otlp_receiver.ts";
import { option, positionals } from "./_args.ts";
import { type Config, serverFor } from "./_otel_configs.ts";

interface Workload {
  id: string;
  mode: string;
  args: string[];
}
const WORKLOADS: Workload[] = [
  { id: "line-50", mode: "threading-line", args: ["-m", "persist", "-c", "50", "-s", "64"] },
  {
    id: "oneshot",
    mode: "threading-oneshot",
    args: ["-m", "connect", "-c", "20", "-s", "64", "-U"],
  },
  { id: "udp", mode: "udp", args: ["-m", "udp", "-c", "20", "-s", "64"] },
];

const base = option("--base");
const only = option("--only")?.split(",");
const positional = positionals();
const rounds = Number(positional[0] ?? 5);
const seconds = Number(positional[1] ?? 3);
const CONFIGS: Config[] = base === undefined
  ? ["plain", "off", "on", "metrics"]
  : ["base", "plain", "off", "on", "metrics"];

function lines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void): Promise<void> {
  return (async () => {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      let nl;
      while ((nl = pending.indexOf("\n")) !== -1) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    }
  })().catch(() => {});
}

async function run(
  config: Config,
  w: Workload,
  client: string,
  receiver: OtlpReceiver,
): Promise<{ cpu: number; rps: number; requests: number }> {
  const { script, mode, env } = serverFor(config, w.mode, receiver, base);
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--unstable-net", "-A", script, mode],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const ready = Promise.withResolvers<{ port: number; pid: number }>();
  const reading = lines(server.stdout, (line) => {
    if (line.startsWith("READY ")) ready.resolve(JSON.parse(line.slice(6)));
  });
  try {
    const { port, pid } = await ready.promise;
    const out = await new Deno.Command(client, {
      args: [
        ...["-h", "127.0.0.1", "-p", String(port)],
        ...w.args,
        ...["-w", "0.5", "-d", String(seconds), "-P", String(pid)],
      ],
      stderr: "inherit",
    }).output();
    const result = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
    return { cpu: result.cpu_us_per_req, rps: result.rps, requests: result.requests };
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await reading;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

if (import.meta.main) {
  const client = await loadgen();
  await using receiver = await OtlpReceiver.start();
  let spans = 0;
  receiver.onReceive = (signal, items) => {
    if (signal === "traces") spans += items.length;
    receiver.spans.length = 0;
    receiver.points.length = 0;
    receiver.logs.length = 0;
  };
  for (const w of WORKLOADS.filter((w) => only === undefined || only.includes(w.id))) {
    const figures = new Map<Config, { cpu: number; rps: number }[]>();
    let requestsOn = 0;
    const spansBefore = spans;
    for (let round = 0; round < rounds; round++) {
      // rotate the order from round to round
      const order = CONFIGS.map((_, i) => CONFIGS[(i + round) % CONFIGS.length]);
      for (const config of order) {
        const f = await run(config, w, client, receiver);
        if (config === "on") requestsOn += f.requests;
        figures.set(config, [...figures.get(config) ?? [], f]);
      }
    }
    console.log(`\n${w.id} (${w.mode}), ${rounds} rounds × ${seconds} s:`);
    const plain = figures.get("plain")!;
    for (const config of CONFIGS) {
      const f = figures.get(config)!;
      const ratios = f.map((x, i) => x.cpu / plain[i].cpu);
      console.log(
        `  ${config.padEnd(5)} CPU ${median(f.map((x) => x.cpu)).toFixed(2)} µs/req, ` +
          `${Math.round(median(f.map((x) => x.rps)))} req/s; CPU ÷ plain ${
            median(ratios).toFixed(3)
          } (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`,
      );
    }
    console.log(`  on: ${spans - spansBefore} spans received for ${requestsOn} requests measured`);
  }
}
