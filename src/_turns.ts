/**
 * {@linkcode Turns}: one taker of requests at a time.
 *
 * @module
 */

import { deadline } from "./_deadline.ts";

/** `handleRequest()` calls take turns, in call order, so that no request goes to two callers. */
export class Turns {
  #taking = false;
  #waiting: Array<(yes: boolean) => void> = [];

  /** Whether a caller holds the turn. */
  get busy(): boolean {
    return this.#taking;
  }

  /** `true` when the caller may take a request now, else a promise of `true` when its turn comes,
   * or of `false` if `until` comes first. */
  take(until: number): true | Promise<boolean> {
    if (!this.#taking) return this.#taking = true;
    const waiting = this.#waiting;
    const { promise, resolve } = Promise.withResolvers<boolean>();
    waiting.push(resolve);
    return deadline(promise, Math.max(0, until - performance.now()), () => {
      const at = waiting.indexOf(resolve);
      if (at !== -1) waiting.splice(at, 1);
      return false;
    });
  }

  /** Hands the turn to the next caller waiting, if any. */
  pass(): void {
    const next = this.#waiting.shift();
    if (next !== undefined) next(true);
    else this.#taking = false;
  }
}
