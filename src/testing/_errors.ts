/**
 * The errors the in-memory transports throw: the classes, messages and
 * `code`s Deno 2.9 gives its own sockets on Linux, so that code which tells
 * errors apart (`isRoutineDrop()`, a handler's `catch`) sees the same ones.
 *
 * @module
 */

function withCode<E extends Error>(error: E, code: string): E {
  Object.defineProperty(error, "code", { value: code, enumerable: true, configurable: true });
  return error;
}

/** An operation on a closed socket: Deno's `Bad resource ID`. */
export function badResource(message = "Bad resource ID"): Deno.errors.BadResource {
  return new Deno.errors.BadResource(message);
}

/** A second `accept()` (or Unix `receive()`) while one waits: Deno's
 * sockets take one at a time. */
export function busy(message: string): Deno.errors.Busy {
  return new Deno.errors.Busy(message);
}

/** A write after `closeWrite()`, or to a peer that is gone (`EPIPE`). */
export function brokenPipe(): Deno.errors.BrokenPipe {
  return withCode(new Deno.errors.BrokenPipe("Broken pipe (os error 32)"), "EPIPE");
}

/** What a reset connection reports once (`ECONNRESET`). */
export function connectionReset(): Deno.errors.ConnectionReset {
  return withCode(
    new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)"),
    "ECONNRESET",
  );
}

/** A connection to a port nothing listens on (`ECONNREFUSED`). */
export function connectionRefused(): Deno.errors.ConnectionRefused {
  return withCode(
    new Deno.errors.ConnectionRefused("Connection refused (os error 111)"),
    "ECONNREFUSED",
  );
}

/** A Unix socket path where nothing is (`ENOENT`). */
export function notFound(): Deno.errors.NotFound {
  return withCode(new Deno.errors.NotFound("No such file or directory (os error 2)"), "ENOENT");
}

/** An address another socket holds (`EADDRINUSE`). */
export function addrInUse(): Deno.errors.AddrInUse {
  return withCode(new Deno.errors.AddrInUse("Address already in use (os error 98)"), "EADDRINUSE");
}

/** An operation pending when its own socket was closed (`EINTR`). */
export function interrupted(): Deno.errors.Interrupted {
  return withCode(new Deno.errors.Interrupted("operation canceled"), "EINTR");
}

/** A datagram longer than the transport carries (`EMSGSIZE`): Deno throws a
 * plain `Error` with that code. */
export function messageTooLong(): Error {
  return withCode(new Error("Message too long (os error 90)"), "EMSGSIZE");
}

/** What a conn's `readable` / `writable` report once the conn is closed. */
export function streamClosed(): Deno.errors.BadResource {
  return badResource("The stream's underlying resource was closed or consumed");
}
