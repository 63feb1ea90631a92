/**
 * A small OTLP/HTTP receiver for tests: it accepts the `http/json` encoding
 * (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) on loopback, flattens what Deno's
 * exporter sends into spans, metric points and log records, and lets a test
 * wait (bounded) for the one it expects.
 *
 * Run it alone to watch what a program exports, one JSON line per item:
 *
 *     deno run --allow-net tests/_otlp_receiver.ts [port]
 *
 * @module
 */

/** An attribute value as JavaScript sees it: OTLP's `intValue` (an int64,
 * a string in JSON) becomes a number when it is a safe integer, else a bigint. */
export type AttributeValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | AttributeValue[]
  | { [key: string]: AttributeValue };

/** Attributes by key. */
export type Attributes = Record<string, AttributeValue>;

/** OTLP's span kinds, by name. */
export type SpanKindName =
  | "unspecified"
  | "internal"
  | "server"
  | "client"
  | "producer"
  | "consumer";
const SPAN_KINDS: SpanKindName[] = [
  "unspecified",
  "internal",
  "server",
  "client",
  "producer",
  "consumer",
];

/** OTLP's status codes, by name. */
export type StatusCodeName = "unset" | "ok" | "error";
const STATUS_CODES: StatusCodeName[] = ["unset", "ok", "error"];

/** One exported span. */
export interface Span {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  kind: SpanKindName;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Attributes;
  events: { name: string; timeUnixNano: bigint; attributes: Attributes }[];
  status: { code: StatusCodeName; message: string };
  scope: { name: string; version: string };
  resource: Attributes;
}

/** One metric data point, with its metric's name, unit and kind. Sums and
 * gauges carry `value`; histograms carry `count`, `sum` and the buckets. */
export interface MetricPoint {
  name: string;
  unit: string;
  description: string;
  type: "sum" | "gauge" | "histogram" | "exponentialHistogram" | "summary";
  /** For sums: whether the sum only goes up (a counter). */
  monotonic?: boolean;
  /** 1 delta, 2 cumulative (OTLP's enum); absent for gauges. */
  temporality?: number;
  attributes: Attributes;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  value?: number;
  count?: number;
  sum?: number;
  min?: number;
  max?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
  scope: { name: string; version: string };
  resource: Attributes;
  /** Which metrics export brought it (1 for the first). */
  export: number;
}

/** One exported log record. */
export interface LogRecord {
  body: AttributeValue;
  severityText: string;
  severityNumber: number;
  attributes: Attributes;
  traceId: string;
  spanId: string;
  scope: { name: string; version: string };
  resource: Attributes;
}

// deno-lint-ignore no-explicit-any
type Json = any;

function int64(value: unknown): bigint {
  return value === undefined || value === null || value === "" ? 0n : BigInt(value as string);
}

function number(value: unknown): number | undefined {
  return value === undefined || value === null ? undefined : Number(value);
}

/** Converts an OTLP `AnyValue` (JSON encoding) to JavaScript. */
export function anyValue(value: Json): AttributeValue {
  if (value === undefined || value === null) return null;
  if ("stringValue" in value) return value.stringValue;
  if ("boolValue" in value) return value.boolValue;
  if ("doubleValue" in value) return Number(value.doubleValue);
  if ("intValue" in value) {
    const big = BigInt(value.intValue);
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(big)
      : big;
  }
  if ("arrayValue" in value) return (value.arrayValue.values ?? []).map(anyValue);
  if ("kvlistValue" in value) return attributes(value.kvlistValue.values);
  if ("bytesValue" in value) return value.bytesValue; // base64, as OTLP's JSON encoding has it
  return null;
}

/** Converts an OTLP `KeyValue[]` to an object. */
export function attributes(list: Json[] | undefined): Attributes {
  const out: Attributes = {};
  for (const { key, value } of list ?? []) out[key] = anyValue(value);
  return out;
}

function scopeOf(scope: Json): { name: string; version: string } {
  return { name: scope?.name ?? "", version: scope?.version ?? "" };
}

function spansOf(body: Json): Span[] {
  const out: Span[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      const scope = scopeOf(ss.scope);
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: s.traceId ?? "",
          spanId: s.spanId ?? "",
          parentSpanId: s.parentSpanId ?? "",
          name: s.name ?? "",
          kind: SPAN_KINDS[Number(s.kind ?? 0)] ?? "unspecified",
          startTimeUnixNano: int64(s.startTimeUnixNano),
          endTimeUnixNano: int64(s.endTimeUnixNano),
          attributes: attributes(s.attributes),
          events: (s.events ?? []).map((e: Json) => ({
            name: e.name ?? "",
            timeUnixNano: int64(e.timeUnixNano),
            attributes: attributes(e.attributes),
          })),
          status: {
            code: STATUS_CODES[Number(s.status?.code ?? 0)] ?? "unset",
            message: s.status?.message ?? "",
          },
          scope,
          resource,
        });
      }
    }
  }
  return out;
}

const METRIC_TYPES = ["sum", "gauge", "histogram", "exponentialHistogram", "summary"] as const;

function pointsOf(body: Json, exportNumber: number): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (const rm of body.resourceMetrics ?? []) {
    const resource = attributes(rm.resource?.attributes);
    for (const sm of rm.scopeMetrics ?? []) {
      const scope = scopeOf(sm.scope);
      for (const m of sm.metrics ?? []) {
        const type = METRIC_TYPES.find((t) => t in m);
        if (type === undefined) continue;
        const data = m[type];
        for (const p of data.dataPoints ?? []) {
          out.push({
            name: m.name ?? "",
            unit: m.unit ?? "",
            description: m.description ?? "",
            type,
            monotonic: type === "sum" ? Boolean(data.isMonotonic) : undefined,
            temporality: number(data.aggregationTemporality),
            attributes: attributes(p.attributes),
            startTimeUnixNano: int64(p.startTimeUnixNano),
            timeUnixNano: int64(p.timeUnixNano),
            value: number(p.asDouble ?? p.asInt),
            count: number(p.count),
            sum: number(p.sum),
            min: number(p.min),
            max: number(p.max),
            bucketCounts: p.bucketCounts?.map(Number),
            explicitBounds: p.explicitBounds?.map(Number),
            scope,
            resource,
            export: exportNumber,
          });
        }
      }
    }
  }
  return out;
}

function logsOf(body: Json): LogRecord[] {
  const out: LogRecord[] = [];
  for (const rl of body.resourceLogs ?? []) {
    const resource = attributes(rl.resource?.attributes);
    for (const sl of rl.scopeLogs ?? []) {
      const scope = scopeOf(sl.scope);
      for (const r of sl.logRecords ?? []) {
        out.push({
          body: anyValue(r.body),
          severityText: r.severityText ?? "",
          severityNumber: Number(r.severityNumber ?? 0),
          attributes: attributes(r.attributes),
          traceId: r.traceId ?? "",
          spanId: r.spanId ?? "",
          scope,
          resource,
        });
      }
    }
  }
  return out;
}

/** Whether every attribute in `expected` is in `actual` with the same value. */
export function hasAttributes(actual: Attributes, expected: Attributes): boolean {
  return Object.entries(expected).every(([key, value]) => actual[key] === value);
}

const PATHS: Record<string, "traces" | "metrics" | "logs"> = {
  "/v1/traces": "traces",
  "/v1/metrics": "metrics",
  "/v1/logs": "logs",
};

/**
 * The receiver. Start it with {@linkcode OtlpReceiver.start}, give a child
 * {@linkcode OtlpReceiver.env}, and close it with `await using`.
 */
export class OtlpReceiver implements AsyncDisposable {
  /** Every span received, in arrival order. */
  readonly spans: Span[] = [];
  /** Every metric point received, in arrival order. Deno exports cumulative
   * sums and histograms, so a later point for the same series supersedes an
   * earlier one: see {@linkcode OtlpReceiver.lastPoint}. */
  readonly points: MetricPoint[] = [];
  /** Every log record received (Deno exports `console.*` output as logs
   * unless `OTEL_DENO_CONSOLE=ignore`). */
  readonly logs: LogRecord[] = [];
  /** Requests by signal, and those refused (not JSON, or not parseable). */
  readonly requests = { traces: 0, metrics: 0, logs: 0, refused: 0 };
  /** Why requests were refused, for error messages. */
  readonly refusals: string[] = [];
  /** Called with what each accepted request brought. */
  onReceive?: (
    signal: "traces" | "metrics" | "logs",
    items: (Span | MetricPoint | LogRecord)[],
  ) => void;
  /** Called with the reason of each refused request. */
  onRefuse?: (why: string) => void;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #waiters = new Set<() => void>();
  #closed = false;

  private constructor(port: number, onListen: () => void) {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port, onListen },
      (request) => this.#handle(request),
    );
  }

  /** Starts a receiver on 127.0.0.1 (an ephemeral port unless given). */
  static async start(port = 0): Promise<OtlpReceiver> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const receiver = new OtlpReceiver(port, resolve);
    await promise;
    return receiver;
  }

  /** The port it listens on. */
  get port(): number {
    return this.#server.addr.port;
  }

  /** The base URL for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The environment that makes a Deno child export here as JSON: pass it
   * (with `extra`, which wins) as `Deno.Command`'s `env`. Console capture is
   * off unless `extra` turns it on, so that logs hold only what a test makes. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: this.endpoint,
      OTEL_DENO_CONSOLE: "ignore",
      ...extra,
    };
  }

  async #handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const signal = PATHS[path];
    if (signal === undefined) return this.#refuse(404, `no OTLP signal at "${path}"`);
    if (request.method !== "POST") return this.#refuse(405, `"${request.method}" to "${path}"`);
    const type = request.headers.get("content-type") ?? "";
    if (!type.startsWith("application/json")) {
      await request.body?.cancel();
      return this.#refuse(
        415,
        `content type "${type}" on "${path}": set OTEL_EXPORTER_OTLP_PROTOCOL=http/json`,
      );
    }
    let body: Json;
    try {
      body = JSON.parse(await request.text());
    } catch (error) {
      return this.#refuse(400, `unparseable JSON on "${path}": ${error}`);
    }
    this.requests[signal]++;
    const items = signal === "traces"
      ? spansOf(body)
      : signal === "metrics"
      ? pointsOf(body, this.requests.metrics)
      : logsOf(body);
    if (signal === "traces") this.spans.push(...items as Span[]);
    if (signal === "metrics") this.points.push(...items as MetricPoint[]);
    if (signal === "logs") this.logs.push(...items as LogRecord[]);
    this.onReceive?.(signal, items);
    this.#wake();
    // An empty Export*ServiceResponse: everything accepted.
    return Response.json({});
  }

  #refuse(status: number, why: string): Response {
    this.requests.refused++;
    this.refusals.push(why);
    this.onRefuse?.(why);
    this.#wake();
    return new Response(why, { status });
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
  }

  /** Resolves with `find()`'s first non-undefined result, checked now and
   * after every request; rejects after `ms`, saying what was received. */
  async #until<T>(find: () => T | undefined, ms: number, what: string): Promise<T> {
    const found = find();
    if (found !== undefined) return found;
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const wake = () => {
      const result = find();
      if (result !== undefined) resolve(result);
    };
    const timer = setTimeout(
      () => reject(new Error(`Timed out after ${ms} ms waiting for ${what}; ${this.summary()}`)),
      ms,
    );
    this.#waiters.add(wake);
    try {
      return await promise;
    } finally {
      clearTimeout(timer);
      this.#waiters.delete(wake);
    }
  }

  /** The first span `match` accepts, waiting up to `ms` for it. */
  waitForSpan(match: (span: Span) => boolean, ms = 10_000): Promise<Span> {
    return this.#until(() => this.spans.find(match), ms, "a matching span");
  }

  /** Waits up to `ms` until `count` spans `match` has accepted have arrived. */
  waitForSpans(match: (span: Span) => boolean, count: number, ms = 10_000): Promise<Span[]> {
    return this.#until(
      () => {
        const found = this.spans.filter(match);
        return found.length >= count ? found : undefined;
      },
      ms,
      `${count} matching spans`,
    );
  }

  /** The first metric point `match` accepts, waiting up to `ms` for it. */
  waitForPoint(match: (point: MetricPoint) => boolean, ms = 10_000): Promise<MetricPoint> {
    return this.#until(() => this.points.find(match), ms, "a matching metric point");
  }

  /** The latest point of metric `name` whose attributes include `attrs`. */
  lastPoint(name: string, attrs: Attributes = {}): MetricPoint | undefined {
    return this.points.findLast((p) => p.name === name && hasAttributes(p.attributes, attrs));
  }

  /** What was received, in a line, for failure messages. */
  summary(): string {
    const names = [...new Set(this.spans.map((s) => s.name))];
    const metrics = [...new Set(this.points.map((p) => p.name))];
    return `received ${JSON.stringify(this.requests)}; spans ${JSON.stringify(names)}; ` +
      `metrics ${JSON.stringify(metrics)}` +
      (this.refusals.length > 0 ? `; refused: ${this.refusals.join(", ")}` : "");
  }

  /** Stops accepting and waits (up to `ms`) for requests in flight. */
  async close(ms = 10_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Timed out after ${ms} ms waiting for the OTLP receiver to close`)),
        ms,
      );
    });
    try {
      await Promise.race([this.#server.shutdown(), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

if (import.meta.main) {
  const receiver = await OtlpReceiver.start(Number(Deno.args[0] ?? 4318));
  console.error(
    `OTEL_DENO=true OTEL_EXPORTER_OTLP_PROTOCOL=http/json OTEL_EXPORTER_OTLP_ENDPOINT=${receiver.endpoint}`,
  );
  const replacer = (_: string, v: unknown) => typeof v === "bigint" ? v.toString() : v;
  const key = { traces: "span", metrics: "point", logs: "log" } as const;
  receiver.onReceive = (signal, items) => {
    for (const item of items) console.log(JSON.stringify({ [key[signal]]: item }, replacer));
  };
  receiver.onRefuse = (why) => console.log(JSON.stringify({ refused: why }));
}
