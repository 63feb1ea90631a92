/**
 * Which request's handler is calling? `await this.server.serverClose()` in a
 * handler must not wait for that same handler. JavaScript cannot tell a
 * function its caller, but V8's async stack trace names every async function
 * awaiting on the way: `finishRequest()` runs under an async frame whose name
 * holds a slot number, the slot holds the request, and `serverClose()` reads
 * the slots off its own stack. One async call per request; the stack is read
 * only by `serverClose()`, and only while requests are open. A timer's
 * callback does not continue the async stack, so its call is not recognised.
 *
 * @module
 */

/** What `finishRequestFramed()` calls on the server. */
interface Finisher {
  finishRequest(request: unknown, clientAddress: unknown): Promise<void>;
  shutdownRequest(request: unknown): unknown;
}

const FRAME_NAME = "socketserver_request_";
const FRAME_PATTERN = /socketserver_request_(\d+)/g;
type Frame = (
  server: Finisher,
  request: unknown,
  clientAddress: unknown,
  shutdown: boolean,
) => Promise<void>;
const frames: Frame[] = [];
const frameRequests: unknown[] = [];
const freeFrames: number[] = [];
let slots = 0;

/** Takes a slot for `request`: a function named `frameName(slot)` awaiting
 * on the request's behalf names it to `callers()` until `releaseFrame(slot)`. */
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

/**
 * Runs `server.finishRequest(request, clientAddress)` under a frame that
 * names the request, so that a `serverClose()` awaited by its handler finds
 * it; then, when `shutdown` is true, `server.shutdownRequest(request)` (what
 * the default `processRequest()` does). `ThreadingMixIn` calls it too.
 *
 * @param server The server.
 * @param request The request.
 * @param clientAddress The client's address.
 * @param shutdown Whether to shut the request down after its handler.
 * @returns When the handler has finished (and the request is shut down).
 */
export function finishRequestFramed(
  server: Finisher,
  request: unknown,
  clientAddress: unknown,
  shutdown = false,
): Promise<void> {
  const slot = takeFrame(request);
  return (frames[slot] ??= makeFrame(slot))(server, request, clientAddress, shutdown);
}

function makeFrame(slot: number): Frame {
  const name = frameName(slot);
  return {
    async [name](server: Finisher, request: unknown, clientAddress: unknown, shutdown: boolean) {
      try {
        await server.finishRequest(request, clientAddress);
      } finally {
        releaseFrame(slot);
      }
      if (shutdown) {
        const shut = server.shutdownRequest(request);
        if (shut instanceof Promise) await shut;
      }
    },
  }[name];
}

const NO_REQUESTS: ReadonlySet<never> = new Set();

/** The requests in `open` whose handlers are on the current (async) call stack. */
export function callers<R>(
  open: { readonly size: number; has(request: R): boolean },
): ReadonlySet<R> {
  if (open.size === 0) return NO_REQUESTS;
  const found = new Set(requestsOnStack().filter((request) => open.has(request as R)) as R[]);
  return found.size === 0 ? NO_REQUESTS : found;
}

/** The requests whose handlers are on the current (async) call stack. */
function requestsOnStack(): unknown[] {
  const limit = Error.stackTraceLimit;
  let stack = "";
  try {
    Error.stackTraceLimit = Infinity;
    stack = new Error().stack ?? "";
  } catch {
    // no stack to read: no caller found
  } finally {
    Error.stackTraceLimit = limit;
  }
  const found: unknown[] = [];
  for (const match of stack.matchAll(FRAME_PATTERN)) {
    const request = frameRequests[Number(match[1])];
    if (request !== undefined) found.push(request);
  }
  return found;
}
