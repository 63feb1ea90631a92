/**
 * The one line every benchmark server prints once it listens, so the harness
 * knows where to send load and which process to measure:
 * `READY {"port":1234,"pid":42}` (or `"path"` for a Unix socket).
 *
 * @module
 */

/** Where a benchmark server listens. */
export interface Listening {
  /** The TCP or UDP port, for network servers. */
  port?: number;
  /** The socket's path, for Unix servers. */
  path?: string;
}

/** Prints the READY line on stdout. */
export function ready(where: Listening): void {
  // Exit cleanly on SIGTERM, so that `deno run --cpu-prof` writes its profile.
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  console.log(`READY ${JSON.stringify({ ...where, pid: Deno.pid })}`);
}

/** The bench servers' argument conventions: `<mode> [unix-socket-path]`. */
export function args(): { mode: string; path: string } {
  const [mode = "", path = ""] = Deno.args;
  return { mode, path };
}

/** The seed handler's work, shared by every Deno one-shot server: the text
 * trimmed, upper-cased, and (for the load generator's check) a newline put back. */
export function shout(bytes: Uint8Array): Uint8Array {
  return encoder.encode(decoder.decode(bytes).trim().toUpperCase() + "\n");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
