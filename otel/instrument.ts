/**
 * {@linkcode instrument} and {@linkcode instrumentAll}: OpenTelemetry for
 * this package's servers, through `npm:@opentelemetry/api`.
 *
 * @module
 */

import { createNoopMeter, metrics, ProxyTracerProvider, trace } from "@opentelemetry/api";
import type { AnyServer } from "../src/base_server.ts";
import type { ServerCounters } from "../src/_counters.ts";
import { observeNewServers } from "../src/_observer.ts";
import { kRequests } from "../src/_symbols.ts";
import {
  createInstruments,
  type Instruments,
  RequestTelemetry,
  SCOPE,
  SCOPE_VERSION,
} from "./_telemetry.ts";
import type { Tracer } from "@opentelemetry/api";

/** What is on: spans, metrics, both; `null` when neither. */
interface Telemetry {
  tracer: Tracer | undefined;
  instruments: Instruments | undefined;
}

/** Decided once per process (`OTEL_DENO` cannot change), so a server that exports nothing makes
 * no no-op API calls per request. */
let decided: Telemetry | null | undefined;

function telemetry(): Telemetry | null {
  if (decided !== undefined) return decided;
  // Nothing registered: the proxy provider delegating to a no-op one, and a no-op meter
  const provider = trace.getTracerProvider();
  const tracing = !(provider instanceof ProxyTracerProvider) ||
    provider.getDelegate() !== new ProxyTracerProvider().getDelegate();
  const meter = metrics.getMeter(SCOPE, SCOPE_VERSION);
  const metering = meter.constructor !== createNoopMeter().constructor;
  decided = tracing || metering
    ? {
      tracer: tracing ? trace.getTracer(SCOPE, SCOPE_VERSION) : undefined,
      instruments: metering ? createInstruments(meter) : undefined,
    }
    : null;
  return decided;
}

/**
 * Options of {@linkcode instrument} and {@linkcode instrumentAll}.
 *
 * @example Metrics without a span per datagram
 * ```ts
 * import { DatagramRequestHandler, UDPServer } from "@x/socketserver";
 * import { type InstrumentOptions, instrument } from "@x/socketserver/otel";
 *
 * const options: InstrumentOptions = { spans: false };
 * await using server = instrument(
 *   new UDPServer(["127.0.0.1", 0], DatagramRequestHandler),
 *   options,
 * );
 * ```
 */
export interface InstrumentOptions {
  /** Whether each request gets a span; `false` keeps the metrics of a server whose requests are
   * too many to trace one by one (a span costs most: bench/README.md).
   * @default {true} */
  spans?: boolean;
}

function observe(
  server: object,
  counters: ServerCounters,
  on: Telemetry,
  options: InstrumentOptions,
): RequestTelemetry | null {
  const tracer = options.spans === false ? undefined : on.tracer;
  if (tracer === undefined && on.instruments === undefined) return null;
  return new RequestTelemetry(server as AnyServer, counters, tracer, on.instruments);
}

/**
 * Instruments `server` for OpenTelemetry when telemetry is on (`OTEL_DENO=true`, or an SDK
 * registered before the first call): a `SpanKind.SERVER` span per request, current while its
 * handler runs, and the metrics docs/observability.md lists. Off, the server is left untouched.
 *
 * @param server The server, bound or not; a second call changes nothing.
 * @param options What to record: `spans: false` for the metrics only.
 * @returns The same server.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "@x/socketserver";
 * import { instrument } from "@x/socketserver/otel";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * await using server = instrument(new TCPServer(["127.0.0.1", 0], Echo));
 * assert.ok(server instanceof TCPServer);
 * ```
 */
export function instrument<S extends AnyServer>(server: S, options: InstrumentOptions = {}): S {
  const on = telemetry();
  const requests = server[kRequests];
  if (on !== null && requests.observer === null) {
    requests.observer = observe(server, requests.counters, on, options);
  }
  return server;
}

/**
 * Instruments every server constructed from now on, as {@linkcode instrument} does one: to watch
 * a program unchanged, from a `deno run --preload` module. Does nothing when telemetry is off.
 *
 * @param options What to record: `spans: false` for the metrics only.
 *
 * @example A preload module
 * ```ts
 * import { instrumentAll } from "@x/socketserver/otel";
 *
 * instrumentAll(); // then: OTEL_DENO=true deno run -A --preload=this.ts main.ts
 * ```
 */
export function instrumentAll(options: InstrumentOptions = {}): void {
  const on = telemetry();
  if (on !== null) {
    observeNewServers((server, counters) => observe(server, counters, on, options));
  }
}
