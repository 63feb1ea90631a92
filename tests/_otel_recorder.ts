/**
 * A recording OpenTelemetry SDK for in-process tests: a tracer provider
 * whose spans keep what they were given, and a meter provider whose
 * counters and histograms keep their sums by attributes. Registered as the
 * API's globals (`register()`), it is what `instrument()` finds when an SDK
 * was set up before it; no context manager is registered, so every span is
 * a root span here (tests/otel_test.ts checks parentage through Deno's).
 *
 * @module
 */
import {
  type Attributes,
  type AttributeValue,
  type Context,
  type Counter,
  type Histogram,
  type Meter,
  metrics,
  type ObservableCallback,
  type ObservableResult,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  SpanStatusCode,
  trace,
  type Tracer,
  type UpDownCounter,
} from "@opentelemetry/api";

/** A span as the code under test left it. */
export class RecordedSpan implements Span {
  readonly name: string;
  readonly kind: SpanKind | undefined;
  readonly attributes: Attributes;
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  readonly events: { name: string; attributes: Attributes }[] = [];
  ended = false;
  #context: SpanContext;
  #onEnd: (span: RecordedSpan) => void;

  constructor(name: string, options: SpanOptions, onEnd: (span: RecordedSpan) => void) {
    this.name = name;
    this.kind = options.kind;
    this.attributes = { ...options.attributes };
    this.#onEnd = onEnd;
    const hex = (n: number) =>
      Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0"))
        .join("");
    this.#context = { traceId: hex(16), spanId: hex(8), traceFlags: 1 };
  }

  spanContext(): SpanContext {
    return this.#context;
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(name: string, attributes?: Attributes | unknown): this {
    this.events.push({ name, attributes: (attributes ?? {}) as Attributes });
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {
    this.ended = true;
    this.#onEnd(this);
  }
  isRecording(): boolean {
    return !this.ended;
  }
  recordException(exception: unknown): void {
    const error = exception as Error;
    this.addEvent("exception", {
      "exception.type": error.name,
      "exception.message": error.message,
    });
  }
}

/** What the recording SDK saw. */
export class Recorder {
  /** Spans, in the order they ended. */
  readonly spans: RecordedSpan[] = [];
  /** Metric sums (histograms: counts and sums) by name and attributes. */
  readonly sums = new Map<string, number>();
  readonly counts = new Map<string, number>();
  /** Instruments created, by name, with their options. */
  readonly instruments = new Map<string, { kind: string; options: unknown }>();
  /** Observable instruments' callbacks, by name. */
  readonly #callbacks = new Map<string, ObservableCallback[]>();

  /** The key of a series: its name and its attributes, sorted. */
  static key(name: string, attributes: Attributes = {}): string {
    const sorted = Object.keys(attributes).sort().map((k) => [k, attributes[k]]);
    return `${name} ${JSON.stringify(sorted)}`;
  }

  /** The sum of the series of `name` whose attributes include `attributes`. */
  sum(name: string, attributes: Attributes = {}): number {
    return this.#total(this.sums, name, attributes);
  }

  /** What the callbacks of observable instrument `name` observe now, summed
   * over the series whose attributes include `attributes` (a collection). */
  observe(name: string, attributes: Attributes = {}): number {
    let total = 0;
    const result: ObservableResult = {
      observe: (value: number, observed: Attributes = {}) => {
        if (Object.entries(attributes).every(([k, v]) => observed[k] === v)) total += value;
      },
    };
    for (const callback of this.#callbacks.get(name) ?? []) callback(result);
    return total;
  }

  /** How many values a histogram series got. */
  count(name: string, attributes: Attributes = {}): number {
    return this.#total(this.counts, name, attributes);
  }

  #total(map: Map<string, number>, name: string, attributes: Attributes): number {
    let total = 0;
    for (const [key, value] of map) {
      if (!key.startsWith(`${name} `)) continue;
      const series = Object.fromEntries(JSON.parse(key.slice(name.length + 1)));
      if (Object.entries(attributes).every(([k, v]) => series[k] === v)) total += value;
    }
    return total;
  }

  #add(name: string, value: number, attributes?: Attributes): void {
    const key = Recorder.key(name, attributes);
    this.sums.set(key, (this.sums.get(key) ?? 0) + value);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  tracer(): Tracer {
    const onEnd = (span: RecordedSpan) => this.spans.push(span);
    return {
      startSpan: (name: string, options: SpanOptions = {}, _context?: Context) =>
        new RecordedSpan(name, options, onEnd),
      // deno-lint-ignore no-explicit-any
      startActiveSpan: ((name: string, ...rest: any[]) => {
        const fn = rest.at(-1);
        const options = typeof rest[0] === "object" ? rest[0] : {};
        return fn(new RecordedSpan(name, options, onEnd));
      }) as Tracer["startActiveSpan"],
    };
  }

  meter(): Meter {
    const instrument = (kind: string) => (name: string, options?: unknown) => {
      this.instruments.set(name, { kind, options });
      return {
        add: (value: number, attributes?: Attributes) => this.#add(name, value, attributes),
        record: (value: number, attributes?: Attributes) => this.#add(name, value, attributes),
      };
    };
    const observable = (kind: string) => (name: string, options?: unknown) => {
      this.instruments.set(name, { kind, options });
      const callbacks = this.#callbacks.get(name) ?? [];
      this.#callbacks.set(name, callbacks);
      return {
        addCallback: (callback: ObservableCallback) => callbacks.push(callback),
        removeCallback: (callback: ObservableCallback) =>
          callbacks.splice(callbacks.indexOf(callback), 1),
      };
    };
    return {
      createCounter: instrument("counter") as (name: string) => Counter,
      createUpDownCounter: instrument("upDownCounter") as (name: string) => UpDownCounter,
      createHistogram: instrument("histogram") as (name: string) => Histogram,
      createObservableUpDownCounter: observable("observableUpDownCounter"),
      createObservableCounter: observable("observableCounter"),
      createObservableGauge: observable("observableGauge"),
    } as unknown as Meter;
  }

  /** Registers the recorder as the API's global tracer and meter providers. */
  register(): void {
    const tracer = this.tracer();
    const meter = this.meter();
    trace.setGlobalTracerProvider({ getTracer: () => tracer });
    metrics.setGlobalMeterProvider({ getMeter: () => meter });
  }
}
