/**
 * The whole process's CPU per request that the OpenTelemetry calls an
 * instrumented server would make cost, with Deno's exporter off and on
 * (issue 19), counting the exporter's own thread:
 *
 *     deno run -A bench/otel_cost.ts [requests] [rounds]
 *
 * A child process runs `requests` request-shaped units (an async handler
 * inside a SERVER span, 4 metric calls), yielding to the event loop every 100
 * so that the exporter keeps up, and reports its user+system CPU from
 * /proc/PID/stat (reading its own needs -A). The OTLP receiver (this process) checks that every span
 * arrived, so that the "on" figure includes exporting them all.
 *
 * @module
 */
import { OtlpReceiver } from "../tests/_otlp_receiver.ts";

const TICKS = 100; // USER_HZ on Linux

async function cpuSeconds(pid: number = Deno.pid): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
}

async function child(mode: string, requests: number): Promise<void> {
  const { context, metrics, SpanKind, SpanStatusCode, trace } = await import(
    "npm:@opentelemetry/api@1"
  );
  const tracer = trace.getTracer("cost");
  const meter = metrics.getMeter("cost");
  const total = meter.createCounter("cost.requests", { unit: "{request}" });
  const open = meter.createUpDownCounter("cost.connections.open", { unit: "{connection}" });
  const duration = meter.createHistogram("cost.request.duration", {
    unit: "s",
    advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] },
  });
  const OK = { outcome: "ok" };
  const handler = async () => await Promise.resolve();
  async function instrumented(i: number): Promise<void> {
    const started = performance.now();
    open.add(1);
    const span = tracer.startSpan("request", {
      kind: SpanKind.SERVER,
      attributes: {
        "network.transport": "tcp",
        "network.type": "ipv4",
        "network.peer.address": "127.0.0.1",
        "network.peer.port": 40000 + (i % 20000),
        "server.address": "127.0.0.1",
        "server.port": 8000,
      },
    });
    try {
      await context.with(trace.setSpan(context.active(), span), handler);
      span.setStatus({ code: SpanStatusCode.OK });
    } finally {
      open.add(-1);
      total.add(1, OK);
      duration.record((performance.now() - started) / 1000, OK);
      span.end();
    }
  }
  async function metricsOnly(): Promise<void> {
    const started = performance.now();
    open.add(1);
    try {
      await handler();
    } finally {
      open.add(-1);
      total.add(1, OK);
      duration.record((performance.now() - started) / 1000, OK);
    }
  }
  const run = mode === "bare" ? handler : mode === "on, metrics only" ? metricsOnly : instrumented;
  const before = await cpuSeconds();
  const wall = performance.now();
  for (let i = 0; i < requests; i++) {
    await run(i);
    if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const after = await cpuSeconds();
  console.log(JSON.stringify({ cpu: after - before, wall: (performance.now() - wall) / 1000 }));
}

/** The runs of a round: without the calls, with the exporter off, and on
 * (as JSON to the receiver, as protobuf, which the receiver refuses after
 * the exporter has done its work, sampling a tenth of the traces, and with
 * the 4 metric calls but no span). */
const MODES = ["bare", "off", "on", "on, protobuf", "on, 10% sampled", "on, metrics only"] as const;
type Mode = typeof MODES[number];

function environment(receiver: OtlpReceiver, mode: Mode): Record<string, string> {
  if (mode === "bare" || mode === "off") return { OTEL_DENO: "false" };
  const on = receiver.env({ OTEL_BSP_MAX_QUEUE_SIZE: "8192" });
  if (mode === "on, protobuf") on.OTEL_EXPORTER_OTLP_PROTOCOL = "http/protobuf";
  if (mode === "on, 10% sampled") {
    on.OTEL_TRACES_SAMPLER = "traceidratio";
    on.OTEL_TRACES_SAMPLER_ARG = "0.1";
  }
  return on;
}

async function measure(
  receiver: OtlpReceiver,
  mode: Mode,
  requests: number,
): Promise<{ cpuUs: number; wallUs: number }> {
  const env = environment(receiver, mode);
  const output = await new Deno.Command("deno", {
    args: ["run", "-A", import.meta.filename!, "--child", mode, String(requests)],
    env,
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`The ${mode} child failed with code ${output.code}`);
  const { cpu, wall } = JSON.parse(new TextDecoder().decode(output.stdout));
  return { cpuUs: cpu / requests * 1e6, wallUs: wall / requests * 1e6 };
}

if (Deno.args[0] === "--child") {
  await child(Deno.args[1], Number(Deno.args[2]));
} else {
  const requests = Number(Deno.args[0] ?? 100_000);
  const rounds = Number(Deno.args[1] ?? 3);
  if (!(requests > 0 && rounds > 0)) {
    throw new Error(
      `Usage: deno run -A bench/otel_cost.ts [requests] [rounds], got "${Deno.args}"`,
    );
  }
  await using receiver = await OtlpReceiver.start();
  // The receiver keeps only a count: 100,000 spans held as objects would
  // weigh on this process, which shares the machine with the child.
  let received = 0;
  receiver.onReceive = (signal, items) => {
    if (signal === "traces") received += items.length;
    receiver.spans.length = 0;
    receiver.points.length = 0;
  };
  const receiverBefore = await cpuSeconds();
  for (let round = 1; round <= rounds; round++) {
    for (const mode of MODES) {
      const before = { received, refused: receiver.requests.refused };
      const { cpuUs, wallUs } = await measure(receiver, mode, requests);
      const got = mode === "on, protobuf"
        ? `, ${receiver.requests.refused - before.refused} requests refused`
        : mode.startsWith("on")
        ? `, spans received ${received - before.received} of ${requests}`
        : "";
      console.log(
        `round ${round} ${mode.padEnd(16)}: ${cpuUs.toFixed(2).padStart(6)} µs CPU, ${
          wallUs.toFixed(2)
        } µs wall per request${got}`,
      );
    }
  }
  console.log(
    `receiver (this process): ${(await cpuSeconds() - receiverBefore).toFixed(2)} s CPU`,
  );
}
