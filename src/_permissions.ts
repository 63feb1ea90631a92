/**
 * Permission checks before a bind, so a missing `--allow-*` flag is named, not a deep stack trace.
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

/** Checks the `net` permission for binding `hostname:port`; the error names the flag to add. */
export function checkNetPermission(hostname: string, port: number): void {
  const host = formatAddress({ hostname, port });
  if (!granted({ name: "net", host })) {
    throw new Deno.errors.NotCapable(
      `Binding "${host}" needs network permission: run with --allow-net=${host}`,
    );
  }
}

/** Checks what Deno 2.9 checks to bind a Unix socket at `path`: `read` and `write` of it, and `net`
 * for `unix:<path>`, which only that exact path (or a bare `--allow-net`) grants. */
export function checkPathPermissions(path: string): void {
  const missing = missingUnixFlags(path, ["read", "write", "net"]);
  if (missing.length > 0) {
    throw new Deno.errors.NotCapable(
      `Binding the Unix socket "${path}" needs more permissions: run with ${missing.join(" ")}`,
    );
  }
}

/** Checks what Deno 2.9 checks to send to the Unix socket at `path`: `write` and `net`. */
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
