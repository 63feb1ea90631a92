/**
 * {@linkcode ServerCounters}: the plain integers behind `BaseServer.stats()`, incremented in place
 * on the request path, and the classification of a request's outcome.
 *
 * @module
 */

import { LimitOverrunError, markedDropReason, TimeoutError } from "./errors.ts";
import { ProxyHeaderError } from "./proxy_protocol.ts";
import type { DropReason, ServerStats } from "./server_stats.ts";

/** How a request ended: `stats()` counts each request under one of these. */
export type Outcome = "completed" | "refused" | "error" | DropReason;

/** Every drop reason, in the order `stats().dropped` lists them. */
export const DROP_REASONS: readonly DropReason[] = [
  "reset",
  "timeout",
  "idleTimeout",
  "requestTimeout",
  "writeTimeout",
  "tooLong",
  "malformed",
  "handshake",
  "proxyHeader",
  "closed",
  "replyLost",
];

/** Why `error`, reported as a routine drop, dropped its request. */
export function dropReason(error: unknown): DropReason {
  const marked = markedDropReason(error);
  if (marked !== undefined) return marked as DropReason;
  if (error instanceof TimeoutError) return error.attribute;
  if (error instanceof Deno.errors.TimedOut) return "timeout";
  if (error instanceof LimitOverrunError) return "tooLong";
  if (error instanceof ProxyHeaderError) return "proxyHeader";
  return "reset";
}

function noDrops(): Record<DropReason, number> {
  return {
    reset: 0,
    timeout: 0,
    idleTimeout: 0,
    requestTimeout: 0,
    writeTimeout: 0,
    tooLong: 0,
    malformed: 0,
    handshake: 0,
    proxyHeader: 0,
    closed: 0,
    replyLost: 0,
  };
}

/** One server's counters; readers and writers of its handlers add their bytes. */
export class ServerCounters {
  accepted = 0;
  completed = 0;
  refused = 0;
  errors = 0;
  bytesRead = 0;
  bytesWritten = 0;
  readonly dropped: Record<DropReason, number> = noDrops();

  /** Counts a request that ended other than completed. */
  ended(outcome: Outcome): void {
    if (outcome === "completed") this.completed++;
    else if (outcome === "refused") this.refused++;
    else if (outcome === "error") this.errors++;
    else this.dropped[outcome]++;
  }

  /** The counters as `stats()` returns them, with `active` requests open. */
  snapshot(active: number): ServerStats {
    return {
      accepted: this.accepted,
      refused: this.refused,
      completed: this.completed,
      dropped: { ...this.dropped },
      errors: this.errors,
      bytesRead: this.bytesRead,
      bytesWritten: this.bytesWritten,
      active,
    };
  }
}

/** The counters of a reader or writer no handler made: counted so the I/O path has no branch. */
export const UNCOUNTED: ServerCounters = new ServerCounters();

/** What a forking parent adds to its snapshot: its children's figures. Set by the supervisor, so
 * that the core does not import it. */
export const childStats: WeakMap<object, (own: ServerStats) => ServerStats> = new WeakMap();

/** Adds `from`'s counts to `into`'s (for summing children's reports). */
export function addStats(into: ServerStats, from: ServerStats): void {
  into.accepted += from.accepted;
  into.refused += from.refused;
  into.completed += from.completed;
  into.errors += from.errors;
  into.bytesRead += from.bytesRead;
  into.bytesWritten += from.bytesWritten;
  into.active += from.active;
  for (const reason of DROP_REASONS) into.dropped[reason] += from.dropped[reason] ?? 0;
}

/** A snapshot of nothing counted yet. */
export function emptyStats(): ServerStats {
  return new ServerCounters().snapshot(0);
}
