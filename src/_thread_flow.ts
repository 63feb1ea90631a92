/**
 * {@linkcode ThreadFlow}: a `ThreadingMixIn` server's task for one request,
 * run under the request's frame (`_caller.ts`) so that a `serverClose()`
 * awaited by its handler, `handleError()` or `handleDrop()` does not wait for
 * it; what an override of `processRequestThread()` rejects with is reported.
 *
 * @module
 */

import { type AnyServer, BaseServer } from "./base_server.ts";
import type { Flow } from "./_caller.ts";
import { kReportError } from "./_symbols.ts";

/** What the flow calls on its server. */
interface ThreadingServer extends AnyServer {
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
}

/** The task of each request of one server. */
export class ThreadFlow implements Flow<unknown, unknown> {
  #server: ThreadingServer;

  constructor(server: ThreadingServer) {
    this.#server = server;
  }

  run(request: unknown, clientAddress: unknown): Promise<void> {
    return this.#server.processRequestThread(request, clientAddress);
  }

  async failed(request: unknown, clientAddress: unknown, error: unknown): Promise<void> {
    await this.#server[kReportError](request, clientAddress, error);
    await releaseRequest(this.#server, request);
  }
}

/** Releases a request whose `shutdownRequest()` threw: `closeRequest()`,
 * then `BaseServer`'s own in case an override threw before calling it, so
 * that `serverClose()` never waits for it. */
export async function releaseRequest(server: AnyServer, request: unknown): Promise<void> {
  try {
    await server.closeRequest(request);
  } catch {
    // an override that throws: drop the entry below
  }
  BaseServer.prototype.closeRequest.call(server, request);
}
