/**
 * {@linkcode deadline}: every timer race in the package, and the timers
 * under it. Deno's timers, like Node's, fire after 1 ms for any delay past
 * {@linkcode MAX_TIMER_MS} (24.8 days): {@linkcode setTimer} and
 * {@linkcode setRepeating} wait as long as they are told, `Infinity` for ever.
 *
 * @module
 */

/** The longest delay `setTimeout()` takes as given: 2^31 - 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer of {@linkcode setTimer} or {@linkcode setRepeating}. */
export interface Timer {
  /** Cancels it; it does not fire afterwards. */
  clear(): void;
}

const NO_TIMER: Timer = { clear() {} };

/**
 * `setTimeout(callback, ms)` for any `ms`: `Infinity` sets no timer, and a
 * delay past {@linkcode MAX_TIMER_MS} is waited in steps.
 */
export function setTimer(callback: () => void, ms: number): Timer {
  if (ms === Infinity) return NO_TIMER;
  if (ms <= MAX_TIMER_MS) {
    const id = setTimeout(callback, ms);
    return { clear: () => clearTimeout(id) };
  }
  const until = performance.now() + ms;
  let id: ReturnType<typeof setTimeout>;
  const step = () => {
    const left = until - performance.now();
    id = left > MAX_TIMER_MS ? setTimeout(step, MAX_TIMER_MS) : setTimeout(callback, left);
  };
  id = setTimeout(step, MAX_TIMER_MS);
  return { clear: () => clearTimeout(id) };
}

/** `setInterval(callback, ms)` for any `ms`: `Infinity` never calls it. */
export function setRepeating(callback: () => void, ms: number): Timer {
  if (ms <= MAX_TIMER_MS) {
    const id = setInterval(callback, ms);
    return { clear: () => clearInterval(id) };
  }
  let timer: Timer = NO_TIMER;
  let cleared = false;
  const tick = () => {
    if (!cleared) timer = setTimer(tick, ms);
    callback();
  };
  timer = setTimer(tick, ms);
  return {
    clear: () => {
      cleared = true;
      timer.clear();
    },
  };
}

/** Settles as `promise` does, or, when `ms` pass first, as `expired()` returns or throws; the
 * timer never outlives the race, and `Infinity` sets none. */
export function deadline<T, U>(promise: Promise<T>, ms: number, expired: () => U): Promise<T | U> {
  if (ms > MAX_TIMER_MS) return ms === Infinity ? promise : longDeadline(promise, ms, expired);
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

/** {@linkcode deadline} past {@linkcode MAX_TIMER_MS}: off the per-read path. */
function longDeadline<T, U>(promise: Promise<T>, ms: number, expired: () => U): Promise<T | U> {
  return new Promise<T | U>((resolve, reject) => {
    const timer = setTimer(() => {
      try {
        resolve(expired());
      } catch (error) {
        reject(error);
      }
    }, ms);
    promise.then((value) => (timer.clear(), resolve(value)), (error) => {
      timer.clear();
      reject(error);
    });
  });
}
