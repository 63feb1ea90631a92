/**
 * Checking `{ hostname, port }` addresses, and wording the errors of a failed bind.
 *
 * @module
 */

import { describeValue, formatAddress, withContext } from "./_format.ts";

/** Turns Python's forms (a `[host, port]` tuple, `""` for every interface) into an object; leaves
 * other values for the checks to word. */
export function normalizeNetAddress(address: unknown): unknown {
  if (Array.isArray(address)) {
    if (address.length !== 2 || typeof address[0] !== "string" || typeof address[1] !== "number") {
      throw new TypeError(
        `A tuple server address must be [hostname, port], like ["localhost", 9999] or ["", 9999] for every interface, got ${
          describeValue(address)
        }`,
      );
    }
    return { hostname: address[0] === "" ? "0.0.0.0" : address[0], port: address[1] };
  }
  if (
    address !== null && typeof address === "object" &&
    (address as { hostname?: unknown }).hostname === ""
  ) {
    return { ...address, hostname: "0.0.0.0" };
  }
  return address;
}

/** Validates an address before any socket opens; returns it with the default hostname filled in. */
export function checkNetAddress(
  address: unknown,
  what = "server address",
): { hostname: string; port: number } {
  address = normalizeNetAddress(address);
  if (address === null || typeof address !== "object") {
    throw new TypeError(
      `The ${what} must be an object like { hostname: "127.0.0.1", port: 9999 } or a tuple like ["127.0.0.1", 9999], got ${
        describeValue(address)
      }`,
    );
  }
  const { hostname = "0.0.0.0", port } = address as { hostname?: unknown; port?: unknown };
  if (typeof port !== "number") {
    throw new TypeError(
      `The ${what}'s port must be a number from 0 to 65535, got ${describeValue(port)}`,
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `The ${what}'s port must be an integer from 0 to 65535, got ${port}: use 0 for any free port`,
    );
  }
  if (typeof hostname !== "string" || hostname === "" || hostname === "[]") {
    throw new TypeError(
      `The ${what}'s hostname must be a non-empty string, got ${
        describeValue(hostname)
      }: use "0.0.0.0" for every interface`,
    );
  }
  // "[::1]" (the URL form) names the same address as "::1"
  const bare = hostname.startsWith("[") && hostname.endsWith("]")
    ? hostname.slice(1, -1)
    : hostname;
  return { hostname: bare, port };
}

/** Linux's default `net.ipv4.ip_unprivileged_port_start`. */
const FIRST_UNPRIVILEGED_PORT = 1024;

/** Rewords a failed bind's error (same class, original as `cause`) to name the address and say what
 * to do. */
export function bindError(error: unknown, hostname: string, port: number): unknown {
  const address = formatAddress({ hostname, port });
  if (error instanceof Deno.errors.AddrInUse) {
    return new Deno.errors.AddrInUse(
      `Address "${address}" is already in use: stop what holds it, or bind port 0 for a free port`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new Deno.errors.AddrNotAvailable(
      `Address "${address}" is not available on this machine: bind one of its own addresses, or "0.0.0.0"`,
      { cause: error },
    );
  }
  if (error instanceof Deno.errors.PermissionDenied && port > 0 && port < FIRST_UNPRIVILEGED_PORT) {
    return new Deno.errors.PermissionDenied(
      `Binding "${address}" failed: ${error.message}: ports below ${FIRST_UNPRIVILEGED_PORT} need root or the CAP_NET_BIND_SERVICE capability; bind port ${FIRST_UNPRIVILEGED_PORT} or above, or 0 for a free one`,
      { cause: error },
    );
  }
  // TLSServer's unusable certificate, worded already
  if (error instanceof Deno.errors.InvalidData) return error;
  const wrapped = withContext(error, `Binding "${address}"`);
  if (wrapped instanceof Error && /lookup address/i.test(wrapped.message)) {
    wrapped.message += `: check the host name, or bind an IP address such as "127.0.0.1"`;
  }
  return wrapped;
}

/**
 * Refuses a Python-style class attribute `addressFamily` that the bound address contradicts
 * (`static addressFamily = "AF_INET6"` on a server bound to `""`): here the address picks the
 * family, so the attribute would be ignored, and an attribute Deno cannot honour is refused.
 */
function checkAddressFamily(
  server: object,
  family: "AF_INET" | "AF_INET6",
  hostname: string,
): void {
  const declared = (server.constructor as { addressFamily?: unknown }).addressFamily;
  if (declared === undefined || declared === family) return;
  const hint = declared === "AF_INET6"
    ? 'bind "::" for every interface (IPv6 and IPv4, as Python\'s AF_INET6 server on "" does) or an IPv6 address such as "::1"'
    : declared === "AF_INET"
    ? 'bind "0.0.0.0" or an IPv4 address such as "127.0.0.1"'
    : 'it names "AF_INET" or "AF_INET6", as a string';
  throw new TypeError(
    `${server.constructor.name}.addressFamily is ${
      describeValue(declared)
    }, but the server binds "${hostname}", an ${family} address: here the address picks the family (addressFamily is read-only), so ${hint}, and remove the static addressFamily`,
  );
}

/** `checkAddressFamily()` on what `socket` bound: when refused, it is closed (the server stays
 * unbound, to bind again once fixed) and the error thrown. */
export function checkBoundFamily(
  server: object,
  socket: { readonly addr: Deno.Addr; close(): void },
  hostname: string,
): void {
  const bound = (socket.addr as Deno.NetAddr).hostname;
  try {
    checkAddressFamily(server, bound.includes(":") ? "AF_INET6" : "AF_INET", hostname);
  } catch (error) {
    socket.close();
    throw error;
  }
}
