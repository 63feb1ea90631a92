/**
 * {@linkcode GuardedRunner}: runs a hook such as `serviceActions()` so that
 * an async run never overlaps the next and what it throws is reported.
 *
 * @module
 */

import { namesOnStack } from "./_caller.ts";
import { setRepeating } from "./_deadline.ts";

const ignore = () => {};
let runners = 0;

/** Runs one hook, one run at a time, printing its errors. */
export class GuardedRunner {
  /** The async run in progress, if any. */
  running: Promise<void> | null = null;
  #calling = false;

  #hook: () => unknown;
  #name: string;

  /** Awaits the hook's async run under a name of this runner's, which `calling()` looks for. */
  #awaitRun: (result: Promise<unknown>) => Promise<void>;
  #frame: string;

  /** `name` is the hook's, for messages: `"serviceActions()"`. */
  constructor(hook: () => unknown, name: string) {
    this.#hook = hook;
    this.#name = name;
    const frame = this.#frame = `socketserver_guarded_${runners++}`;
    this.#awaitRun = {
      async [frame](result: Promise<unknown>) {
        await result;
      },
    }[frame];
  }

  /** Whether the hook is the caller: its synchronous start, or its async run on the async call
   * stack (not a timer's callback it started, as `_caller.ts` says). */
  calling(): boolean {
    if (this.#calling) return true;
    return this.running !== null && namesOnStack().includes(this.#frame);
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
        const running: Promise<void> = this.#awaitRun(result)
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
