/**
 * Binding in a constructor, and the error of binding twice.
 *
 * @module
 */

import { kCloseSocket } from "./_symbols.ts";

/** What `bindAndActivate()` needs of a server. */
interface Bindable {
  readonly closed: boolean;
  serverBind(): unknown;
  serverActivate(): unknown;
  [kCloseSocket](): void;
}

/**
 * Binds and activates `server` from its constructor: both hooks must be
 * synchronous there; on failure the socket is closed before the error is
 * rethrown.
 *
 * @param server The server being constructed.
 */
export function bindAndActivate(server: Bindable): void {
  if (server.closed) return; // its signal aborted before it was constructed
  try {
    mustBeSync(server.serverBind(), "serverBind");
    mustBeSync(server.serverActivate(), "serverActivate");
  } catch (error) {
    server[kCloseSocket]();
    throw error;
  }
}

function mustBeSync(result: unknown, hook: string): void {
  if (result instanceof Promise) {
    result.catch(() => {});
    throw new TypeError(
      `${hook}() returned a promise, which a constructor cannot await: pass { bindAndActivate: false } and await server.${hook}() yourself`,
    );
  }
}

/**
 * The error of a second `serverBind()`: the constructor has already bound,
 * unless it was given `bindAndActivate: false`.
 *
 * @param address Where the server is bound, formatted.
 * @returns The error to throw.
 */
export function alreadyBound(address: string): Error {
  return new Error(
    `The server is already bound to "${address}": the constructor binds unless given { bindAndActivate: false }, so call serverBind() only then; to bind another address create a new server`,
  );
}
