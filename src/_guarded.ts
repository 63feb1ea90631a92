/**
 * {@linkcode GuardedRunner}: runs a hook such as `serviceActions()` so that
 * an async run never overlaps the next and what it throws is reported.
 *
 * @module
 */

import { setRepeating } from "./_deadline.ts";

const ignore = () => {};

/** Runs one hook, one run at a time, printing its errors. */
export class GuardedRunner {
  /** The async run in progress, if any. */
  running: Promise<void> | null = null;
  #calling = false;

  /** Whether a run is in progress, including the hook's synchronous start. */
  get busy(): boolean {
    return this.#calling || this.running !== null;
  }
  #hook: () => unknown;
  #name: string;

  /** `name` is the hook's, for messages: `"serviceActions()"`. */
  constructor(hook: () => unknown, name: string) {
    this.#hook = hook;
    this.#name = name;
  }

  /** Runs the hook every `ms` while `when()` and not running; returns what stops it. */
  every(ms: number | null, when: () => boolean): () => void {
    if (ms === null || ms <= 0) return ignore;
    const ticker = setRepeating(() => {
      if (when() && this.running === null) this.run();
    }, ms);
    return () => ticker.clear();
  }

  /** Runs the hook (only when `running` is null); returns its run when it is async. */
  run(): Promise<void> | undefined {
    try {
      this.#calling = true;
      let result;
      try {
        result = this.#hook();
      } finally {
        this.#calling = false;
      }
      if (result instanceof Promise) {
        const running: Promise<void> = result
          .catch((error) => console.error(`${this.#name} threw:`, error))
          .finally(() => {
            if (this.running === running) this.running = null;
          });
        return this.running = running;
      }
    } catch (error) {
      console.error(`${this.#name} threw:`, error);
    }
    return undefined;
  }
}
