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
 * Refuses a `serverBind()` that would leave a socket nobody closes: on a
 * server already bound (the constructor binds unless given
 * `bindAndActivate: false`), or closed (`serverClose()` has run, and will not
 * run again for this socket).
 *
 * @param server The server.
 * @param address Where it binds, formatted.
 */
export function checkBindable(
  server: { readonly closed: boolean; readonly socket?: unknown },
  address: string,
): void {
  if (server.closed) {
    throw new Deno.errors.BadResource(
      `Cannot call serverBind() on a closed server: create a new ${server.constructor.name}`,
    );
  }
  if (server.socket !== undefined) {
    throw new Error(
      `The server is already bound to "${address}": the constructor binds unless given { bindAndActivate: false }, so call serverBind() only then; to bind another address create a new server`,
    );
  }
}
