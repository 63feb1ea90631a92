/**
 * {@linkcode RequestTelemetry}: the observer `instrument()` attaches to a
 * server — a SERVER span per request, made current for its handler, and the
 * server's metrics.
 *
 * @module
 */

import {
  type Attributes,
  context,
  type Counter,
  type Histogram,
  type Meter,
  type ObservableResult,
  type ObservableUpDownCounter,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { Outcome, ServerCounters } from "../src/_counters.ts";
import type { RequestObserver } from "../src/_observer.ts";
import { clientAttributes, requestAttributes, serverAttributes } from "./_attributes.ts";
import config from "../deno.json" with { type: "json" };

/** The instrumentation scope's name and version: what a collector shows as the source. */
export const SCOPE = "@x/socketserver";
export const SCOPE_VERSION: string = config.version;

/** OpenTelemetry's HTTP server duration buckets, in seconds. */
export const DURATION_BUCKETS: number[] = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
];

/** The longest ended requests' counts wait, while others are in flight, to be added to the
 * counters: at every end it would be two more metric calls per request. Idle, they go at once. */
export const FLUSH_MS = 1_000;

/** The servers' instruments, made once per meter and shared (attributes tell servers apart). */
export interface Instruments {
  active: ObservableUpDownCounter;
  requests: Counter;
  duration: Histogram;
  io: Counter;
  drops: Counter;
  /** The telemetries `active` reads at each collection, held weakly. */
  observed: Set<WeakRef<RequestTelemetry>>;
}

/** Creates the instruments on `meter`, doubles all (Deno's exporter refuses integer ones). The
 * requests in flight are observed at each collection, not counted up and down per request. */
export function createInstruments(meter: Meter): Instruments {
  const observed = new Set<WeakRef<RequestTelemetry>>();
  const active = meter.createObservableUpDownCounter("socketserver.server.active_requests", {
    unit: "{request}",
    description: "Requests taken and not yet closed: open connections, or datagrams being handled.",
  });
  active.addCallback((result) => {
    for (const ref of observed) {
      const telemetry = ref.deref();
      if (telemetry === undefined) observed.delete(ref);
      else telemetry.observeActive(result);
    }
  });
  return {
    active,
    observed,
    requests: meter.createCounter("socketserver.server.requests", {
      unit: "{request}",
      description: "Requests that ended, by outcome (ok, refused, drop, error).",
    }),
    duration: meter.createHistogram("socketserver.server.request.duration", {
      unit: "s",
      description: "How long requests took, from being taken to being closed.",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    io: meter.createCounter("socketserver.server.io", {
      unit: "By",
      description: "Bytes read through rfile or received, and written through wfile or sent.",
    }),
    drops: meter.createCounter("socketserver.server.drops", {
      unit: "{request}",
      description: "Requests dropped, by reason (handleDrop(), or closed by serverClose()).",
    }),
  };
}

/** The name telemetry gives an outcome (`socketserver.request.outcome`). */
function outcomeName(outcome: Outcome): "ok" | "refused" | "error" | "drop" {
  return outcome === "completed"
    ? "ok"
    : outcome === "refused" || outcome === "error"
    ? outcome
    : "drop";
}

/** `error.type`: a drop's reason, an error's class. */
function errorType(outcome: Outcome, error: unknown): string | undefined {
  if (outcome === "completed" || outcome === "refused") return undefined;
  if (outcome !== "error") return outcome;
  const name = (error as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === "string" && name !== "" ? name : "_OTHER";
}

function messageOf(outcome: Outcome, error: unknown): string {
  if (error instanceof Error) return error.message;
  if (outcome === "closed") return "Closed by serverClose() at the end of its grace period";
  return String(error ?? outcome);
}

/** A request in flight. */
interface Open {
  span: Span | undefined;
  started: number;
  error: unknown;
}

/** What {@linkcode RequestTelemetry} needs of its server. */
export interface Observed {
  readonly serverAddress: unknown;
  readonly RequestHandlerClass: { name: string };
}

/** Telemetry for one server: spans when `tracer` is given, metrics when `instruments` are. */
export class RequestTelemetry implements RequestObserver {
  #server: Observed;
  #counters: ServerCounters;
  #tracer: Tracer | undefined;
  #instruments: Instruments | undefined;
  #open = new Map<unknown, Open>();
  /** The server's attributes, read at its first request (it is bound by then). */
  #attributes: Attributes | null = null;
  #by = new Map<string, Attributes>();
  /** The bytes counted already recorded on `io`. */
  #read = 0;
  #written = 0;
  /** Ended requests not yet added to `requests` and `drops`, by attributes. */
  #pending = new Map<Attributes, number>();
  #pendingDrops = new Map<Attributes, number>();
  #flushed = performance.now();
  /** Flushes what is pending when the second runs out and no request ends meanwhile (unref'd:
   * it keeps no program alive). */
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    server: Observed,
    counters: ServerCounters,
    tracer: Tracer | undefined,
    instruments: Instruments | undefined,
  ) {
    this.#server = server;
    this.#counters = counters;
    this.#tracer = tracer;
    this.#instruments = instruments;
    // bytes counted before it was attached are not this telemetry's
    this.#read = counters.bytesRead;
    this.#written = counters.bytesWritten;
    instruments?.observed.add(new WeakRef(this));
  }

  /** Observes the requests in flight, for `active_requests`. */
  observeActive(result: ObservableResult): void {
    result.observe(this.#open.size, this.#attributes ??= serverAttributes(this.#server));
  }

  request<T>(request: unknown, clientAddress: unknown, handle: () => T): T {
    const attributes = this.#attributes ??= serverAttributes(this.#server);
    const tracer = this.#tracer;
    if (tracer === undefined) {
      this.#open.set(request, { span: undefined, started: performance.now(), error: undefined });
      return handle();
    }
    const span = tracer.startSpan(this.#server.RequestHandlerClass.name || "request", {
      kind: SpanKind.SERVER,
      attributes: requestAttributes(attributes, request, clientAddress),
    });
    this.#open.set(request, { span, started: performance.now(), error: undefined });
    return context.with(trace.setSpan(context.active(), span), handle);
  }

  admitted(request: unknown, clientAddress: unknown): void {
    const span = this.#open.get(request)?.span;
    if (span !== undefined) span.setAttributes(clientAttributes(request, clientAddress));
  }

  reported(request: unknown, _outcome: Outcome, error: unknown): void {
    const open = this.#open.get(request);
    if (open !== undefined) open.error = error;
  }

  ended(request: unknown, outcome: Outcome): void {
    const open = this.#open.get(request);
    if (open === undefined) return;
    this.#open.delete(request);
    const seconds = (performance.now() - open.started) / 1000;
    const type = errorType(outcome, open.error);
    const instruments = this.#instruments;
    if (instruments !== undefined) this.#record(instruments, outcome, type, seconds);
    const span = open.span;
    if (span === undefined) return;
    span.setAttribute("socketserver.request.outcome", outcomeName(outcome));
    if (type !== undefined) {
      span.setAttribute("error.type", type);
      if (outcome === "error" && open.error instanceof Error) span.recordException(open.error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: messageOf(outcome, open.error) });
    }
    span.end();
  }

  #record(instruments: Instruments, outcome: Outcome, type: string | undefined, s: number): void {
    const by = this.#outcomeAttributes(outcome, type);
    instruments.duration.record(s, by);
    this.#pending.set(by, (this.#pending.get(by) ?? 0) + 1);
    if (type !== undefined && outcome !== "error") {
      const reason = this.#dropAttributes(outcome);
      this.#pendingDrops.set(reason, (this.#pendingDrops.get(reason) ?? 0) + 1);
    }
    const now = performance.now();
    if (this.#open.size === 0 || now - this.#flushed >= FLUSH_MS) this.#flush(instruments, now);
    else if (this.#flushTimer === undefined) {
      const timer = this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#flush(instruments, performance.now());
      }, FLUSH_MS - (now - this.#flushed));
      Deno.unrefTimer(timer);
    }
  }

  /** Adds the pending counts to the counters, and the bytes counted since. */
  #flush(instruments: Instruments, now: number): void {
    this.#flushed = now;
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    for (const [attributes, n] of this.#pending) instruments.requests.add(n, attributes);
    this.#pending.clear();
    for (const [attributes, n] of this.#pendingDrops) instruments.drops.add(n, attributes);
    this.#pendingDrops.clear();
    // the bytes of every request so far, the ended ones' all in
    const counters = this.#counters;
    if (counters.bytesRead > this.#read) {
      instruments.io.add(counters.bytesRead - this.#read, this.#direction("receive"));
      this.#read = counters.bytesRead;
    }
    if (counters.bytesWritten > this.#written) {
      instruments.io.add(counters.bytesWritten - this.#written, this.#direction("transmit"));
      this.#written = counters.bytesWritten;
    }
  }

  /** The attributes of `requests` and `duration` for an outcome, made once each. */
  #outcomeAttributes(outcome: Outcome, type: string | undefined): Attributes {
    const key = type === undefined ? outcome : `${outcome} ${type}`;
    let attributes = this.#by.get(key);
    if (attributes === undefined) {
      attributes = { ...this.#attributes, "socketserver.request.outcome": outcomeName(outcome) };
      if (type !== undefined) attributes["error.type"] = type;
      this.#by.set(key, attributes);
    }
    return attributes;
  }

  #dropAttributes(reason: Outcome): Attributes {
    const key = `reason ${reason}`;
    let attributes = this.#by.get(key);
    if (attributes === undefined) {
      attributes = { ...this.#attributes, "socketserver.drop.reason": reason };
      this.#by.set(key, attributes);
    }
    return attributes;
  }

  #direction(direction: "receive" | "transmit"): Attributes {
    let attributes = this.#by.get(direction);
    if (attributes === undefined) {
      attributes = { ...this.#attributes, "network.io.direction": direction };
      this.#by.set(direction, attributes);
    }
    return attributes;
  }
}
