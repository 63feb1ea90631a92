/**
 * The back-pressure of attack18_hostile_unawaited_backpressure_test.ts, for the other port of
 * Python's echo: a `StreamRequestHandler` that reads `rfile` and answers with
 * `sendall(this.request, line)` without awaiting it — Python's `self.request.sendall(line)`, which
 * blocks once the kernel's buffers are full, so the handler stops reading. `rfile` was held back
 * only by `wfile`'s unawaited writes, not by the connection's `sendall()` calls: a client that sends
 * without reading grew the server by all it sent (128 MiB taken in), as before the fix for `wfile`.
 */
import { sendall, StreamRequestHandler } from "../mod.ts";
import { assertEchoedWhileReading, assertHeldBack } from "./_backpressure.ts";

/** Echoes every line with an unawaited `sendall()`. */
class CarelessSendallEcho extends StreamRequestHandler {
  override async handle() {
    for await (const line of this.rfile) sendall(this.request, line); // not awaited
  }
}

Deno.test("ThreadingTCPServer: a client that pipelines requests and never reads, against a handler that answers with unawaited sendall(this.request, ...), is held back as wfile's unawaited writes are", () =>
  assertHeldBack(CarelessSendallEcho));

Deno.test("ThreadingTCPServer: a handler that answers with unawaited sendall() echoes 16 MiB whole and in order to a client that reads while it sends (held back, never stuck)", () =>
  assertEchoedWhileReading(CarelessSendallEcho));
