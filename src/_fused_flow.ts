/**
 * The fused request flow (docs/request-flow.md): with the library's `verifyRequest()` and
 * `processRequest()`, finish → shutdown → close runs as one async function per request, each hook
 * left at the library's inline and each other one awaited in its place. The check is per request,
 * so a later assignment is seen. The modules that define the built-ins register them
 * ({@linkcode registerBuiltins}), which keeps this one free of import cycles.
 *
 * @module
 */

import { frameName, releaseFrame, takeFrame } from "./_caller.ts";
import { sendsInFlight } from "./_conn_files.ts";
import {
  kFusedFlow,
  type kReleaseRequest,
  type kRequests,
  kSendFailed,
  kSendReply,
  kSent,
} from "./_symbols.ts";
import { markOver, type OpenRequests } from "./_open_requests.ts";

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

/** ThreadingMixIn classes' `processRequest()`, which start a task and return. */
const threadProcesses = new WeakSet<AnyFunction>();
/** ThreadingMixIn classes' `processRequestThread()`: the fused flow in a task. */
const threadTasks = new WeakSet<AnyFunction>();

/**
 * Records `prototype`'s own implementations of `hooks` as the library's;
 * `as` names what the flow runs inline in place of some of them.
 */
export function registerBuiltins(
  prototype: object,
  hooks: readonly string[],
  as: Partial<Record<keyof typeof inline | "threadProcess" | "threadTask", string>> = {},
): void {
  const own = prototype as Record<string, AnyFunction>;
  for (const hook of hooks) builtins.add(own[hook]);
  for (const [kind, hook] of Object.entries(as)) {
    if (kind === "threadProcess") threadProcesses.add(own[hook]);
    else if (kind === "threadTask") threadTasks.add(own[hook]);
    else inline[kind as keyof typeof inline] = own[hook];
  }
}

/** Registers `BaseServer`'s hooks: each one the library's, the flow's to
 * run inline; its servers show their flow under `kFusedFlow` (for tests). */
export function registerBaseServer(prototype: object): void {
  Object.defineProperty(prototype, kFusedFlow, {
    get(this: object) {
      return flows.get(this);
    },
  });
  registerBuiltins(prototype, SERVER_HOOKS, {
    verifyRequest: "verifyRequest",
    processRequest: "processRequest",
    finishRequest: "finishRequest",
    baseShutdown: "shutdownRequest",
  });
}

/** The server hooks the fused flow may run inline. */
const SERVER_HOOKS = [
  "getRequest",
  "verifyRequest",
  "processRequest",
  "finishRequest",
  "shutdownRequest",
  "closeRequest",
  "handleError",
  "handleDrop",
] as const;

/** The handler hooks the fused flow may run inline. */
const HANDLER_HOOKS = ["setup", "finish"] as const;

/** The hooks of `server` and its handler class that are not the library's, so take the full path
 * (a handler may still replace `setup`/`finish` on its instance: the flow checks that). */
export function fullPathHooks(server: object): string[] {
  const hooks = server as Record<string, unknown>;
  const found: string[] = SERVER_HOOKS.filter((hook) => !builtins.has(hooks[hook] as AnyFunction));
  const thread = hooks.processRequestThread as AnyFunction | undefined;
  if (thread !== undefined && !threadTasks.has(thread)) found.push("processRequestThread");
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
  [kSent]?(): void;
}

/** What the flow needs of its server. */
export interface FlowServer<R, A> {
  readonly RequestHandlerClass: new (request: R, clientAddress: A, server: never) => Handler;
  verifyRequest(request: R, clientAddress: A): boolean | Promise<boolean>;
  processRequest(request: R, clientAddress: A): unknown;
  processRequestThread?(request: R, clientAddress: A): Promise<void>;
  finishRequest(request: R, clientAddress: A): unknown;
  shutdownRequest(request: R): unknown;
  closeRequest(request: R): unknown;
  readonly [kRequests]: OpenRequests<R>;
  [kReleaseRequest]?(request: R): void;
}

/** What the flow needs of the request loop. */
export interface FlowLoop<R, A> {
  /** `handleDrop()` or `handleError()`, guarded. */
  report(request: R, clientAddress: A, error: unknown): Promise<void>;
  /** An error on the way: reported, then `shutdownRequest()`. */
  failed(request: R, clientAddress: A, error: unknown): Promise<void>;
  readonly requests: {
    delete(request: R): void;
    lingering(request: R): boolean;
  };
}

/** `FusedFlow.run()`'s answer when a hook it would replace is overridden. */
export const FULL: unique symbol = Symbol("full");

/** No failure (`undefined` may be one: a handler may throw anything). */
const NONE = Symbol("none");

// deno-lint-ignore no-explicit-any
type AnyFlow = FusedFlow<any, any>;
type Frame = (
  flow: AnyFlow,
  request: unknown,
  clientAddress: unknown,
  task: boolean,
) => Promise<void>;
const frames: Frame[] = [];
const flows = new WeakMap<object, AnyFlow>();

/** The flow of `server`'s request loop. */
export function flowOf<R, A>(server: FlowServer<R, A>): FusedFlow<R, A> {
  return flows.get(server)!;
}

/** One server's fused flow. */
export class FusedFlow<R, A> {
  readonly server: FlowServer<R, A>;
  readonly loop: FlowLoop<R, A>;
  /** How many requests the fused flow took, rather than the loop's own. */
  fused = 0;

  constructor(server: FlowServer<R, A>, loop: FlowLoop<R, A>) {
    this.server = server;
    this.loop = loop;
    flows.set(server, this);
  }

  /** The loop's step after `getRequest()`: the fused flow (a promise that never rejects), a
   * ThreadingMixIn's task started (`undefined`), or `FULL` when a hook is overridden. */
  run(request: R, clientAddress: A): Promise<void> | undefined | typeof FULL {
    const server = this.server;
    if (server.verifyRequest !== inline.verifyRequest) return FULL;
    const process = server.processRequest;
    if (process === inline.processRequest) return framed(this, request, clientAddress, false);
    if (!threadProcesses.has(process)) return FULL;
    try {
      process.call(server, request, clientAddress); // its task reports its own errors
    } catch (error) {
      return this.loop.failed(request, clientAddress, error);
    }
    return undefined;
  }

  /** A ThreadingMixIn server's task when its `processRequestThread()` is
   * the library's: finishing and shutting down the request. Never rejects. */
  task(request: R, clientAddress: A): Promise<void> {
    return framed(this, request, clientAddress, true);
  }

  /** The hooks that take the full path: see {@linkcode fullPathHooks}. */
  fullPathHooks(): string[] {
    return fullPathHooks(this.server);
  }

  /** Whether `processRequestThread` is a ThreadingMixIn class's own. */
  static isThreadTask(processRequestThread: unknown): boolean {
    return threadTasks.has(processRequestThread as AnyFunction);
  }

  /** After `finishRequest()` (and StreamServer's `closeWrite()`): the rest of
   * `shutdownRequest()`, or the report of `failure`, as the loop's flow or
   * a ThreadingMixIn task does it. Never throws nor rejects. */
  end(request: R, clientAddress: A, task: boolean, failure: unknown): Promise<void> | undefined {
    if (failure !== NONE) {
      return task
        ? this.#reportThenShutdown(request, clientAddress, failure)
        : this.loop.failed(request, clientAddress, failure);
    }
    const server = this.server;
    try {
      const shutdown = server.shutdownRequest;
      const shut = shutdown === inline.streamShutdown || shutdown === inline.baseShutdown
        ? this.#close(request)
        : server.shutdownRequest(request);
      if (shut instanceof Promise) {
        return shut.catch((error) => this.#shutdownFailed(request, clientAddress, task, error));
      }
    } catch (error) {
      return this.#shutdownFailed(request, clientAddress, task, error);
    }
    return undefined;
  }

  /** The default `shutdownRequest()`'s last step: `closeRequest()`, then the request is over even
   * when an override of it did not call `super` (unless `serverClose()` now owns it). */
  #close(request: R): unknown {
    const server = this.server;
    const close = server.closeRequest;
    const closed = close.call(server, request);
    if (builtins.has(close as AnyFunction)) return closed;
    const release = () => {
      if (!this.loop.requests.lingering(request)) markOver(server, request);
    };
    return closed instanceof Promise ? closed.then(release) : release();
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

  async #shutdownFailed(request: R, clientAddress: A, task: boolean, error: unknown) {
    if (!task) return await this.loop.failed(request, clientAddress, error);
    await this.loop.report(request, clientAddress, error);
    // closeRequest(), then the base's own in case an override threw before calling it
    try {
      await this.server.closeRequest(request);
    } catch {
      // an override that throws: drop the entry below
    }
    this.loop.requests.delete(request);
  }
}

/** Runs the fused flow under a frame naming the request (`_caller.ts`), so
 * that a `serverClose()` its hooks await does not wait for it. */
function framed(flow: AnyFlow, request: unknown, clientAddress: unknown, task: boolean) {
  flow.fused++;
  const slot = takeFrame(request);
  return (frames[slot] ??= makeFrame(slot))(flow, request, clientAddress, task);
}

function makeFrame(slot: number): Frame {
  const name = frameName(slot);
  return {
    // One async function, kept small (its registers are allocated per request), awaiting only a
    // hook's promise; a copy per slot, for its name (the code is shared)
    async [name](flow: AnyFlow, request: unknown, clientAddress: unknown, task: boolean) {
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
                  handler[kSent]!();
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
        if (!await streamShutdown(flow, request as Deno.Conn)) return releaseFrame(slot);
      }
      const rest = flow.end(request, clientAddress, task, failure);
      if (rest !== undefined) await rest;
      releaseFrame(slot);
    },
  }[name];
}

/** `StreamServer.shutdownRequest()` up to its `closeRequest()`: false when
 * `serverClose()` lingers on the request, whose close is then its job. */
function streamShutdown(flow: AnyFlow, conn: Deno.Conn): boolean | Promise<boolean> {
  const requests = flow.loop.requests;
  if (requests.lingering(conn)) return false;
  const sending = sendsInFlight(conn);
  return sending === null ? closeWrite(conn) : sending.then(() => {
    return !requests.lingering(conn) && closeWrite(conn); // the grace may have run out meanwhile
  });
}

/** Shuts the write side: Deno's `close()` cancels a write still in flight
 * (one a handler did not await), while `closeWrite()` waits for it. */
function closeWrite(conn: Deno.Conn): Promise<boolean> {
  return conn.closeWrite().then(yes, yes); // failed: the client is gone, or it is closed
}
const yes = () => true;
