/**
 * The child side of a forking server. A child is `deno run <flags>
 * <Deno.mainModule>#socketserver-forking-child=<spec> <Deno.args…>`: the same
 * program, which constructs the same servers in the same order; the spec in
 * the URL fragment (read without any permission, and changing neither what
 * is loaded nor `import.meta.main`) says which of them serves, where. The
 * child says it listens with one marked line on stdout; the parent says
 * "stop" with lines on its stdin, and closing stdin (the parent gone) stops
 * it too.
 *
 * @module
 */

import type { AnyServer } from "./base_server.ts";
import { type Message, messageMarker } from "./_child_output.ts";
import { formatAddress } from "./_format.ts";

/** The URL fragment's prefix that makes a process a child. */
export const FRAGMENT = "socketserver-forking-child=";
/** How long a stopped child's program may go on before the process ends. */
const EXIT_LINGER_MS = 1_000;
/** How often a serving child tells its parent its `stats()`. */
export const STATS_INTERVAL_MS = 1_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the parent tells a child in its URL fragment. */
export interface ChildSpec {
  /** Which forking server of the program serves: its construction order. */
  id: number;
  nonce: string;
  className: string;
  requested: { hostname: string; port: number };
  bound: { hostname: string; port: number };
  /** The grace when the parent goes away without a word; null = Infinity. */
  graceMs: number | null;
}

/** What a forking server is in this process: the parent's (supervises), the
 * one this child serves, or another one of the program (does nothing). */
export type Role = "parent" | "child" | "inert";

function readChildSpec(): ChildSpec | null {
  try {
    const hash = new URL(Deno.mainModule).hash;
    if (!hash.startsWith(`#${FRAGMENT}`)) return null;
    return JSON.parse(decodeURIComponent(hash.slice(FRAGMENT.length + 1))) as ChildSpec;
  } catch {
    return null;
  }
}

/** This process's spec: `null` unless it is a child. */
export const childSpec: ChildSpec | null = readChildSpec();
/** Forking servers constructed so far by this process: a child serves the
 * one whose number its spec names. */
let constructed = 0;
/** The role and number of the server being constructed, for `serverBind()`
 * while the base constructor runs (before the instance's fields exist). */
let role: Role = "parent";
let ordinalOfRole = 0;
/** Resolves when the parent asks this child to stop. */
export const childStopping: PromiseWithResolvers<void> = Promise.withResolvers<void>();

/** Numbers the forking server being constructed, from 0. */
export function nextOrdinal(): number {
  return constructed++;
}

/** The role and number of the forking server being constructed. */
export function constructing(): { role: Role; ordinal: number } {
  return { role, ordinal: ordinalOfRole };
}

function sameHost(a: string | undefined, b: string | undefined): boolean {
  return (a ?? "0.0.0.0") === (b ?? "0.0.0.0");
}

/**
 * Decides the role of forking server number `ordinal` and rewrites its
 * constructor's arguments for it: an inert one must not bind; the child's
 * binds the port the parent bound. Throws when the program constructed
 * another server than the parent's.
 */
export function assignRole(
  Class: { name: string },
  ordinal: number,
  args: unknown[],
  options: Record<string, unknown>,
): unknown[] {
  ordinalOfRole = ordinal;
  if (childSpec === null) {
    role = "parent";
    return args;
  }
  if (ordinal !== childSpec.id) {
    role = "inert";
    return [args[0], args[1], { ...options, bindAndActivate: false }, ...args.slice(3)];
  }
  const requested = args[0] as { hostname?: string; port?: number };
  if (
    Class.name !== childSpec.className ||
    !sameHost(requested?.hostname, childSpec.requested.hostname) ||
    requested?.port !== childSpec.requested.port
  ) {
    const message = `This child process was started to serve ${childSpec.className} on "${
      formatAddress(childSpec.requested)
    }", but the program's forking server number ${ordinal + 1} is ${Class.name} on "${
      formatAddress(requested)
    }": a child runs the program again, which must construct the same servers in the same order`;
    tellParent({ error: message });
    throw new Error(message);
  }
  role = "child";
  return [{ hostname: childSpec.bound.hostname, port: childSpec.bound.port }, ...args.slice(1)];
}

/** Writes a message to the parent on stdout (in a child only). */
export function tellParent(message: Message): void {
  if (childSpec === null) return;
  const bytes = encoder.encode(`${messageMarker(childSpec.nonce)}${JSON.stringify(message)}\n`);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/** Child side: reads the parent's lines until "stop" or EOF, then stops the
 * server — closes its listener, lets its requests finish within the grace —
 * and lets the process end. */
export async function obeyParent(server: AnyServer, spec: ChildSpec): Promise<void> {
  const reader = Deno.stdin.readable.getReader();
  const report = () => {
    try {
      tellParent({ stats: server.stats() });
    } catch {
      // the parent is gone: its stdin's end stops this child
    }
  };
  report();
  const reporting = setInterval(report, STATS_INTERVAL_MS);
  Deno.unrefTimer(reporting); // it never keeps the child alive
  let stopped: Promise<void> | null = null;
  const stop = (graceMs: number | null, lingerMs?: number) => {
    childStopping.resolve();
    const close = async () => {
      await server.shutdown();
      await server.serverClose({ graceMs: graceMs ?? Infinity, lingerMs });
    };
    // A second "stop" with a shorter grace closes the requests sooner.
    const closing = close().catch((error) => console.error("Stopping the child failed:", error));
    stopped ??= closing.then(() => {
      clearInterval(reporting);
      report(); // the final figures, every request ended
      reader.cancel().catch(() => {});
      // The program may go on after serveForever() returns; give it a
      // moment, then end the process even if something is still pending.
      Deno.unrefTimer(setTimeout(() => Deno.exit(0), EXIT_LINGER_MS));
    });
  };
  let pending = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        const message = JSON.parse(line) as { stop?: number | null; lingerMs?: number };
        if ("stop" in message) stop(message.stop ?? null, message.lingerMs);
      }
    }
  } catch {
    // stdin unreadable: treat it as the parent gone
  }
  if (stopped === null) stop(spec.graceMs); // EOF: the parent is gone
  await stopped;
}
