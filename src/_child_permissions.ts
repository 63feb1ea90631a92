/**
 * `childPermissions`, checked against the parent's own (a child never has more), as `deno run` flags.
 *
 * @module
 */

/**
 * What forking children may do beyond serving: per Deno permission kind, a list of items or `true`
 * for the whole kind, each checked against the parent's own before a child starts.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type ChildPermissions, ForkingTCPServer } from "@x/socketserver";
 *
 * const childPermissions: ChildPermissions = { read: ["./static"], env: ["LOG_LEVEL"] };
 * if (import.meta.main && Deno.args.includes("--serve")) {
 *   await using server = new ForkingTCPServer({ port: 8000 }, BaseRequestHandler, { childPermissions });
 *   await server.serveForever();
 * }
 * ```
 */
export interface ChildPermissions {
  /** Paths the children may read (`--allow-read`). */
  read?: true | string[];
  /** Paths the children may write (`--allow-write`). */
  write?: true | string[];
  /** Hosts the children may reach or bind (`--allow-net`), the server's own always added. */
  net?: true | string[];
  /** Environment variables the children may read (`--allow-env`). */
  env?: true | string[];
  /** System information the children may read (`--allow-sys`). */
  sys?: true | string[];
  /** Programs the children may run (`--allow-run`). */
  run?: true | string[];
  /** Libraries the children may load (`--allow-ffi`). */
  ffi?: true | string[];
  /** Hosts the children may import code from (`--allow-import`). */
  import?: true | string[];
}

const PERMISSION_KINDS = ["read", "write", "net", "env", "sys", "run", "ffi", "import"] as const;
type PermissionKind = typeof PERMISSION_KINDS[number];

function descriptor(kind: PermissionKind, item?: string): Deno.PermissionDescriptor {
  if (item === undefined) return { name: kind } as Deno.PermissionDescriptor;
  switch (kind) {
    case "read":
    case "write":
    case "ffi":
      return { name: kind, path: item };
    case "net":
    case "import":
      return { name: kind, host: item };
    case "env":
      return { name: kind, variable: item };
    case "run":
      return { name: kind, command: item };
    case "sys":
      return { name: kind, kind: item as Deno.SysPermissionDescriptor["kind"] };
  }
}

export function has(kind: PermissionKind, item?: string): boolean {
  return Deno.permissions.querySync(descriptor(kind, item)).state === "granted";
}

export function checkChildPermissions(_name: string, value: unknown): void {
  if (value === "inherit") return;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new TypeError(
      `"childPermissions" must be "inherit" or an object like { read: ["./static"] }, got ${
        typeof value === "string" ? `"${value}"` : String(value)
      }`,
    );
  }
  for (const [kind, items] of Object.entries(value)) {
    if (!(PERMISSION_KINDS as readonly string[]).includes(kind)) {
      throw new TypeError(
        `"childPermissions" has an unknown kind "${kind}": use ${
          PERMISSION_KINDS.map((k) => `"${k}"`).join(", ")
        }`,
      );
    }
    if (items === true || items === undefined) continue;
    if (
      !Array.isArray(items) ||
      items.some((item) => typeof item !== "string" || item === "" || item.includes(","))
    ) {
      throw new TypeError(
        `"childPermissions.${kind}" must be true or a list of non-empty strings without commas, got ${
          JSON.stringify(items)
        }`,
      );
    }
  }
}

/** A child's `--allow-*` flags: `childPermissions`, each checked against ours, and its address. */
export function permissionFlags(asked: "inherit" | ChildPermissions, serverHost: string): string[] {
  const flags: string[] = [];
  const missing: string[] = [];
  const whole = new Set<PermissionKind>();
  if (asked === "inherit") {
    for (const kind of PERMISSION_KINDS) if (has(kind)) whole.add(kind);
  } else {
    for (const kind of PERMISSION_KINDS) {
      const items = asked[kind];
      if (items === true) {
        if (has(kind)) whole.add(kind);
        else missing.push(`--allow-${kind}`);
      }
    }
  }
  for (const kind of PERMISSION_KINDS) {
    if (whole.has(kind)) {
      flags.push(`--allow-${kind}`);
      continue;
    }
    const items = asked === "inherit" ? [] : asked[kind] === true ? [] : [...asked[kind] ?? []];
    if (kind === "net" && !items.includes(serverHost)) items.push(serverHost);
    for (const item of items) if (!has(kind, item)) missing.push(`--allow-${kind}=${item}`);
    if (items.length > 0) flags.push(`--allow-${kind}=${items.join(",")}`);
  }
  if (missing.length > 0) {
    throw new Deno.errors.NotCapable(
      `"childPermissions" asks for more than this process has, and a child can never have more than its parent: run with ${
        missing.join(" ")
      }, or remove them from "childPermissions"`,
    );
  }
  return flags;
}

/** The Deno binary this process may run: its own, else `deno` on the PATH. */
export function denoCommand(): string {
  const own = Deno.execPath();
  if (has("run", own)) return own;
  if (has("run", "deno")) return "deno";
  throw new Deno.errors.NotCapable(
    `A forking server starts its children with Deno, which needs permission to run it: run with --allow-run=${own}`,
  );
}
