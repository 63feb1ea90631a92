/**
 * Instruments every server a program constructs, for OpenTelemetry, without
 * changing the program: run it first with `--preload`.
 *
 *     OTEL_DENO=true deno run -A --preload=examples/otel_preload.ts examples/udp_echo.ts
 *
 * A forking server's children run the program again without it: a forking
 * program calls `instrument(server)` itself (docs/observability.md).
 *
 * @module
 */
import { instrumentAll } from "../otel.ts";

instrumentAll();
