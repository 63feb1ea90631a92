/**
 * Servers the tests start in-process: one on a free loopback port, and one
 * that records the errors and drops its hooks receive.
 *
 * @module
 */
import { type RequestHandlerClass, type TCPServer, ThreadingTCPServer } from "../mod.ts";
import { within } from "./_wait.ts";

/** Constructs `Server` on a free loopback port with `Handler` and starts serving. */
export function serveLoopback<S extends TCPServer>(
  Server: new (
    address: { hostname: string; port: number },
    Handler: RequestHandlerClass<Deno.TcpConn, Deno.NetAddr>,
  ) => S,
  Handler: RequestHandlerClass<Deno.TcpConn, Deno.NetAddr>,
  pollInterval = 500,
): S {
  const server = new Server({ hostname: "127.0.0.1", port: 0 }, Handler);
  server.serveForever(pollInterval);
  return server;
}

/** The name of an error, or `"EOF"` for `null`: how a test lists drops. */
export function errorName(error: unknown): string {
  if (error === null) return "EOF";
  return error instanceof Error ? error.name : String(error);
}

/** A threading TCP server on 127.0.0.1 that records the errors reaching
 * `handleError()` and `handleDrop()` instead of printing them, and lets a
 * test await the next drop. */
export class RecordingServer extends ThreadingTCPServer {
  errors: unknown[] = [];
  drops: unknown[] = [];
  #dropWaiters: Array<() => void> = [];

  override handleError(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    this.errors.push(error);
  }

  override handleDrop(_request: Deno.TcpConn, _address: Deno.NetAddr, error: unknown) {
    this.drops.push(error);
    for (const wake of this.#dropWaiters.splice(0)) wake();
  }

  /** Stops and closes, forcing connections closed after 2 s: a test whose
   * behaviour broke fails instead of hanging on its handlers. */
  override async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
    await this.serverClose({ graceMs: 2000 });
  }

  /** Resolves once at least `count` drops have been recorded; rejects
   * when they have not within `ms`, so that a broken behaviour fails the
   * test rather than hanging it. */
  dropped(count = 1, ms = 10_000): Promise<void> {
    const wait = async () => {
      while (this.drops.length < count) {
        const { promise, resolve } = Promise.withResolvers<void>();
        this.#dropWaiters.push(resolve);
        await promise;
      }
    };
    return within(wait(), ms, () => `${count} drop(s); recorded: ${this.drops.map(errorName)}`);
  }
}

// deno-lint-ignore no-explicit-any
type ServerConstructor = new (...args: any[]) => {
  handleError(request: unknown, address: unknown, error: unknown): unknown;
  handleDrop(request: unknown, address: unknown, error: unknown): unknown;
};

/** `Base` recording what reaches `handleError()` and `handleDrop()` instead of printing it;
 * `ended` settles at the first of either. */
export function Reporting<B extends ServerConstructor>(Base: B) {
  return class extends Base {
    ended = Promise.withResolvers<void>();
    errors: unknown[] = [];
    drops: unknown[] = [];
    override handleError(_request: unknown, _address: unknown, error: unknown) {
      this.errors.push(error);
      this.ended.resolve();
    }
    override handleDrop(_request: unknown, _address: unknown, error: unknown) {
      this.drops.push(error);
      this.ended.resolve();
    }
  };
}
