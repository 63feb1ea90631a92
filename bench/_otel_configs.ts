/**
 * The configurations the observing A/B scripts (`otel_server.ts`,
 * `otel_instructions.ts`) run the library's benchmark server in.
 *
 * @module
 */
import type { OtlpReceiver } from "../tests/_otlp_receiver.ts";

/** `base`: another tree's library; `plain`: this one's; `off`/`on`:
 * through `instrument()` with `OTEL_DENO` unset/set; `metrics`: on, no spans. */
export type Config = "base" | "plain" | "off" | "on" | "metrics";

const HERE = new URL(".", import.meta.url).pathname;

/** The server script, its mode and environment for `config` of the
 * workload served by `mode`; `base` is the other tree's path. */
export function serverFor(
  config: Config,
  mode: string,
  receiver: OtlpReceiver,
  base: string | undefined,
): { script: string; mode: string; env: Record<string, string> } {
  return {
    script: config === "base" ? `${base}/bench/servers/deno_lib.ts` : `${HERE}servers/deno_lib.ts`,
    mode: config === "metrics"
      ? `${mode}-otel-metrics`
      : config === "off" || config === "on"
      ? `${mode}-otel`
      : mode,
    env: config === "on" || config === "metrics"
      ? receiver.env({ OTEL_BSP_MAX_QUEUE_SIZE: "200000", OTEL_BSP_SCHEDULE_DELAY: "200" })
      : { OTEL_DENO: "false" },
  };
}
