/**
 * Explicit permission checks before a bind, so that a missing `--allow-*`
 * flag is reported by name instead of as a stack trace from deep inside Deno.
 *
 * @module
 */

import { formatAddress } from "./server.ts";

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
 * Checks the `read`, `write` and `net` permissions a Unix socket at `path`
 * needs.
 *
 * @param path The socket's path.
 * @throws {Deno.errors.NotCapable} Permissions are missing; the message names
 *   every flag to add.
 */
export function checkPathPermissions(path: string): void {
  const missing: string[] = [];
  if (!granted({ name: "read", path })) missing.push(`--allow-read=${path}`);
  if (!granted({ name: "write", path })) missing.push(`--allow-write=${path}`);
  if (!granted({ name: "net" })) missing.push("--allow-net");
  if (missing.length > 0) {
    throw new Deno.errors.NotCapable(
      `Binding the Unix socket "${path}" needs more permissions: run with ${missing.join(" ")}`,
    );
  }
}
