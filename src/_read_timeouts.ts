/**
 * {@linkcode readWithin}: which of a reader's timeouts bounds a read.
 *
 * @module
 */

import { deadline } from "./_deadline.ts";
import { type TimeoutAttribute, TimeoutError } from "./errors.ts";

/** A reader's timeouts, in ms (`null`: none). */
interface Timeouts {
  readonly timeout: number | null;
  readonly idleTimeout: number | null;
  readonly requestTimeout: number | null;
}

/**
 * `read`, bounded by the timeout that applies: `idleTimeout` while the call
 * waits for a request to begin (`began` < 0), else `timeout` and what is left
 * of `requestTimeout` since `began`, whichever ends first.
 */
export function readWithin<T>(read: Promise<T>, reader: Timeouts, began: number): Promise<T> {
  let wait = reader.timeout;
  let attribute: TimeoutAttribute = "timeout";
  if (began < 0) {
    if (reader.idleTimeout !== null) {
      wait = reader.idleTimeout;
      attribute = "idleTimeout";
    }
  } else if (reader.requestTimeout !== null) {
    const left = Math.max(0, began + reader.requestTimeout - performance.now());
    if (wait === null || left < wait) {
      wait = left;
      attribute = "requestTimeout";
    }
  }
  if (wait === null) return read;
  const limit = attribute === "requestTimeout" ? reader.requestTimeout! : wait;
  return deadline(read, wait, () => {
    throw new TimeoutError(limit, attribute);
  });
}
