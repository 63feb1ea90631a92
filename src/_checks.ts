/**
 * Checks of option and attribute values, worded for the user.
 *
 * @module
 */

import { describeValue } from "./_format.ts";

/** Checks a duration in ms: a number, 0 or more, or `null` when `nullable`;
 * and not a fraction of a millisecond, which can only be seconds. */
export function checkDuration(name: string, value: unknown, nullable: boolean): void {
  if (value === null && nullable) return;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(
      `"${name}" must be a number of milliseconds${nullable ? " or null" : ""}, got ${
        describeValue(value)
      }`,
    );
  }
  if (value < 0) throw new RangeError(`"${name}" must be 0 or more milliseconds, got ${value}`);
  if (value < 1 && value > 0) throw secondsMistake(name, value);
}

/** The error for a duration between 0 and 1 ms: no timer is that fine, so it is seconds written by
 * Python habit (`timeout = 0.5`). */
export function secondsMistake(name: string, value: number): RangeError {
  const ms = Number((value * 1000).toPrecision(12));
  // under 1 ms even as seconds: advise the shortest duration accepted, not a value refused too
  const advice = ms >= 1
    ? `write ${ms} for ${value} s`
    : `write 1 for ${value} s (${ms} ms, rounded up to the shortest duration accepted), or 0`;
  return new RangeError(
    `"${name}" is ${value} ms, which can only be a number of seconds: durations here are milliseconds, so ${advice}`,
  );
}

/** Checks a duration attribute in ms that may be `null` (for ever). */
export function nullableDuration(name: string, value: unknown): void {
  checkDuration(name, value, true);
}

/** Checks a limit such as `maxConnections`: a positive integer, or `null`. */
export function checkLimit(name: string, value: unknown): void {
  if (value === null) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `"${name}" must be a positive integer or null, got ${describeValue(value)}`,
    );
  }
}

/** The handlers' attributes, instance fields: Python's handler class attributes. */
const HANDLER_FIELDS = [
  "timeout",
  "rbufsize",
  "wbufsize",
  "idleTimeout",
  "requestTimeout",
  "writeTimeout",
  "disableNagleAlgorithm",
  "maxLineLength",
] as const;

/** Checks that `handler` is a request handler class, and that it does not set a handler
 * attribute as a static (Python's class attribute ported as a server's is), which no handler
 * reads: refused rather than ignored. */
export function checkHandlerClass(handler: unknown): void {
  const proto = typeof handler === "function"
    ? (handler as { prototype?: { handle?: unknown } }).prototype
    : undefined;
  if (typeof proto?.handle !== "function") {
    throw new TypeError(
      `RequestHandlerClass must be a class extending BaseRequestHandler, got ${
        describeValue(handler)
      }`,
    );
  }
  const statics = handler as unknown as Record<string, unknown>;
  for (const name of HANDLER_FIELDS) {
    const value = statics[name];
    if (value === undefined) continue;
    // Python's `timeout = 0.5` is seconds: the field wants milliseconds
    const seconds = name.endsWith("imeout") && typeof value === "number" && value > 0 && value < 1;
    throw new TypeError(
      `${
        (handler as { name: string }).name || "The handler class"
      } has a static ${name}, which no handler reads: a handler's attributes are instance fields (Python's handler class attribute, set per handler here), so write \`override ${name} = ${
        seconds ? Math.round(value * 1000) : describeValue(value)
      }\` in the class body instead${seconds ? " (milliseconds)" : ""}`,
    );
  }
}

/** Checks the `signal` option: an `AbortSignal`, or nothing. */
export function checkSignal(signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(
      `"signal" must be an AbortSignal, such as new AbortController().signal, got ${
        describeValue(signal)
      }`,
    );
  }
}
