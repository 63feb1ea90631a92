/**
 * Which request's hooks are calling? `serverClose()` awaited in a hook must not wait for that
 * request, and JavaScript cannot tell a function its caller; but V8's async stack trace names every
 * async function on the way. So a request's flow runs under a function whose name holds a slot
 * number, the slot holds the request, and `serverClose()` reads the slots off its own stack (only
 * while requests are open). A timer's callback does not continue the async stack: not recognised.
 *
 * @module
 */

/** A request's flow: the request loop's (verify → process → shutdown), or a
 * `ThreadingMixIn` server's task. */
export interface Flow<R, A> {
  /** Runs the flow: a promise while it goes on, `undefined` once done. */
  run(request: R, clientAddress: A): Promise<void> | undefined;
  /** What the flow's promise rejected with: report it, release the request. */
  failed(request: R, clientAddress: A, error: unknown): Promise<void>;
  /** Set by `run()`: `shutdownRequest()` is to follow its promise (read at once). */
  shutdownAfter?: boolean;
  shutdownRequest?(request: R): unknown;
}

const FRAME_NAME = "socketserver_request_";
const FRAME_PATTERN = /^socketserver_request_(\d+)$/;
// deno-lint-ignore no-explicit-any
type AnyFlow = Flow<any, any>;
interface Frame {
  /** Calls the flow under the frame's name. */
  enter(flow: AnyFlow, request: unknown, clientAddress: unknown): Promise<void> | undefined;
  /** Awaits the rest of the flow under the frame's name. */
  wait(
    flow: AnyFlow,
    request: unknown,
    clientAddress: unknown,
    rest: Promise<void>,
    shutdown: boolean,
  ): Promise<void>;
}
const frames: Frame[] = [];
const frameRequests: unknown[] = [];
const freeFrames: number[] = [];
let slots = 0;

/** Takes a slot for `request`: a function named `frameName(slot)` awaiting
 * on the request's behalf names it to `callers()` until `releaseFrame(slot)`
 * (what the fused flow's frames do, `_fused_flow.ts`). */
export function takeFrame(request: unknown): number {
  const slot = freeFrames.pop() ?? slots++;
  frameRequests[slot] = request;
  return slot;
}

/** Gives back a slot `takeFrame()` took. */
export function releaseFrame(slot: number): void {
  frameRequests[slot] = undefined;
  freeFrames.push(slot);
}

/** The name of the frames of `slot`. */
export function frameName(slot: number): string {
  return `${FRAME_NAME}${slot}`;
}

/** Runs `flow.run()` under a frame naming the request, for `serverClose()` to find; a rejection
 * goes to `flow.failed()`, framed too. Returns `undefined` if it ended synchronously, else its end
 * (which never rejects). */
export function framed<R, A>(
  flow: Flow<R, A>,
  request: R,
  clientAddress: A,
): Promise<void> | undefined {
  const slot = takeFrame(request);
  return (frames[slot] ??= makeFrame(slot)).enter(flow, request, clientAddress);
}

function makeFrame(slot: number): Frame {
  const name = frameName(slot);
  const enter = {
    [name](flow: AnyFlow, request: unknown, clientAddress: unknown): Promise<void> | undefined {
      let rest: Promise<void> | undefined;
      try {
        rest = flow.run(request, clientAddress);
      } catch (error) {
        rest = Promise.reject(error);
      }
      if (rest === undefined) return void releaseFrame(slot);
      const shutdown = flow.shutdownAfter === true;
      if (shutdown) flow.shutdownAfter = false;
      return frame.wait(flow, request, clientAddress, rest, shutdown);
    },
  }[name];
  const wait = {
    async [name](
      flow: AnyFlow,
      request: unknown,
      clientAddress: unknown,
      rest: Promise<void>,
      shutdown: boolean,
    ) {
      try {
        await rest;
        if (shutdown) {
          const shut = flow.shutdownRequest!(request);
          if (shut instanceof Promise) await shut;
        }
      } catch (error) {
        await flow.failed(request, clientAddress, error);
      } finally {
        releaseFrame(slot);
      }
    },
  }[name];
  const frame: Frame = { enter, wait };
  return frame;
}

const NO_REQUESTS: ReadonlySet<never> = new Set();

/** The requests in `open` whose flows are on the current (async) call stack. */
export function callers<R>(
  open: { readonly size: number; has(request: R): boolean },
): ReadonlySet<R> {
  if (open.size === 0) return NO_REQUESTS;
  const found = new Set(requestsOnStack().filter((request) => open.has(request as R)) as R[]);
  return found.size === 0 ? NO_REQUESTS : found;
}

type StackErrors = ErrorConstructor & { prepareStackTrace?: unknown };
interface CallSite {
  getFunctionName(): string | null;
}

/** The stack's function names, read from V8's call sites rather than from
 * the formatted stack, which a replaced `Error.prepareStackTrace` (what
 * source-map-support installs) may format another way. */
const functionNames = (_error: Error, sites: CallSite[]): (string | null)[] =>
  sites.map((site) => site.getFunctionName());

/** The names of the functions on the current (async) call stack. */
export function namesOnStack(): unknown[] {
  const errors = Error as StackErrors;
  const limit = errors.stackTraceLimit;
  const prepare = errors.prepareStackTrace;
  let names: unknown = [];
  try {
    errors.stackTraceLimit = Infinity;
    errors.prepareStackTrace = functionNames;
    names = new Error().stack;
  } catch {
    // no stack to read: no caller found
  } finally {
    errors.prepareStackTrace = prepare;
    errors.stackTraceLimit = limit;
  }
  return Array.isArray(names) ? names : [];
}

/** The requests whose flows are on the current (async) call stack. */
function requestsOnStack(): unknown[] {
  const found: unknown[] = [];
  for (const name of namesOnStack()) {
    const match = typeof name === "string" ? FRAME_PATTERN.exec(name) : null;
    const request = match === null ? undefined : frameRequests[Number(match[1])];
    if (request !== undefined) found.push(request);
  }
  return found;
}
