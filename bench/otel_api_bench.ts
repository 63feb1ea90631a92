/**
 * What one call of `npm:@opentelemetry/api` costs on the JavaScript thread,
 * with Deno's exporter off and on (issue 19: the instrumentation must be
 * within 3 % when off):
 *
 *     deno bench bench/otel_api_bench.ts
 *     OTEL_DENO=true OTEL_DENO_CONSOLE=ignore OTEL_EXPORTER_OTLP_PROTOCOL=http/json \
 *       OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:PORT deno bench bench/otel_api_bench.ts
 *
 * Exports run on Deno's own thread and are not in these figures; see
 * bench/otel_cost.ts for the whole process's CPU per request.
 *
 * @module
 */
import { context, metrics, SpanKind, SpanStatusCode, trace } from "npm:@opentelemetry/api@1";

const tracer = trace.getTracer("bench");
const meter = metrics.getMeter("bench");
const requests = meter.createCounter("bench.requests", { unit: "{request}" });
const open = meter.createUpDownCounter("bench.connections.open", { unit: "{connection}" });
const duration = meter.createHistogram("bench.request.duration", {
  unit: "s",
  advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] },
});
const OK = { outcome: "ok" };
// A span records only when Deno's exporter is on (OTEL_DENO=true).
const group = tracer.startSpan("probe").isRecording() ? "exporter on" : "exporter off";

function attributes(): Record<string, string | number> {
  return {
    "network.transport": "tcp",
    "network.type": "ipv4",
    "network.peer.address": "127.0.0.1",
    "network.peer.port": 40000,
    "server.address": "127.0.0.1",
    "server.port": 8000,
  };
}

Deno.bench({
  name: `${group}: nothing (the loop itself)`,
  group: "calls",
  baseline: true,
  fn: () => {},
});

Deno.bench({
  name: `${group}: counter.add(1, attributes)`,
  group: "calls",
  fn: () => requests.add(1, OK),
});

Deno.bench({
  name: `${group}: upDownCounter.add(+1) and add(-1)`,
  group: "calls",
  fn: () => {
    open.add(1);
    open.add(-1);
  },
});

Deno.bench({
  name: `${group}: histogram.record(seconds, attributes)`,
  group: "calls",
  fn: () => duration.record(0.0123, OK),
});

Deno.bench({
  name: `${group}: startSpan(SERVER, 6 attributes), setStatus, end`,
  group: "calls",
  fn: () => {
    const span = tracer.startSpan("request", { kind: SpanKind.SERVER, attributes: attributes() });
    span.setStatus({ code: SpanStatusCode.OK });
    span.end();
  },
});

async function handler(): Promise<void> {
  await Promise.resolve();
}

Deno.bench({
  name: `${group}: a request: nothing but the async handler`,
  group: "request",
  baseline: true,
  fn: async () => await handler(),
});

// What instrument(server) would add to each request: a SERVER span made
// active around the handler, the outcome, and three metric calls.
Deno.bench({
  name: `${group}: a request: span, context.with, 4 metric calls`,
  group: "request",
  fn: async () => {
    const started = performance.now();
    open.add(1);
    const span = tracer.startSpan("request", { kind: SpanKind.SERVER, attributes: attributes() });
    try {
      await context.with(trace.setSpan(context.active(), span), handler);
      span.setStatus({ code: SpanStatusCode.OK });
    } finally {
      open.add(-1);
      requests.add(1, OK);
      duration.record((performance.now() - started) / 1000, OK);
      span.end();
    }
  },
});
