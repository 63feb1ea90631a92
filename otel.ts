/**
 * OpenTelemetry for `@x/socketserver`, on `npm:@opentelemetry/api`: a
 * `SpanKind.SERVER` span per request and the servers' metrics, exported by
 * Deno's built-in exporter when the program runs with `OTEL_DENO=true` (or by
 * any SDK registered first). Nothing to configure in code but one call;
 * with telemetry off the servers are left untouched. A separate entry point:
 * the core (`@x/socketserver`) has no dependency. What is emitted, and how to
 * watch it: docs/observability.md.
 *
 * @example
 * ```ts
 * import { StreamRequestHandler, ThreadingTCPServer } from "@x/socketserver";
 * import { instrument } from "@x/socketserver/otel";
 *
 * class Upper extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) {
 *       await this.wfile.write(new TextDecoder().decode(line).toUpperCase());
 *     }
 *   }
 * }
 * // OTEL_DENO=true deno run -A server.ts
 * await using server = instrument(new ThreadingTCPServer(["127.0.0.1", 0], Upper));
 * ```
 *
 * @module
 */
export { instrument, instrumentAll, type InstrumentOptions } from "./otel/instrument.ts";
