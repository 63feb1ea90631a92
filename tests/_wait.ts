/**
 * Bounded waits: every wait in the tests ends, so that a regression fails
 * the test instead of hanging it.
 *
 * @module
 */

/** Rejects after `ms` with a message saying what was awaited (`what`, or
 * what it returns then: a message that shows the state at the deadline). */
export function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string | (() => string),
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const awaited = typeof what === "string" ? what : what();
      reject(new Error(`Timed out after ${ms} ms waiting for ${awaited}`));
    }, ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Waits until `condition()` holds, checking every millisecond; fails
 * after `ms`. For states that no event announces (a count going down). */
export async function until(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
