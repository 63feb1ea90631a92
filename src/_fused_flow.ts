/**
 * The fused request flow: Python's verify → process → finish (the handler's
 * setup → handle → finish) → shutdown → close, run as one async function per
 * request. A hook left at the library's own implementation runs inline, with
 * no promise nor resumption of its own; a hook a subclass overrides, or an
 * instance property replaces, is called in its place and awaited when it
 * returns a promise, in the same order. The choice is made per hook and per
 * request, by comparing the function the server (or handler) has under the
 * hook's name with the library's: an assignment at any time is seen.
 *
 * Which implementations are the library's is registered by the modules that
 * define them ({@linkcode registerBuiltins}), which keeps this one free of
 * import cycles.
 *
 * @module
 */

import { frameName, releaseFrame, takeFrame } from "./_caller.ts";
import { kSendFailed, kSendReply } from "./_symbols.ts";

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => any;

/** Every implementation of a hook that is the library's own. */
const builtins = new WeakSet<AnyFunction>();

/** The implementations the flow runs inline, by what they do. */
const inline = {
  verifyRequest: null as AnyFunction | null,
  processRequest: null as AnyFunction | null,
  finishRequest: null as AnyFunction | null,
  /** `StreamServer.shutdownRequest()`: `closeWrite()`, then `closeRequest()`. */
  streamShutdown: null as AnyFunction | null,
  /** `BaseServer.shutdownRequest()`: `closeRequest()`. */
  baseShutdown: null as AnyFunction | null,
  /** `BaseRequestHandler`'s `setup()` and `finish()`, which do nothing. */
  noSetup: null as AnyFunction | null,
  noFinish: null as AnyFunction | null,
  /** `DatagramRequestHandler.finish()`: its send, awaited in the frame. */
  datagramFinish: null as AnyFunction | null,
};

/** A ThreadingMixIn class's `processRequestThread()`: the fused flow in a task. */
const threadTasks = new WeakSet<AnyFunction>();

/**
 * Records `prototype`'s own implementations of `hooks` as the library's;
 * `as` names what the flow runs inline in place of each, if anything.
 */
export function registerBuiltins(
  prototype: object,
  hooks: readonly string[],
  as: Partial<Record<keyof typeof inline | "threadTask", string>> = {},
): void {
  const own = prototype as Record<string, AnyFunction>;
  for (const hook of hooks) builtins.add(own[hook]);
  for (const [kind, hook] of Object.entries(as)) {
    if (kind === "threadTask") threadTasks.add(own[hook]);
    else inline[kind as keyof typeof inline] = own[hook];
  }
}

/** The server hooks the flow may run inline. */
export const SERVER_HOOKS = [
  "getRequest",
  "verifyRequest",
  "processRequest",
  "finishRequest",
  "shutdownRequest",
  "closeRequest",
  "handleError",
  "handleDrop",
] as const;

/** The handler hooks the flow may run inline. */
export const HANDLER_HOOKS = ["setup", "finish"] as const;

/**
 * The hooks of `server`, and of its handler class, that are not the
 * library's own and so take the full path: none means the flow is fused
 * end to end. A handler instance may still replace `setup`/`finish` in its
 * constructor; the flow checks the instance.
 */
export function fullPathHooks(server: object): string[] {
  const hooks = server as Record<string, unknown>;
  const found: string[] = SERVER_HOOKS.filter((hook) => !builtins.has(hooks[hook] as AnyFunction));
  if (
    "processRequestThread" in hooks && !threadTasks.has(hooks.processRequestThread as AnyFunction)
  ) {
    found.push("processRequestThread");
  }
  const Handler = hooks.RequestHandlerClass as { prototype: Record<string, unknown> } | undefined;
  for (const hook of HANDLER_HOOKS) {
    if (!builtins.has(Handler?.prototype[hook] as AnyFunction)) found.push(`handler.${hook}`);
  }
  return found;
}

/** A handler instance, as the flow calls it. */
interface Handler {
  setup(): unknown;
  handle(): unknown;
  finish(): unknown;
  [kSendReply]?(): Promise<unknown> | undefined;
  [kSendFailed]?(error: unknown): Promise<void>;
}

/** What the flow needs of its server. */
export interface FlowServer<R, A> {
  readonly RequestHandlerClass: new (request: R, clientAddress: A, server: never) => Handler;
  verifyRequest(request: R, clientAddress: A): boolean | Promise<boolean>;
  processRequest(request: R, clientAddress: A): unknown;
  finishRequest(request: R, clientAddress: A): unknown;
  shutdownRequest(request: R): unknown;
  closeRequest(request: R): unknown;
}

/** What the flow needs of the request loop. */
export interface FlowLoop<R, A> {
  /** `handleDrop()` or `handleError()`, guarded. */
  report(request: R, clientAddress: A, error: unknown): Promise<void>;
  readonly requests: {
    delete(request: R): void;
    lingering(request: R): boolean;
  };
}

// deno-lint-ignore no-explicit-any
type AnyFlow = FusedFlow<any, any>;
type Frame = (
  flow: AnyFlow,
  request: unknown,
  clientAddress: unknown,
  thread: boolean,
) => Promise<void>;
const frames: Frame[] = [];
/** No failure (`undefined` may be one: a handler may throw anything). */
const NONE = Symbol("none");
const flows = new WeakMap<object, AnyFlow>();

/** The flow of `server`'s request loop. */
export function flowOf<R, A>(server: FlowServer<R, A>): FusedFlow<R, A> {
  return flows.get(server)!;
}

/** One server's fused flow. */
export class FusedFlow<R, A> {
  readonly server: FlowServer<R, A>;
  readonly loop: FlowLoop<R, A>;

  constructor(server: FlowServer<R, A>, loop: FlowLoop<R, A>) {
    this.server = server;
    this.loop = loop;
    flows.set(server, this);
  }

  /**
   * The request loop's step after `getRequest()`: `verifyRequest()`, then
   * `processRequest()` or, refused, `shutdownRequest()`; an error on the way
   * to `handleError()` (or `handleDrop()`), then `shutdownRequest()`.
   * `undefined` when every hook returned synchronously (a ThreadingMixIn
   * server's do); the promise never rejects.
   */
  run(request: R, clientAddress: A): Promise<void> | undefined {
    const server = this.server;
    try {
      const verified = server.verifyRequest === inline.verifyRequest
        ? true
        : server.verifyRequest(request, clientAddress);
      if (verified instanceof Promise) return this.#verifying(request, clientAddress, verified);
      if (verified && server.processRequest === inline.processRequest) {
        return framed(this, request, clientAddress, false);
      }
      const done = verified
        ? server.processRequest(request, clientAddress)
        : server.shutdownRequest(request);
      if (done instanceof Promise) return done.catch((e) => this.failed(request, clientAddress, e));
      return undefined;
    } catch (error) {
      return this.failed(request, clientAddress, error);
    }
  }

  /** A ThreadingMixIn server's task when its `processRequestThread()` is
   * the library's: what `run()` does after `processRequest()`. Never rejects. */
  task(request: R, clientAddress: A): Promise<void> {
    return framed(this, request, clientAddress, true);
  }

  /** Whether `processRequestThread` is a ThreadingMixIn class's own. */
  static isThreadTask(processRequestThread: unknown): boolean {
    return threadTasks.has(processRequestThread as AnyFunction);
  }

  async #verifying(request: R, clientAddress: A, verified: Promise<boolean>): Promise<void> {
    try {
      if (await verified) {
        const server = this.server;
        if (server.processRequest === inline.processRequest) {
          return await framed(this, request, clientAddress, false);
        }
        await server.processRequest(request, clientAddress);
      } else await this.server.shutdownRequest(request);
    } catch (error) {
      await this.failed(request, clientAddress, error);
    }
  }

  /** After `finishRequest()` (and a library `shutdownRequest()`'s
   * `closeWrite()`): the rest of `shutdownRequest()`, or the report of
   * `failure`. Never throws nor rejects. */
  end(request: R, clientAddress: A, thread: boolean, failure: unknown): Promise<void> | undefined {
    if (failure !== NONE) {
      return thread
        ? this.#reportThenShutdown(request, clientAddress, failure)
        : this.failed(request, clientAddress, failure);
    }
    const server = this.server;
    try {
      const shutdown = server.shutdownRequest;
      const shut = shutdown === inline.streamShutdown || shutdown === inline.baseShutdown
        ? server.closeRequest(request)
        : server.shutdownRequest(request);
      if (shut instanceof Promise) {
        return shut.catch((error) => this.#shutdownFailed(request, clientAddress, thread, error));
      }
    } catch (error) {
      return this.#shutdownFailed(request, clientAddress, thread, error);
    }
    return undefined;
  }

  /** An error on the way: `handleError()` (or `handleDrop()`), then
   * `shutdownRequest()`; should that throw too, the request is let go of. */
  async failed(request: R, clientAddress: A, error: unknown): Promise<void> {
    await this.loop.report(request, clientAddress, error);
    try {
      await this.server.shutdownRequest(request);
    } catch {
      this.loop.requests.delete(request);
    }
  }

  /** A ThreadingMixIn task's handler failed: report, then shut down. */
  async #reportThenShutdown(request: R, clientAddress: A, error: unknown): Promise<void> {
    await this.loop.report(request, clientAddress, error);
    try {
      await this.server.shutdownRequest(request);
    } catch (error) {
      await this.#shutdownFailed(request, clientAddress, true, error);
    }
  }

  async #shutdownFailed(request: R, clientAddress: A, thread: boolean, error: unknown) {
    if (!thread) return await this.failed(request, clientAddress, error);
    await this.loop.report(request, clientAddress, error);
    await this.release(request);
  }

  /** A ThreadingMixIn task's `shutdownRequest()` threw: `closeRequest()`,
   * then the base's own in case an override threw before calling it. */
  async release(request: R): Promise<void> {
    try {
      await this.server.closeRequest(request);
    } catch {
      // an override that throws: drop the entry below
    }
    this.loop.requests.delete(request);
  }
}

/** Runs the flow from `finishRequest()` on under a frame naming the request
 * (`_caller.ts`), so that a `serverClose()` its hooks await does not wait for it. */
function framed(flow: AnyFlow, request: unknown, clientAddress: unknown, thread: boolean) {
  const slot = takeFrame(request);
  return (frames[slot] ??= makeFrame(slot))(flow, request, clientAddress, thread);
}

function makeFrame(slot: number): Frame {
  const name = frameName(slot);
  return {
    // The default processRequest(), finishRequest() and the handler's calls
    // in one async function, kept small (its registers are allocated per
    // request): an await only where a hook returns a promise. A copy per
    // slot, for its name; the code is shared.
    async [name](flow: AnyFlow, request: unknown, clientAddress: unknown, thread: boolean) {
      const server = flow.server;
      let failure: unknown = NONE;
      try {
        if (server.finishRequest === inline.finishRequest) {
          const handler = new server.RequestHandlerClass(request, clientAddress, server as never);
          const setup = handler.setup === inline.noSetup ? undefined : handler.setup();
          if (setup instanceof Promise) await setup;
          try {
            const handled = handler.handle();
            if (handled instanceof Promise) await handled;
          } finally {
            if (handler.finish === inline.datagramFinish) {
              const sending = handler[kSendReply]!();
              if (sending !== undefined) {
                try {
                  await sending;
                } catch (error) {
                  await handler[kSendFailed]!(error);
                }
              }
            } else if (handler.finish !== inline.noFinish) {
              const finished = handler.finish();
              if (finished instanceof Promise) await finished;
            }
          }
        } else {
          const finished = server.finishRequest(request, clientAddress);
          if (finished instanceof Promise) await finished;
        }
      } catch (error) {
        failure = error;
      }
      if (failure === NONE && server.shutdownRequest === inline.streamShutdown) {
        // StreamServer's shutdownRequest() up to its closeRequest(): once
        // serverClose() lingers on the request, closing it is its job
        if (flow.loop.requests.lingering(request)) return releaseFrame(slot);
        try {
          await (request as Deno.Conn).closeWrite();
        } catch {
          // the client is gone, or the connection is already closed
        }
      }
      const rest = flow.end(request, clientAddress, thread, failure);
      if (rest !== undefined) await rest;
      releaseFrame(slot);
    },
  }[name];
}
