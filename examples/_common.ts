/**
 * What the examples share: the main program — where to listen (`[port]`
 * argument, `PORT` and `HOST` environment variables), a line saying where the
 * server listens, a clean stop on Ctrl-C (SIGINT) or SIGTERM — and a few small
 * helpers.
 *
 * @module
 */
import { type AnyServer, isRoutineDrop } from "../mod.ts";

/**
 * The address to listen on: the first argument or `PORT` (else
 * `defaultPort`), on `HOST` (else loopback only).
 *
 * @param defaultPort The port when none is given; 0 picks a free one.
 * @returns The address for a `TCPServer`.
 */
export function listenAddress(defaultPort: number): { hostname: string; port: number } {
  const given = Deno.args[0] ?? Deno.env.get("PORT") ?? String(defaultPort);
  const port = Number(given);
  if (!/^[0-9]+$/.test(given) || port > 65535) {
    throw new RangeError(`The port must be an integer from 0 to 65535, got "${given}"`);
  }
  return { hostname: Deno.env.get("HOST") ?? "127.0.0.1", port };
}

/**
 * Prints `<name> listening on host:port` (or on the socket's path), serves
 * until SIGINT or SIGTERM, then closes the server, giving open connections
 * `graceMs` to end; a second signal meanwhile exits at once.
 *
 * @param server The bound server, of any transport.
 * @param name What to call it in the messages.
 * @param graceMs How long connections still open at the stop may take.
 * @returns Once the server is closed.
 */
export async function serveUntilSignal(
  server: AnyServer,
  name: string,
  graceMs = 1000,
): Promise<void> {
  const onInt = onStopSignal("SIGINT", () => server.shutdown(), name);
  const onTerm = onStopSignal("SIGTERM", () => server.shutdown(), name);
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const address = server.serverAddress as { hostname?: string; port?: number; path?: string };
  const where = address.path ?? `${address.hostname}:${address.port}`;
  console.log(`${name} listening on ${where} (Ctrl-C stops)`);
  try {
    await server.serveForever();
  } finally {
    // the listeners stay through the grace period: a second signal ends it
    try {
      await server.serverClose({ graceMs });
    } finally {
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
    }
  }
  console.log(`${name} stopped`);
}

/**
 * A stop-signal listener: the first signal calls `stop()` (a graceful stop);
 * a second one, when the user will not wait for the grace period, exits at
 * once with the shell's code for that signal (130 for SIGINT, 143 for
 * SIGTERM).
 *
 * @param signal The signal listened to.
 * @param stop What the first signal does.
 * @param name What to call the program in the message.
 * @returns The listener.
 */
export function onStopSignal(signal: Deno.Signal, stop: () => unknown, name: string): () => void {
  return () => {
    if (stopping) {
      console.log(`${name}: second ${signal}, exiting without waiting for connections to end`);
      Deno.exit(signal === "SIGINT" ? 130 : 143);
    }
    stopping = true;
    stop();
  };
}

/** Whether a stop signal has come: shared by every listener, so that a
 * SIGTERM after a Ctrl-C is a second signal too. */
let stopping = false;

/** Whether `error` means the peer went away, or the server closed the
 * connection under a task that was still using it: the library's routine
 * drops (`isRoutineDrop`), plus the errors of an operation on a closed
 * connection. */
export function isDisconnect(error: unknown): boolean {
  return isRoutineDrop(error) || error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.BadResource;
}

/** The parts joined into one array: one write instead of several. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
