/**
 * How values appear in error messages.
 *
 * @module
 */

/** Formats an address for messages: `host:port`, `[v6]:port` or a path. */
export function formatAddress(address: unknown): string {
  if (address === null || typeof address !== "object") return String(address);
  const a = address as { hostname?: string; port?: number; path?: string | null };
  if (typeof a.port === "number") {
    const host = a.hostname ?? "0.0.0.0";
    return host.includes(":") ? `[${host}]:${a.port}` : `${host}:${a.port}`;
  }
  if ("path" in a) return a.path || "(unnamed)";
  return JSON.stringify(address);
}

/** The error again, of its class, with `${doing} failed: ` before its message and itself as
 * `cause`; a non-error as it is. */
export function withContext(error: unknown, doing: string): unknown {
  if (!(error instanceof Error)) return error;
  const Class = error.constructor as new (message: string, options?: ErrorOptions) => Error;
  try {
    return new Class(`${doing} failed: ${error.message}`, { cause: error });
  } catch {
    return error;
  }
}

/** Renders a value for an error message: strings quoted (so `got 80` and `got "80"` differ),
 * objects as literals, not `[object Object]`. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return `function "${value.name}"`;
  if (value !== null && typeof value === "object") {
    return Deno.inspect(value, { compact: true, breakLength: Infinity, depth: 2 });
  }
  return String(value);
}

/** What the default `handleError()` prints: Python's report, with the stack. */
export function errorReport(clientAddress: unknown, error: unknown): string {
  const line = "-".repeat(40);
  return `${line}\nException occurred during processing of request from ${
    formatAddress(clientAddress)
  }\n${errorText(error)}\n${line}`;
}

/** `error`'s stack, or its string, or what it is when neither can be had (a revoked `Proxy`, an
 * object without a prototype): what a handler throws must not make its report throw. */
export function errorText(error: unknown): string {
  try {
    return error instanceof Error ? error.stack ?? String(error) : String(error);
  } catch (failure) {
    try {
      return Deno.inspect(error); // an object without a prototype: no String()
    } catch {
      return `(a thrown ${typeof error} that cannot be shown: ${
        failure instanceof Error ? failure.message : "?"
      })`;
    }
  }
}
