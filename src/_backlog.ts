/**
 * {@linkcode Backlog}: the bytes of a `wfile`'s writes waiting their turn, which hold its handler's
 * `rfile` back beyond {@linkcode BACKLOG_LIMIT}, as Python's blocking write holds its handler.
 *
 * @module
 */

/** The most bytes of unawaited writes that may wait their turn before the handler's `rfile` stops
 * reading (docs/hardening.md): a client that sends without reading is held back, not queued. */
export const BACKLOG_LIMIT = 1024 * 1024;

/** Counts the bytes waiting; `wait()` settles once they fall to {@linkcode BACKLOG_LIMIT}. */
export class Backlog {
  #bytes = 0;
  #roomMade: PromiseWithResolvers<void> | null = null;

  /** A write of `n` bytes queues. */
  add(n: number): void {
    this.#bytes += n;
  }

  /** A write of `n` bytes took its turn: a waiter goes on once the rest fits. */
  took(n: number): void {
    this.#bytes -= n;
    if (this.#roomMade !== null && this.#bytes <= BACKLOG_LIMIT) {
      this.#roomMade.resolve();
      this.#roomMade = null;
    }
  }

  /** `null` within the limit, else what settles once the backlog is back within it. */
  wait(): Promise<void> | null {
    if (this.#bytes <= BACKLOG_LIMIT) return null;
    return (this.#roomMade ??= Promise.withResolvers()).promise;
  }
}
