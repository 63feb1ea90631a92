/**
 * A line server watched with OpenTelemetry: `instrument(server)` from
 * `@x/socketserver/otel` gives every connection a SERVER span and records
 * the server's metrics; the handler adds a span of its own per command, a
 * child of the connection's, through the active context. Deno exports them
 * when the program runs with `OTEL_DENO=true` (docs/observability.md).
 *
 *     OTEL_DENO=true deno run -A examples/telemetry.ts [port]   # default 9999; or PORT=, HOST=
 *
 * Commands, one per line: `upper <text>` answers the text upper-cased,
 * `sum <n> <n>...` the sum; `crash` makes the handler throw (an error span);
 * a client silent for `IDLE_TIMEOUT_MS` (default 30000) is dropped. Try it
 * with `nc localhost 9999`. Ctrl-C (SIGINT) or SIGTERM stops it, printing
 * `server.stats()`.
 *
 * @module
 */
import { trace } from "@opentelemetry/api";
import { StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
import { instrument } from "../otel.ts";
import { listenAddress, serveUntilSignal } from "./_common.ts";

const tracer = trace.getTracer("examples/telemetry");

/** Answers commands; each one is a span of its own. */
class Commands extends StreamRequestHandler {
  override idleTimeout = Number(Deno.env.get("IDLE_TIMEOUT_MS") ?? 30_000);

  override async handle() {
    for await (const line of this.rfile) {
      const [command, ...words] = new TextDecoder().decode(line).trim().split(/\s+/);
      const answer = tracer.startActiveSpan(`command ${command}`, (span) => {
        try {
          span.setAttribute("example.command", command);
          return this.answer(command, words);
        } finally {
          span.end();
        }
      });
      await this.wfile.write(answer + "\n");
    }
  }

  answer(command: string, words: string[]): string {
    switch (command) {
      case "upper":
        return words.join(" ").toUpperCase();
      case "sum":
        return String(words.reduce((total, word) => total + Number(word), 0));
      case "crash":
        throw new Error("crash requested by the client");
      default:
        return `unknown command "${command}": use upper, sum or crash`;
    }
  }
}

if (import.meta.main) {
  const server = instrument(new ThreadingTCPServer(listenAddress(9999), Commands));
  await serveUntilSignal(server, "Telemetry example");
  console.log(JSON.stringify(server.stats()));
}

export { Commands };
