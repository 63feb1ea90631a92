/**
 * Explicit permission checks before a bind, so that a missing `--allow-*`
 * flag is reported by name instead of as a stack trace from deep inside Deno.
 *
 * @module
 */

import { formatAddress } from "./_format.ts";

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  const status = Deno.permissions.querySync(descriptor);
  if (status.state === "granted") return true;
  if (status.state === "denied") return false;
  // "prompt": ask, as Deno.listen would have; without a terminal this denies.
  return Deno.permissions.requestSync(descriptor).state === "granted";
}

/**
 * Checks the `net` permission for binding `hostname:port`.
 *
 * @param hostname The host to bind.
 * @param port The port to bind.
 * @throws {Deno.errors.NotCapable} The permission is missing; the message
 *   names the flag to add.
 */
export function checkNetPermission(hostname: string, port: number): void {
  const host = formatAddress({ hostname, port });
  if (!granted({ name: "net", host })) {
    throw new Deno.errors.NotCapable(
      `Binding "${host}" needs network permission: run with --allow-net=${host}`,
    );
  }
}

/**
 * Checks the permissions a Unix socket at `path` needs, as Deno 2.9 checks
 * them when binding or connecting (verified against `Deno.listen` and
 * `Deno.listenDatagram`): `read` and `write` of the path, and `net` for
 * `unix:<path>` — a grant that matches that exact absolute path only (a
 * directory or a wildcard does not cover it), or a bare `--allow-net`.
 *
 * @param path The socket's absolute path.
 * @throws {Deno.errors.NotCapable} Permissions are missing; the message names
 *   every flag to add.
 */
export function checkPathPermissions(path: string): void {
  const missing = missingUnixFlags(path, ["read", "write", "net"]);
  if (missing.length > 0) {
    throw new Deno.errors.NotCapable(
      `Binding the Unix socket "${path}" needs more permissions: run with ${missing.join(" ")}`,
    );
  }
}

/**
 * Checks the permissions Deno 2.9 needs to send a datagram to the Unix
 * socket at `path` (verified like {@linkcode checkPathPermissions}): `write`
 * of the path and `net` for `unix:<path>`.
 *
 * @param path The receiving socket's absolute path.
 * @throws {Deno.errors.NotCapable} Permissions are missing; the message names
 *   every flag to add.
 */
export function checkUnixSendPermissions(path: string): void {
  const missing = missingUnixFlags(path, ["write", "net"]);
  if (missing.length > 0) {
    throw new Deno.errors.NotCapable(
      `Replying to the Unix datagram client "${path}" needs more permissions: run with ${
        missing.join(" ")
      } (to reply to any client: --allow-write for their directory and a bare --allow-net)`,
    );
  }
}

function missingUnixFlags(path: string, needs: ("read" | "write" | "net")[]): string[] {
  return needs.filter((name) =>
    !granted(name === "net" ? { name, host: `unix:${path}` } : { name, path })
  ).map((name) => `--allow-${name}=${name === "net" ? "unix:" : ""}${path}`);
}
