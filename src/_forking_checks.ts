/**
 * What a forking server checks when constructed: that forking works here, its attributes, its role.
 *
 * @module
 */

import { TCPServerBase } from "./tcp_server.ts";
import { secondsMistake } from "./_checks.ts";
import { assignRole, childSpec, nextOrdinal } from "./_forking_child.ts";
import { normalizeNetAddress } from "./_net_address.ts";

/** Throws when a forking server cannot work here: why, and what to use instead. */
function checkSupported(
  Class: { name: string; prototype: object },
  Base: { name: string },
  address: unknown,
): void {
  const instead = `Threading${Base.name}`;
  if (Deno.build.os !== "linux") {
    throw new Deno.errors.NotSupported(
      `${Class.name} needs Linux: its children listen on one port with SO_REUSEPORT, and only Linux spreads connections across them (on "${Deno.build.os}" Deno ignores the option): use ${instead}, or run one server per core behind a load balancer`,
    );
  }
  // without --unstable-net a reusePort listen ends the process, past any catch: refuse first
  // (Deno.listenDatagram exists only under that flag)
  if (typeof (Deno as { listenDatagram?: unknown }).listenDatagram !== "function") {
    throw new Deno.errors.NotSupported(
      `${Class.name} needs SO_REUSEPORT, which Deno offers only with --unstable-net: run with --unstable-net, or add "unstable": ["net"] to deno.json`,
    );
  }
  if (
    typeof address === "string" ||
    (address !== null && typeof address === "object" && "path" in address)
  ) {
    throw new Deno.errors.NotSupported(
      `${Class.name} cannot serve the Unix socket "${
        String(typeof address === "string" ? address : (address as { path: unknown }).path)
      }": Unix sockets have no SO_REUSEPORT, so children cannot share one; use ${instead}, or a TCP address`,
    );
  }
  if (!(Class.prototype instanceof TCPServerBase)) {
    throw new Deno.errors.NotSupported(
      `${Base.name} is neither a TCPServer nor a TLSServer: ForkingMixIn needs a listener that children can share with SO_REUSEPORT, which Deno offers for TCP and TLS only (its datagram sockets have no reusePort); use ${instead}`,
    );
  }
  if (childSpec === null && /\$deno\$/.test(Deno.mainModule)) {
    throw new Deno.errors.NotSupported(
      `${Class.name} runs the program again in each child, and "${Deno.mainModule}" is not a file it can run: put the server in a module and start it with deno run`,
    );
  }
}

export function checkMaxChildren(_name: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`"maxChildren" must be a positive integer, got ${String(value)}`);
  }
}

export function checkGrace(name: string, value: unknown): void {
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(
      `"${name}" must be 0 or more milliseconds (Infinity to wait for ever), got ${String(value)}`,
    );
  }
  if (value > 0 && value < 1) throw secondsMistake(name, value);
}

/** Checks a forking server being constructed; returns its arguments rewritten for its role. */
export function prepare(
  Class: { name: string; prototype: object },
  Base: { name: string },
  args: unknown[],
): unknown[] {
  // in place: the constructor reads args[0] after this
  args[0] = normalizeNetAddress(args[0]);
  checkSupported(Class, Base, args[0]);
  const ordinal = nextOrdinal();
  const options = { ...(args[2] as Record<string, unknown> | undefined) };
  return assignRole(Class, ordinal, args, options);
}
