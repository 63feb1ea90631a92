/**
 * {@linkcode deadline}: every timer race in the package.
 *
 * @module
 */

/**
 * Settles as `promise` does, or, when `ms` pass first, with what `expired()`
 * returns (or rejects with what it throws); the timer never outlives the
 * race. An `ms` of `Infinity` sets no timer.
 */
export function deadline<T, U>(promise: Promise<T>, ms: number, expired: () => U): Promise<T | U> {
  if (ms === Infinity) return promise;
  return new Promise<T | U>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        resolve(expired());
      } catch (error) {
        reject(error);
      }
    }, ms);
    promise.then((value) => (clearTimeout(timer), resolve(value)), (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
