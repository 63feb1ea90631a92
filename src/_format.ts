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

/** The error of a write given something other than bytes or a string: Python's `sendall()`
 * takes any bytes-like object, `Deno.Conn.write()` a `Uint8Array` only, so say how to wrap it. */
export function notBytesError(method: string, value: unknown): TypeError {
  let got: string;
  let hint = "";
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) {
    got = `an ${value.constructor.name}`;
    hint = ": wrap it, new Uint8Array(buffer)";
  } else if (ArrayBuffer.isView(value)) {
    got = `a ${value.constructor.name}`;
    hint = ": view its bytes, new Uint8Array(view.buffer, view.byteOffset, view.byteLength)";
  } else if (value !== null && typeof value === "object") {
    got = `an object (${value.constructor?.name ?? "no class"})`;
  } else if (value === null || value === undefined) got = String(value);
  else got = `${typeof value} ${describeValue(value)}`;
  return new TypeError(`${method} takes a Uint8Array or a string, got ${got}${hint}`);
}

/** What the default `handleError()` prints: Python's report, with the stack and, as Python's
 * traceback shows `raise ... from`, the error's cause (and any other fields: a `code`). */
export function errorReport(clientAddress: unknown, error: unknown): string {
  const line = "-".repeat(40);
  return `${line}\nException occurred during processing of request from ${
    formatAddress(clientAddress)
  }\n${errorText(error)}\n${line}`;
}

/** An error as `Deno.inspect()` renders it (the stack, `[cause]`, own fields), a thrown plain
 * object by its fields rather than `[object Object]`, anything else as a string; and what it is
 * when none can be had (a revoked `Proxy`): what a handler throws must not make its report throw. */
export function errorText(error: unknown): string {
  if (error !== null && (typeof error === "object" || typeof error === "function")) {
    try {
      return Deno.inspect(error);
    } catch {
      // a hostile proxy: fall through
    }
  }
  try {
    return String(error);
  } catch (failure) {
    return `(a thrown ${typeof error} that cannot be shown: ${
      failure instanceof Error ? failure.message : "?"
    })`;
  }
}
