/**
 * Takes a PROXY protocol header off the start of a connection, within a size limit and a deadline
 * (for the stream servers with `proxyProtocol` set).
 *
 * @module
 */
import type { ByteSource } from "./buffered_reader.ts";
import {
  DEFAULT_MAX_HEADER_LENGTH,
  parseProxyHeader,
  proxyHeaderLength,
} from "./_proxy_protocol.ts";
import { deadline } from "./_deadline.ts";
import { headerError } from "./_proxy_common.ts";
import { V1_MAX_LENGTH } from "./_proxy_v1.ts";
import { V2_FIXED_LENGTH, V2_MAX_LIMIT, V2_MIN_LIMIT, V2_SIGNATURE } from "./_proxy_v2.ts";
import { type ProxyHeader, ProxyHeaderError, type ProxyProtocolMode } from "./proxy_protocol.ts";

/** Options of {@linkcode readProxyHeader}. */
export interface ReadProxyHeaderOptions {
  /** Which versions are accepted. Default `"any"`. */
  mode?: ProxyProtocolMode;
  /** The deadline for the whole header, in ms from the call. Default 3000:
   * the spec asks for "at least 3 seconds to cover a TCP retransmit".
   * `Infinity`: none of its own (a server closes the source at its deadline,
   * one timer serving every connection). */
  timeoutMs?: number;
  /** The longest version 2 header accepted, in bytes, TLVs included (232 to
   * 65551). Default {@linkcode DEFAULT_MAX_HEADER_LENGTH} (4096). A version
   * 1 line is always limited to 107 bytes. */
  maxHeaderLength?: number;
}

/** What {@linkcode readProxyHeader} took off the connection. */
export interface ProxyHeaderRead {
  /** The parsed header. */
  header: ProxyHeader;
  /** Payload bytes that arrived with the header and were read past it: they
   * come before anything still unread on the connection. Often empty. */
  rest: Uint8Array;
}

/** What the first read asks for: the smallest segment every TCP host must
 * accept (576 - 40), which the spec sizes both forms to fit, so one read
 * usually takes the whole header. */
const FIRST_READ = 536;
const EMPTY = new Uint8Array(0);
/** First-read buffers not in use: one each per connection was most of the
 * garbage a header made. */
const spare: Uint8Array[] = [];
const MAX_SPARE = 64;

/** Reads and parses the PROXY protocol header at the start of `source`; bytes past it come back as
 * `rest`. Every failure is a `ProxyHeaderError` (`ProxyHeaderErrorReason`). After a timeout a read
 * is still pending on `source`: closing the connection ends it. */
export async function readProxyHeader(
  source: ByteSource,
  options: ReadProxyHeaderOptions = {},
): Promise<ProxyHeaderRead> {
  const mode = options.mode ?? "any";
  const timeoutMs = options.timeoutMs ?? 3000;
  const maxLength = options.maxHeaderLength ?? DEFAULT_MAX_HEADER_LENGTH;
  if (mode !== "v1" && mode !== "v2" && mode !== "any") {
    throw new TypeError(
      `Invalid PROXY protocol mode ${JSON.stringify(mode)}: use "v1", "v2" or "any"`,
    );
  }
  if (!(timeoutMs > 0) || Number.isNaN(timeoutMs)) {
    throw new RangeError(
      `Invalid PROXY header timeout ${timeoutMs}: use a positive number of milliseconds`,
    );
  }
  if (!Number.isInteger(maxLength) || maxLength < V2_MIN_LIMIT || maxLength > V2_MAX_LIMIT) {
    throw new RangeError(
      `Invalid maxHeaderLength ${maxLength}: use an integer from ${V2_MIN_LIMIT} to ${V2_MAX_LIMIT}`,
    );
  }

  const first = mode === "v1"
    ? new Uint8Array(V1_MAX_LENGTH)
    : spare.pop() ?? new Uint8Array(FIRST_READ);
  let buffer = first;
  let have = 0;
  /** Whether a read into `buffer` may still land (after a timeout). */
  let reading = false;
  const started = timeoutMs === Infinity ? 0 : performance.now();
  const timedOut = (): never => {
    throw headerError(
      "timeout",
      `No complete PROXY header within ${timeoutMs} ms (${have} bytes arrived)`,
      mode,
    );
  };
  /** What is left of the deadline, for the next wait; none left throws. */
  const left = () => {
    if (timeoutMs === Infinity) return Infinity;
    const ms = timeoutMs - (performance.now() - started);
    return ms > 0 ? ms : timedOut();
  };
  try {
    for (;;) {
      const got = buffer.subarray(0, have);
      const length = proxyHeaderLength(got, mode, maxLength);
      if (length !== 0 && have >= length) {
        const header = parseProxyHeader(got, mode, maxLength);
        // a copy: the buffer goes back to the spares
        return { header, rest: have > length ? buffer.slice(length, have) : EMPTY };
      }
      let want = buffer.length;
      if (length === 0 && have > 0 && buffer[0] === V2_SIGNATURE[0]) {
        // A version 2 header whose fixed part is not all here: read up to
        // its end, then the length field says how much more to read.
        want = V2_FIXED_LENGTH;
      } else if (length !== 0) {
        // A version 2 header whose length is known: read exactly to its end.
        if (buffer.length < length) {
          const grown = new Uint8Array(length);
          grown.set(buffer.subarray(0, have));
          buffer = grown;
        }
        want = length;
      }
      let n: number | null;
      try {
        const ms = left(); // before the read: none is left pending when it throws
        reading = true;
        n = await deadline(source.read(buffer.subarray(have, want)), ms, timedOut);
        reading = false;
      } catch (error) {
        if (error instanceof ProxyHeaderError) throw error;
        reading = false;
        throw headerError(
          "io",
          `Reading the PROXY header failed after ${have} bytes (${String(error)})`,
          mode,
          undefined,
          { cause: error },
        );
      }
      if (n === null) {
        throw headerError(
          "truncated",
          `The connection ended ${
            have === 0 ? "before a PROXY header" : `after ${have} bytes of a PROXY header`
          }`,
          mode,
        );
      }
      if (n === 0) {
        // A source that keeps resolving with nothing would spin on
        // microtasks and starve the deadline's timer: let timers run.
        await deadline(new Promise((resolve) => setTimeout(resolve, 0)), left(), timedOut);
      }
      have += n;
    }
  } finally {
    if (!reading && first.length === FIRST_READ && spare.length < MAX_SPARE) spare.push(first);
  }
}
