/**
 * The baseline for the HTTP example: `Deno.serve` answering every request
 * with the same hello page. Prints `Deno.serve listening on host:port`.
 *
 *     deno run --allow-net=127.0.0.1 bench/deno_serve_hello.ts [port]
 *
 * @module
 */
import { HELLO } from "../examples/http_server.ts";

const port = Number(Deno.args[0] ?? 0);
const headers = { "Content-Type": "text/html; charset=utf-8" };
const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ hostname, port }) => console.log(`Deno.serve listening on ${hostname}:${port}`),
}, () => new Response(HELLO, { headers }));
const stop = () => server.shutdown();
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
await server.finished;
