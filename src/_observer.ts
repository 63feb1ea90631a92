/**
 * {@linkcode RequestObserver}: what the request loop tells an attached observer (`otel` attaches
 * one). A server without one pays a null check per request; `stats()` does not need one.
 *
 * @module
 */

import type { Outcome, ServerCounters } from "./_counters.ts";

/** Sees every request of one server, from its taking to its end. */
export interface RequestObserver {
  /** Runs `handle` (the request's way from `verifyRequest()` on) and returns what it returns: the
   * place to make a context current for the handler. */
  request<T>(request: unknown, clientAddress: unknown, handle: () => T): T;
  /** A PROXY protocol header named the request's original client. */
  admitted(request: unknown, clientAddress: unknown): void;
  /** A drop or an error was first reported for an open request (it has one outcome). */
  reported(request: unknown, outcome: Outcome, error: unknown): void;
  /** The request ended (`closeRequest()`), with its outcome. */
  ended(request: unknown, outcome: Outcome): void;
}

/** Makes the observer of a server being constructed (not whole yet: its counters given), or null. */
export type ObserverFactory = (server: object, counters: ServerCounters) => RequestObserver | null;

let factory: ObserverFactory | null = null;

/** Sets what observes every server constructed from now on (null: none). */
export function observeNewServers(make: ObserverFactory | null): void {
  factory = make;
}

/** The observer for a server being constructed, from the factory if any. */
export function observerFor(server: object, counters: ServerCounters): RequestObserver | null {
  return factory === null ? null : factory(server, counters);
}
