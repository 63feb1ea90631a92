/**
 * {@linkcode ForkingMixIn}: one process per core, each listening on the same
 * port, supervised by the parent.
 *
 * Deno cannot `fork()`, nor hand a socket to another process. What forking
 * gives Python users — every core busy, and a request that crashes its
 * process unable to take the service down — comes here from child
 * processes that run the program again (like Python's `multiprocessing`
 * "spawn" start method) and each listen on the server's address with
 * `SO_REUSEPORT`, so that the Linux kernel spreads the connections across
 * them. The parent only supervises: it starts the children, replaces one
 * that dies, and stops them all on `shutdown()` / `serverClose()`.
 *
 * @module
 */

import type { AnyServer, Awaitable, ServerCloseOptions } from "./base_server.ts";
import { TCPServer, TCPServerBase } from "./tcp_server.ts";
import { TLSServer } from "./tls_server.ts";
import { secondsMistake } from "./_checks.ts";
import { formatAddress } from "./_format.ts";
import { normalizeNetAddress } from "./_net_address.ts";
import { kAttribute, kBlockOnClose, kCloseSocket } from "./_symbols.ts";
import {
  type ServerClass,
  ThreadingMixIn,
  type ThreadingServer,
  type ThreadingServerClass,
  type ThreadingServerOptions,
  type WithMixInOptions,
} from "./threading.ts";

/**
 * What the children may do beyond serving: Deno's permission kinds, each
 * either a list of items (paths, hosts, variable names, commands…) or
 * `true` for the whole kind. Every item is checked against the parent's own
 * permissions before a child starts: a child can never have more than its
 * parent.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type ChildPermissions, ForkingTCPServer } from "@x/socketserver";
 *
 * const childPermissions: ChildPermissions = { read: ["./static"], env: ["LOG_LEVEL"] };
 * if (import.meta.main && Deno.args.includes("--serve")) {
 *   await using server = new ForkingTCPServer({ port: 8000 }, BaseRequestHandler, {
 *     childPermissions,
 *   });
 *   await server.serveForever();
 * }
 * ```
 */
export interface ChildPermissions {
  /** Paths the children may read (`--allow-read`). */
  read?: true | string[];
  /** Paths the children may write (`--allow-write`). */
  write?: true | string[];
  /** Hosts the children may reach or bind (`--allow-net`); the server's own
   * address is always added. */
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

/**
 * Why a child process ended without having been asked to: what
 * {@linkcode ForkingServer.childDied} receives.
 *
 * @example Counting deaths instead of printing them
 * ```ts
 * import { type ChildDeath, ForkingTCPServer } from "@x/socketserver";
 *
 * class Counted extends ForkingTCPServer {
 *   deaths = 0;
 *   override childDied(death: ChildDeath) {
 *     this.deaths++;
 *     if (death.signal === "SIGTRAP") console.error(`child ${death.pid} ran out of heap`);
 *   }
 * }
 * ```
 */
export interface ChildDeath {
  /** The child's process id. */
  pid: number;
  /** Its exit code (128 + the signal number when a signal ended it). */
  code: number;
  /** The signal that ended it, if one did: `"SIGKILL"` from the kernel's
   * out-of-memory killer or `kill -9`, `"SIGTRAP"` from V8 running out of
   * heap. */
  signal: Deno.Signal | null;
  /** Whether it had started listening (else it died while starting). */
  listening: boolean;
  /** How long it ran, in ms. */
  lifetimeMs: number;
  /** In how many ms a replacement starts; `null` when none will, because
   * the server is stopping. */
  replacementInMs: number | null;
}

/**
 * What {@linkcode ForkingMixIn} adds to a server instance.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type ForkingServer, ForkingTCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * await using server = new ForkingTCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler);
 * const forking: ForkingServer = server;
 * assert.equal(forking.activeChildren.size, 0);
 * assert.equal(forking.isChild, false);
 * ```
 */
export interface ForkingServer {
  /** How many child processes serve at once. Default: the number of cores
   * (`navigator.hardwareConcurrency`). Python: `max_children`. */
  maxChildren: number;
  /** The process ids of the children running now — starting, serving or
   * finishing their last requests. Empty in a child. Python:
   * `active_children`. */
  readonly activeChildren: ReadonlySet<number>;
  /** How long a stopping child may finish its requests in flight, in ms,
   * before it closes them and exits; the parent kills a child still running
   * a little after that. `serverClose({ graceMs })` can shorten it. Default
   * 30 000. */
  childGraceMs: number;
  /** The permissions of the children: `"inherit"` (the default) or a
   * {@linkcode ChildPermissions}. See the README's "Concurrency" section. */
  childPermissions: "inherit" | ChildPermissions;
  /** Whether this instance is a child's copy of the server (it serves)
   * rather than the parent's (it supervises). */
  readonly isChild: boolean;
  /**
   * Resolves once every child of the current `serveForever()` listens and
   * the parent's own listener, which only held the port, is closed: from
   * then on no connection can land in a queue that nobody accepts. A script
   * that also runs clients starts them after it (connections made before
   * may be reset). Read it after calling `serveForever()` (without awaiting
   * that): each `serveForever()` of the parent starts a new `ready`. It
   * rejects when starting fails (with `serveForever()`'s error) or the
   * server is stopped first. In a child process it resolves at once: keep
   * client code under `if (!isForkingChild())`, since every child runs the
   * script again.
   */
  readonly ready: Promise<void>;
  /**
   * Hook, called in the parent once a child listens. Does nothing by
   * default.
   *
   * @param pid The child's process id.
   * @returns When done.
   */
  childStarted(pid: number): Awaitable<void>;
  /**
   * Hook, called in the parent when a child ends without having been asked
   * to — an uncaught error, `Deno.exit()`, out of memory, a signal. The
   * other children keep serving, and a replacement starts (at once, then
   * backing off while children keep dying young). The default writes a
   * line to stderr.
   *
   * @param death Who died, how, and when it is replaced.
   * @returns When reported.
   */
  childDied(death: ChildDeath): Awaitable<void>;
}

/**
 * What {@linkcode ForkingMixIn} adds to a server class: the class
 * attributes' defaults.
 *
 * @example Class attributes, as in Python
 * ```ts
 * import { ForkingTCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Small extends ForkingTCPServer {
 *   static override maxChildren = 2;
 *   static override childGraceMs = 5_000;
 * }
 * assert.equal(Small.maxChildren, 2);
 * ```
 */
export interface ForkingServerClass {
  /** Class attribute, default `navigator.hardwareConcurrency`. See
   * {@linkcode ForkingServer.maxChildren}. */
  maxChildren: number;
  /** Class attribute, default 30 000. See
   * {@linkcode ForkingServer.childGraceMs}. */
  childGraceMs: number;
  /** Class attribute, default `"inherit"`. See
   * {@linkcode ForkingServer.childPermissions}. */
  childPermissions: "inherit" | ChildPermissions;
}

/**
 * The options {@linkcode ForkingMixIn} adds to a server's constructor:
 * per-instance values of its class attributes.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, ForkingTCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * await using server = new ForkingTCPServer({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler, {
 *   maxChildren: 4,
 *   childGraceMs: 1_000,
 * });
 * assert.equal(server.maxChildren, 4);
 * ```
 */
export interface ForkingServerOptions extends ThreadingServerOptions {
  /** {@linkcode ForkingServer.maxChildren}. */
  maxChildren?: number;
  /** {@linkcode ForkingServer.childGraceMs}. */
  childGraceMs?: number;
  /** {@linkcode ForkingServer.childPermissions}. */
  childPermissions?: "inherit" | ChildPermissions;
}

/**
 * The class {@linkcode ForkingMixIn} returns for a server class `C`: `C`'s
 * statics, a constructor that also takes {@linkcode ForkingServerOptions},
 * and instances that are also {@linkcode ForkingServer}s.
 *
 * @example Declaring a ready class, as this package does
 * ```ts
 * import { ForkingMixIn, type ForkingMixInClass, TCPServer } from "@x/socketserver";
 *
 * class MyTCPServer extends TCPServer {}
 * export const MyForkingServer: ForkingMixInClass<typeof MyTCPServer> = ForkingMixIn(MyTCPServer);
 * ```
 */
export type ForkingMixInClass<C extends ServerClass> =
  & Pick<C, keyof C>
  & ThreadingServerClass
  & ForkingServerClass
  & (new (
    ...args: WithForkingOptions<ConstructorParameters<C>>
  ) => InstanceType<C> & ThreadingServer & ForkingServer);

/**
 * A server constructor's parameters with {@linkcode ForkingServerOptions}
 * added to its options (the third parameter).
 *
 * @example
 * ```ts
 * import type { TCPServer, WithForkingOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * type Params = WithForkingOptions<ConstructorParameters<typeof TCPServer>>;
 * const options: Params[2] = { maxChildren: 4, childGraceMs: 5000 };
 * assert.equal(options?.maxChildren, 4);
 * ```
 */
export type WithForkingOptions<P extends unknown[]> = WithMixInOptions<P, ForkingServerOptions>;

/**
 * Whether this process is a child started by a forking server: it runs the
 * same program as its parent, so code that must run once — a message, a
 * second server, reading stdin — goes under `if (!isForkingChild())`.
 *
 * @returns `true` in a child process of a forking server.
 *
 * @example
 * ```ts
 * import { isForkingChild } from "@x/socketserver";
 *
 * if (!isForkingChild()) console.log("starting the service");
 * ```
 */
export function isForkingChild(): boolean {
  return childSpec !== null;
}

// ---------------------------------------------------------------------------
// Parent ↔ child protocol
//
// A child is `deno run <flags> <Deno.mainModule>#socketserver-forking-child=
// <spec> <Deno.args…>`: the same program, which constructs the same servers
// in the same order; the spec tells which of them is to serve, where. The
// fragment changes neither what is loaded nor `import.meta.main`, and reading
// it needs no permission. The child says it listens with one line on stdout,
// marked with a nonce (the rest of its stdout is the program's, forwarded);
// the parent says "stop" with lines on the child's stdin, and closing stdin
// (the parent exiting, even killed) stops the child too.
// ---------------------------------------------------------------------------

const FRAGMENT = "socketserver-forking-child=";
/** After a child's grace and lingering close, how long the parent gives it
 * to exit before killing it. */
const KILL_MARGIN_MS = 1_000;
/** `serverClose()`'s default `lingerMs`. */
const DEFAULT_LINGER_MS = 1_000;
const EXIT_LINGER_MS = 1_000;
const HEALTHY_LIFETIME_MS = 10_000;
const MAX_BACKOFF_MS = 10_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface ChildSpec {
  /** Which forking server of the program serves: its construction order. */
  id: number;
  nonce: string;
  className: string;
  requested: { hostname: string; port: number };
  bound: { hostname: string; port: number };
  /** The grace when the parent goes away without a word; null = Infinity. */
  graceMs: number | null;
}

type Message = { ready: number } | { error: string };

function readChildSpec(): ChildSpec | null {
  try {
    const hash = new URL(Deno.mainModule).hash;
    if (!hash.startsWith(`#${FRAGMENT}`)) return null;
    return JSON.parse(decodeURIComponent(hash.slice(FRAGMENT.length + 1))) as ChildSpec;
  } catch {
    return null;
  }
}

const childSpec: ChildSpec | null = readChildSpec();
/** Forking servers constructed so far by this process: a child serves the
 * one whose number its spec names. */
let constructed = 0;
/** The role of the server being constructed, for `serverBind()` while the
 * base constructor runs (before the instance's fields exist). */
let constructingRole: Role = "parent";
/** Resolves when the parent asks this child to stop. */
const childStopping = Promise.withResolvers<void>();

type Role = "parent" | "child" | "inert";

function tellParent(message: Message): void {
  if (childSpec === null) return;
  const bytes = encoder.encode(
    `\x1eSOCKETSERVER ${childSpec.nonce} ${JSON.stringify(message)}\n`,
  );
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
}

/** Child side: reads the parent's lines until "stop" or EOF, then stops the
 * server — closes its listener, lets its requests finish within the grace —
 * and lets the process end. */
async function obeyParent(server: AnyServer, spec: ChildSpec): Promise<void> {
  const reader = Deno.stdin.readable.getReader();
  let stopped: Promise<void> | null = null;
  const stop = (graceMs: number | null, lingerMs?: number) => {
    childStopping.resolve();
    const close = async () => {
      await server.shutdown();
      await server.serverClose({ graceMs: graceMs ?? Infinity, lingerMs });
    };
    // A second "stop" with a shorter grace closes the requests sooner.
    const closing = close().catch((error) => console.error("Stopping the child failed:", error));
    stopped ??= closing.then(() => {
      reader.cancel().catch(() => {});
      // The program may go on after serveForever() returns; give it a
      // moment, then end the process even if something is still pending.
      Deno.unrefTimer(setTimeout(() => Deno.exit(0), EXIT_LINGER_MS));
    });
  };
  let pending = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        const message = JSON.parse(line) as { stop?: number | null; lingerMs?: number };
        if ("stop" in message) stop(message.stop ?? null, message.lingerMs);
      }
    }
  } catch {
    // stdin unreadable: treat it as the parent gone
  }
  if (stopped === null) stop(spec.graceMs); // EOF: the parent is gone
  await stopped;
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

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

function has(kind: PermissionKind, item?: string): boolean {
  return Deno.permissions.querySync(descriptor(kind, item)).state === "granted";
}

function checkChildPermissions(value: unknown): void {
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

/** The `--allow-*` flags of a child: what `childPermissions` asks for, each
 * item checked against this process's own permissions, plus the server's
 * address. */
function permissionFlags(asked: "inherit" | ChildPermissions, serverHost: string): string[] {
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
function denoCommand(): string {
  const own = Deno.execPath();
  if (has("run", own)) return own;
  if (has("run", "deno")) return "deno";
  throw new Deno.errors.NotCapable(
    `A forking server starts its children with Deno, which needs permission to run it: run with --allow-run=${own}`,
  );
}

/** Throws when a forking server cannot work here: why, and what to use
 * (`Base` is the class given to `ForkingMixIn`). */
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
  // Without --unstable-net, Deno ends the process (exit code 70) at the
  // first reusePort: tell why first. Deno.listenDatagram is the other API
  // that flag adds, so its presence says whether the flag is on.
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

function checkMaxChildren(value: unknown): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`"maxChildren" must be a positive integer, got ${String(value)}`);
  }
}

function checkGrace(name: string, value: unknown): void {
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) {
    throw new RangeError(
      `"${name}" must be 0 or more milliseconds (Infinity to wait for ever), got ${String(value)}`,
    );
  }
  if (value > 0 && value < 1) throw secondsMistake(name, value);
}

function sameHost(a: string | undefined, b: string | undefined): boolean {
  return (a ?? "0.0.0.0") === (b ?? "0.0.0.0");
}

/** Decides the role of a forking server being constructed, and rewrites the
 * constructor's arguments for it. */
function prepare(
  Class: { name: string; prototype: object },
  Base: { name: string },
  args: unknown[],
): unknown[] {
  // Python's ("", port) tuple becomes { hostname: "0.0.0.0", port } in place:
  // the constructor reads args[0] after this
  args[0] = normalizeNetAddress(args[0]);
  checkSupported(Class, Base, args[0]);
  const ordinal = constructed++;
  const options = { ...(args[2] as Record<string, unknown> | undefined) };
  if ("maxChildren" in options) checkMaxChildren(options.maxChildren);
  if ("childGraceMs" in options) checkGrace("childGraceMs", options.childGraceMs);
  if ("childPermissions" in options) checkChildPermissions(options.childPermissions);
  if (childSpec === null) {
    constructingRole = "parent";
    return args;
  }
  if (ordinal !== childSpec.id) {
    // Another forking server of the program: the parent serves it with
    // other children; this one must not bind its port.
    constructingRole = "inert";
    return [args[0], args[1], { ...options, bindAndActivate: false }, ...args.slice(3)];
  }
  const requested = args[0] as { hostname?: string; port?: number };
  if (
    Class.name !== childSpec.className ||
    !sameHost(requested?.hostname, childSpec.requested.hostname) ||
    requested?.port !== childSpec.requested.port
  ) {
    const message = `This child process was started to serve ${childSpec.className} on "${
      formatAddress(childSpec.requested)
    }", but the program's forking server number ${ordinal + 1} is ${Class.name} on "${
      formatAddress(requested)
    }": a child runs the program again, which must construct the same servers in the same order`;
    tellParent({ error: message });
    throw new Error(message);
  }
  constructingRole = "child";
  return [{ hostname: childSpec.bound.hostname, port: childSpec.bound.port }, ...args.slice(1)];
}

// ---------------------------------------------------------------------------
// Parent side
// ---------------------------------------------------------------------------

interface Child {
  pid: number;
  process: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  ready: PromiseWithResolvers<void>;
  listening: boolean;
  startedAt: number;
  /** The grace it was last told to stop with; undefined while serving. */
  stopGrace?: number;
  /** The lingering close it was told to do after the grace, if given. */
  stopLinger?: number;
  killTimer?: ReturnType<typeof setTimeout>;
  /** Resolves once the process is reaped and its stdout drained. */
  gone: Promise<void>;
  /** Why it ended before listening, as it told us. */
  error?: string;
}

/** Finds `needle` in `haystack` from `from`; -1 if absent. */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  outer: for (let i = haystack.indexOf(first, from); i >= 0; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function forward(bytes: Uint8Array): Promise<void> {
  if (bytes.length === 0) return;
  try {
    let written = 0;
    while (written < bytes.length) written += await Deno.stdout.write(bytes.subarray(written));
  } catch {
    // the parent's stdout is gone: the child's output has nowhere to go
  }
}

/** Reads a child's stdout: its messages to the parent are taken out, the
 * rest is the program's output and goes to the parent's stdout. */
async function readChildOutput(
  stdout: ReadableStream<Uint8Array>,
  nonce: string,
  onMessage: (message: Message) => void,
): Promise<void> {
  const marker = encoder.encode(`\x1eSOCKETSERVER ${nonce} `);
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of stdout) {
    let data = concat(carry, chunk);
    carry = new Uint8Array(0);
    while (data.length > 0) {
      const at = indexOf(data, marker);
      if (at < 0) {
        // Hold back only a tail that could be the start of a marker cut in
        // two (it starts with \x1e, which programs rarely print).
        const tail = data.lastIndexOf(marker[0], data.length - 1);
        const cut = tail >= 0 && data.length - tail < marker.length &&
            marker.subarray(0, data.length - tail).every((byte, i) => data[tail + i] === byte)
          ? tail
          : data.length;
        await forward(data.subarray(0, cut));
        carry = data.slice(cut);
        break;
      }
      await forward(data.subarray(0, at));
      const end = data.indexOf(0x0a, at + marker.length);
      if (end < 0) {
        carry = data.slice(at);
        break;
      }
      try {
        onMessage(JSON.parse(decoder.decode(data.subarray(at + marker.length, end))));
      } catch {
        // not a message after all
      }
      data = data.subarray(end + 1);
    }
  }
  await forward(carry);
}

/** A promise to settle once (later calls do nothing), which knows whether
 * it has; a rejection nobody awaits is not reported as unhandled. */
function settleable(): PromiseWithResolvers<void> & { readonly settled: boolean } {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  promise.catch(() => {});
  let settled = false;
  return {
    promise,
    resolve: () => (settled = true, resolve()),
    reject: (reason?: unknown) => {
      if (!settled) (settled = true, reject(reason));
    },
    get settled() {
      return settled;
    },
  };
}

function describeExit(status: Deno.CommandStatus): string {
  if (status.signal === "SIGTRAP") return "signal SIGTRAP (V8 ran out of heap)";
  if (status.signal === "SIGKILL") return "signal SIGKILL (kill -9, or the kernel out of memory)";
  if (status.signal !== null) return `signal ${status.signal}`;
  return `exit code ${status.code}`;
}

/** The parent's half of a forking server: starts, watches, replaces and
 * stops the children. */
class Supervisor {
  readonly children: Map<number, Child> = new Map();
  #server: AnyServer & ForkingServer;
  #id: number;
  #requested: { hostname: string; port: number };
  #serving = false;
  #stop: PromiseWithResolvers<void> | null = null;
  #stopped: PromiseWithResolvers<void> | null = null;
  #replacements = new Set<ReturnType<typeof setTimeout>>();
  #rapidDeaths = 0;
  #deadline = Infinity;
  #actionsRunning = false;
  #lingerMs: number | undefined;
  /** Rejects when a child ends while the first ones are starting. */
  #startFailed: PromiseWithResolvers<never> | null = null;

  constructor(
    server: AnyServer & ForkingServer,
    id: number,
    requested: { hostname: string; port: number },
  ) {
    this.#server = server;
    this.#id = id;
    this.#requested = requested;
  }

  get serving(): boolean {
    return this.#serving;
  }

  /** Starts the children and supervises them until `shutdown()`;
   * `started` is called once the first ones all listen. */
  async serve(pollInterval: number | null, started: () => void): Promise<void> {
    if (this.#serving) {
      throw new Error("serveForever() is already running: call shutdown() before serving again");
    }
    this.#serving = true;
    this.#deadline = Infinity;
    const stop = this.#stop = Promise.withResolvers<void>();
    this.#stopped = Promise.withResolvers<void>();
    const startFailed = this.#startFailed = Promise.withResolvers<never>();
    startFailed.promise.catch(() => {});
    let ticker: ReturnType<typeof setInterval> | undefined;
    try {
      const first: Child[] = [];
      for (let i = 0; i < this.#server.maxChildren; i++) first.push(this.#spawn());
      // Whichever settles first ends the starting phase at once, so that a
      // death just after it counts as a death (replaced), not a failure.
      const outcome = await Promise.race([
        Promise.all(first.map((child) => child.ready.promise)).then(() => {
          this.#startFailed = null;
          return "ready" as const;
        }),
        startFailed.promise,
        stop.promise.then(() => {
          this.#startFailed = null;
          return "stopped" as const;
        }),
      ]);
      if (outcome === "stopped") return;
      // Every child listens: the parent's own listener, which only held the
      // port, goes, so that no connection waits in a queue nobody accepts.
      this.#server[kCloseSocket]();
      started();
      for (const child of first) await this.#started(child);
      if (pollInterval !== null && pollInterval > 0) {
        ticker = setInterval(() => this.#serviceActions(), pollInterval);
      }
      await stop.promise;
    } catch (error) {
      // Starting failed: no child has served anything yet; end them all.
      this.#startFailed = null;
      for (const child of this.children.values()) {
        child.stopGrace = 0;
        try {
          child.process.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
      await Promise.all([...this.children.values()].map((child) => child.gone));
      throw error;
    } finally {
      clearInterval(ticker);
      this.#stopAll(this.#server.childGraceMs);
      this.#serving = false;
      this.#stop = null;
      this.#stopped.resolve();
    }
  }

  async shutdown(): Promise<void> {
    if (!this.#serving) return;
    this.#stop?.resolve();
    await this.#stopped?.promise;
  }

  /** Stops every child within `graceMs` (then a lingering close of
   * `lingerMs`, as `serverClose()` does); waits for them when `wait`. */
  async close(graceMs: number, wait: boolean, lingerMs?: number): Promise<void> {
    this.#stop?.resolve();
    await this.#stopped?.promise;
    this.#lingerMs = lingerMs;
    this.#stopAll(graceMs);
    if (wait) await Promise.all([...this.children.values()].map((child) => child.gone));
  }

  #spawn(): Child {
    const server = this.#server;
    const bound = server.serverAddress as Deno.NetAddr;
    const nonce = crypto.randomUUID();
    const serverHost = this.#netHost(bound);
    const spec: ChildSpec = {
      id: this.#id,
      nonce,
      className: server.constructor.name,
      requested: this.#requested,
      bound: { hostname: serverHost.hostname, port: bound.port },
      graceMs: Number.isFinite(server.childGraceMs) ? server.childGraceMs : null,
    };
    const main = new URL(Deno.mainModule);
    main.hash = FRAGMENT + encodeURIComponent(JSON.stringify(spec));
    const flags = [
      "--no-prompt",
      "--unstable-net",
      ...permissionFlags(server.childPermissions, serverHost.host),
    ];
    const location = (globalThis as { location?: Location }).location;
    if (location !== undefined) flags.push(`--location=${location.href}`);
    const process = new Deno.Command(denoCommand(), {
      args: ["run", ...flags, main.href, ...Deno.args],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      // A session of its own: a Ctrl-C in the terminal reaches the parent
      // only, which decides; the children stop when it tells them, or when
      // their stdin closes because it is gone.
      detached: true,
    }).spawn();
    const ready = Promise.withResolvers<void>();
    ready.promise.catch(() => {});
    const child: Child = {
      pid: process.pid,
      process,
      stdin: process.stdin.getWriter(),
      ready,
      listening: false,
      startedAt: performance.now(),
      gone: Promise.resolve(),
    };
    const output = readChildOutput(process.stdout, nonce, (message) => {
      if ("ready" in message) {
        child.listening = true;
        ready.resolve();
      } else if ("error" in message) {
        child.error = message.error;
      }
    });
    // The exit status decides; the output gets a moment to deliver the
    // child's last message (its reason for failing), but a grandchild that
    // inherited the pipe cannot keep the child counted as alive.
    child.gone = process.status.then(async (status) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([output, new Promise((resolve) => timer = setTimeout(resolve, 1_000))]);
      clearTimeout(timer);
      await this.#exited(child, status);
    });
    this.children.set(child.pid, child);
    return child;
  }

  /** The host the children bind and are allowed: the bound IP when the
   * parent may use it, else the name it was asked to bind. */
  #netHost(bound: Deno.NetAddr): { hostname: string; host: string } {
    for (const hostname of [bound.hostname, this.#requested.hostname]) {
      const host = formatAddress({ hostname, port: bound.port });
      if (has("net", host)) return { hostname, host };
    }
    return { hostname: bound.hostname, host: formatAddress(bound) };
  }

  async #exited(child: Child, status: Deno.CommandStatus): Promise<void> {
    clearTimeout(child.killTimer);
    this.children.delete(child.pid);
    await child.stdin.close().catch(() => {});
    const how = describeExit(status);
    const failure = new Error(
      `Child process ${child.pid} of ${this.#server.constructor.name} ended with ${how} ${
        child.listening ? "while the others were starting" : "before it listened"
      } on "${formatAddress(this.#server.serverAddress)}": ${
        child.error ??
          "a child runs the program again (Deno.mainModule), which must construct the same server; see the child's output above"
      }`,
    );
    child.ready.reject(failure);
    if (child.stopGrace !== undefined) return; // asked to stop: not a death
    if (this.#startFailed !== null) {
      this.#startFailed.reject(failure);
      return;
    }
    const lifetimeMs = performance.now() - child.startedAt;
    const replace = this.#serving && this.#stop !== null;
    // The back-off is for a crash loop: children that die before they listen
    // (a broken deployment). One killed while serving — by a request, the
    // OOM killer, an operator — is replaced at once, however often: backing
    // off there left no child listening for seconds.
    if (child.listening) this.#rapidDeaths = 0;
    else this.#rapidDeaths = lifetimeMs >= HEALTHY_LIFETIME_MS ? 1 : this.#rapidDeaths + 1;
    const delay = this.#rapidDeaths <= 1
      ? 0
      : Math.min(100 * 2 ** (this.#rapidDeaths - 2), MAX_BACKOFF_MS);
    const death: ChildDeath = {
      pid: child.pid,
      code: status.code,
      signal: status.signal,
      listening: child.listening,
      lifetimeMs: Math.round(lifetimeMs),
      replacementInMs: replace ? delay : null,
    };
    if (replace) {
      const timer = setTimeout(() => {
        this.#replacements.delete(timer);
        if (this.#serving && this.#stop !== null) this.#replace();
      }, delay);
      this.#replacements.add(timer);
    }
    try {
      await this.#server.childDied(death);
    } catch (error) {
      console.error("childDied() threw:", error);
    }
  }

  #replace(): void {
    let child: Child;
    try {
      child = this.#spawn();
    } catch (error) {
      // e.g. a permission revoked since: report it, try again later
      console.error(`Could not start a child process of ${this.#server.constructor.name}:`, error);
      const timer = setTimeout(() => {
        this.#replacements.delete(timer);
        if (this.#serving && this.#stop !== null) this.#replace();
      }, MAX_BACKOFF_MS);
      this.#replacements.add(timer);
      return;
    }
    child.ready.promise.then(() => this.#started(child), () => {});
  }

  async #started(child: Child): Promise<void> {
    if (child.stopGrace !== undefined) return;
    try {
      await this.#server.childStarted(child.pid);
    } catch (error) {
      console.error("childStarted() threw:", error);
    }
  }

  #stopAll(graceMs: number): void {
    for (const timer of this.#replacements) clearTimeout(timer);
    this.#replacements.clear();
    this.#deadline = Math.min(this.#deadline, graceMs);
    for (const child of this.children.values()) this.#stopChild(child, this.#deadline);
  }

  #stopChild(child: Child, graceMs: number): void {
    const lingerMs = this.#lingerMs;
    if (
      child.stopGrace !== undefined && child.stopGrace <= graceMs && child.stopLinger === lingerMs
    ) return;
    child.stopGrace = graceMs;
    child.stopLinger = lingerMs;
    const line = JSON.stringify({ stop: Number.isFinite(graceMs) ? graceMs : null, lingerMs }) +
      "\n";
    child.stdin.write(encoder.encode(line)).catch(() => {});
    if (Number.isFinite(graceMs)) {
      clearTimeout(child.killTimer);
      child.killTimer = setTimeout(() => {
        try {
          child.process.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, graceMs + (lingerMs ?? DEFAULT_LINGER_MS) + KILL_MARGIN_MS);
    }
  }

  #serviceActions(): void {
    if (this.#actionsRunning) return; // never two runs at once, as in Python
    try {
      const result = this.#server.serviceActions();
      if (result instanceof Promise) {
        this.#actionsRunning = true;
        result
          .catch((error) => console.error("serviceActions() threw:", error))
          .finally(() => this.#actionsRunning = false);
      }
    } catch (error) {
      console.error("serviceActions() threw:", error);
    }
  }
}

/**
 * Returns `Base` (a `TCPServer` or a subclass) extended into a pre-forking
 * server, Python's `ForkingMixIn` rebuilt for Deno: `serveForever()` starts
 * `maxChildren` child processes (default: one per core) that run this
 * program again, each listening on the server's address with `SO_REUSEPORT`
 * so that the kernel spreads connections across them, each serving its
 * connections as a `ThreadingMixIn` server does. The parent supervises: a
 * child that dies (an uncaught error, `Deno.exit()`, out of memory, a
 * signal) is reported to `childDied()` and replaced while the others serve
 * on; `shutdown()` stops the children accepting, and `serverClose()` waits
 * for their requests in flight (at most `graceMs`, and `childGraceMs`),
 * then kills any left and reaps them all.
 *
 * The program must construct the same server, in the same order, every time
 * it runs (start it under `if (import.meta.main)`, not behind user input);
 * code that must run once goes under `if (!isForkingChild())`. Children get
 * no more permission than the parent: see `childPermissions`.
 *
 * Linux only, TCP only (and TLS), and needs `--unstable-net` (or
 * `"unstable": ["net"]` in deno.json); elsewhere the constructor throws
 * `Deno.errors.NotSupported` saying what to use instead.
 *
 * @param Base The server class to extend: `TCPServer` or a subclass.
 * @returns The forking class; extend it (and export nothing special: the
 *   children construct it by running the program).
 *
 * @example A forking server's shape (see the README for a whole program)
 * ```ts
 * import { ForkingMixIn, StreamRequestHandler, TCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Hasher extends ForkingMixIn(TCPServer) {
 *   static override maxChildren = 2;
 * }
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 * // In a program: if (import.meta.main) { ...; await server.serveForever(); }
 * await using server = new Hasher({ hostname: "127.0.0.1", port: 0 }, Echo);
 * assert.equal(server.maxChildren, 2);
 * assert.equal(server.activeChildren.size, 0); // none until serveForever()
 * ```
 */
export function ForkingMixIn<C extends ServerClass>(Base: C): ForkingMixInClass<C> {
  const Threading = ThreadingMixIn(Base) as unknown as ServerClass<AnyServer & ThreadingServer>;
  class Forking extends Threading implements ForkingServer {
    static maxChildren: number = navigator.hardwareConcurrency ?? 1;
    static childGraceMs = 30_000;
    static childPermissions: "inherit" | ChildPermissions = "inherit";
    /** Every child shares the port: always true. */
    static allowReusePort = true;

    #role: Role;
    #ordinal: number;
    #requested: { hostname: string; port: number };
    #supervisor: Supervisor | null = null;
    #ready = settleable();
    /** A `shutdown()` before `serveForever()`, kept for it (as `BaseServer` keeps one). */
    #stopRequested = false;

    // deno-lint-ignore no-explicit-any
    constructor(...args: any[]) {
      super(...prepare(new.target, Base, args));
      this.#role = constructingRole;
      this.#ordinal = constructed - 1;
      const { hostname = "0.0.0.0", port } = args[0] as { hostname?: string; port: number };
      this.#requested = { hostname, port };
      // a child listens from its constructor on
      if (this.#role !== "parent") this.#ready.resolve();
      if (this.#role === "parent") {
        try {
          denoCommand();
          permissionFlags(this.childPermissions, formatAddress(this.serverAddress));
        } catch (error) {
          this[kCloseSocket]();
          throw error;
        }
      }
    }

    get maxChildren(): number {
      return this[kAttribute]("maxChildren") as number;
    }
    set maxChildren(value: number) {
      checkMaxChildren(value);
      this[kAttribute]("maxChildren", value);
    }

    get childGraceMs(): number {
      return this[kAttribute]("childGraceMs") as number;
    }
    set childGraceMs(value: number) {
      checkGrace("childGraceMs", value);
      this[kAttribute]("childGraceMs", value);
    }

    get childPermissions(): "inherit" | ChildPermissions {
      return this[kAttribute]("childPermissions") as "inherit" | ChildPermissions;
    }
    set childPermissions(value: "inherit" | ChildPermissions) {
      checkChildPermissions(value);
      this[kAttribute]("childPermissions", value);
    }

    get activeChildren(): ReadonlySet<number> {
      return new Set(this.#supervisor?.children.keys());
    }

    get isChild(): boolean {
      return this.#role !== "parent";
    }

    get ready(): Promise<void> {
      return this.#ready.promise;
    }

    override get serving(): boolean {
      return this.#role === "parent" ? this.#supervisor?.serving ?? false : super.serving;
    }

    override serverBind(): void {
      const role = #role in this ? this.#role : constructingRole;
      if (role === "inert") return;
      if (!this[kAttribute]("allowReusePort")) {
        throw new RangeError(
          `allowReusePort false cannot be honoured by ${this.constructor.name}: its children share the port with SO_REUSEPORT; remove the override`,
        );
      }
      super.serverBind();
      if (role === "child") {
        tellParent({ ready: Deno.pid });
        obeyParent(this, childSpec!);
        return;
      }
      // The parent: prove that a second socket can join the port, which is
      // what every child will do.
      const { hostname, port } = this.serverAddress as Deno.NetAddr;
      try {
        Deno.listen({ hostname, port, reusePort: true }).close();
      } catch (error) {
        this[kCloseSocket]();
        throw new Deno.errors.NotSupported(
          `${this.constructor.name} could not open a second listener on "${
            formatAddress(this.serverAddress)
          }" with SO_REUSEPORT, so its children could not share the port: use ThreadingTCPServer`,
          { cause: error },
        );
      }
    }

    override async serveForever(pollInterval: number | null = 500): Promise<void> {
      if (this.#role === "child") return await super.serveForever(pollInterval);
      if (this.#role === "inert") return await childStopping.promise;
      if (this.options.signal?.aborted) {
        if (this.#ready.settled) this.#ready = settleable();
        this.#ready.reject(new Error(`${this.constructor.name} was stopped by its signal`));
        return;
      }
      if (this.closed) {
        throw new Deno.errors.BadResource(
          `Cannot call serveForever() on a closed server: create a new ${this.constructor.name}`,
        );
      }
      if (pollInterval !== null) checkGrace("pollInterval", pollInterval);
      if ((this as unknown as { socket?: Deno.Listener }).socket === undefined) {
        throw new Error(
          `${this.constructor.name} is not bound: call serverBind() before serveForever(), so that its children know the port`,
        );
      }
      this.#supervisor ??= new Supervisor(this, this.#ordinal, this.#requested);
      if (this.#ready.settled) this.#ready = settleable();
      const ready = this.#ready;
      if (this.#stopRequested) {
        this.#stopRequested = false;
        ready.reject(new Error(`${this.constructor.name} was shut down before it served`));
        return;
      }
      try {
        await this.#supervisor.serve(pollInterval, () => ready.resolve());
      } catch (error) {
        ready.reject(error);
        throw error;
      } finally {
        ready.reject(
          new Error(
            `${this.constructor.name} stopped before every child listened: shutdown() or serverClose() was called while it started`,
          ),
        );
      }
    }

    override async shutdown(): Promise<void> {
      if (this.#role !== "parent") return await super.shutdown();
      if (!this.serving) {
        this.#stopRequested = true; // the next serveForever() returns at once
        return;
      }
      await this.#supervisor?.shutdown();
    }

    override handleRequest(): Promise<void> {
      if (this.#role !== "parent") return super.handleRequest();
      return Promise.reject(
        new Deno.errors.NotSupported(
          `handleRequest() is not supported by ${this.constructor.name}: its children accept the connections; call serveForever()`,
        ),
      );
    }

    override async serverClose(options: ServerCloseOptions = {}): Promise<void> {
      if (this.#role !== "parent") return await super.serverClose(options);
      const graceMs = options.graceMs ?? Infinity;
      checkGrace("graceMs", graceMs);
      await super.serverClose(options);
      await this.#supervisor?.close(
        Math.min(graceMs, this.childGraceMs),
        this[kBlockOnClose](),
        options.lingerMs,
      );
    }

    childStarted(_pid: number): Awaitable<void> {}

    childDied(death: ChildDeath): Awaitable<void> {
      console.error(
        `Child process ${death.pid} of ${this.constructor.name} on "${
          formatAddress(this.serverAddress)
        }" ended with ${describeExit({ ...death, success: false })}${
          death.listening ? "" : " while starting"
        }${
          death.replacementInMs === null
            ? ""
            : death.replacementInMs === 0
            ? "; starting a replacement"
            : `; starting a replacement in ${death.replacementInMs} ms`
        }`,
      );
    }

    override [kBlockOnClose](): boolean {
      // A child always lets its requests finish (the parent's grace bounds
      // it); the parent has no requests of its own.
      return this.#role === "parent" ? super[kBlockOnClose]() : true;
    }
  }
  // Named after what it is (ForkingTCPServer), in messages and in the
  // spec that tells a child which server to construct.
  Object.defineProperty(Forking, "name", { value: `Forking${Base.name}` });
  return Forking as unknown as ForkingMixInClass<C>;
}

/**
 * A {@linkcode TCPServer} served by one child process per core:
 * `ForkingMixIn(TCPServer)`. Python: `ForkingTCPServer`. Run the program
 * with `--unstable-net` (or `"unstable": ["net"]` in deno.json) and
 * `--allow-run` for Deno; Linux only.
 *
 * @example A program serving on every core
 * ```ts
 * import { ForkingTCPServer, isForkingChild, StreamRequestHandler } from "@x/socketserver";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 *
 * if (import.meta.main && Deno.args.includes("--serve")) {
 *   // every child runs this program again and constructs this same server
 *   await using server = new ForkingTCPServer({ hostname: "127.0.0.1", port: 9999 }, Echo);
 *   if (!isForkingChild()) console.log(`serving with ${server.maxChildren} processes`);
 *   await server.serveForever();
 * }
 * ```
 */
export const ForkingTCPServer: ForkingMixInClass<typeof TCPServer> = ForkingMixIn(TCPServer);
/**
 * An instance of {@linkcode ForkingTCPServer}, with every method it has listed: each is
 * defined by the class or mix-in its note names, and declared again here
 * only so that this page shows it.
 *
 * @example Typing a handler's server
 * ```ts
 * import { type ForkingTCPServer, StreamRequestHandler } from "@x/socketserver";
 *
 * class Pid extends StreamRequestHandler<ForkingTCPServer> {
 *   override async handle() {
 *     // this.server is the child's ForkingTCPServer
 *     await this.wfile.write(`child ${Deno.pid} of ${this.server.maxChildren}\n`);
 *   }
 * }
 * ```
 */
export interface ForkingTCPServer extends TCPServer, ThreadingServer, ForkingServer {
  /** Starts `maxChildren` child processes that serve, and supervises them until `shutdown()` (in
   * a child: serves). See {@linkcode ForkingMixIn}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** Tells every child to stop accepting, and resolves once `serveForever()` has returned; called
   * before it, makes it return at once. See {@linkcode ForkingMixIn}. */
  shutdown(): Promise<void>;
  /** Not supported by the parent, whose children accept the connections: throws
   * `Deno.errors.NotSupported`; call `serveForever()`. */
  handleRequest(): Promise<void>;
  /** Checks the `net` permission, then binds and listens with `Deno.listen`, which does both in
   * one call (so `serverActivate()` has nothing left to do), and sets `serverAddress` to the
   * bound address. See {@linkcode TCPServerBase.serverBind}. */
  serverBind(): void;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Accepts the next connection. See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.TcpConn, Deno.NetAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** Starts the request's own task, `processRequestThread()`, and returns at once. See
   * {@linkcode ThreadingMixIn}. */
  processRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** The body of a request's task: `finishRequest()`, `handleError()` if it threw, then
   * `shutdownRequest()`. See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  /** Runs the handler — constructs `RequestHandlerClass` and calls its `setup()`, `handle()` and,
   * even when `handle()` throws, `finish()`. See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: Deno.TcpConn, clientAddress: Deno.NetAddr): Promise<void>;
  /** Shuts the write side down (the client sees EOF after everything that was written), then
   * closes the connection. See {@linkcode StreamServer.shutdownRequest}. */
  shutdownRequest(request: Deno.TcpConn): Promise<void>;
  /** Closes the connection. See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.TcpConn): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(request: Deno.TcpConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.TcpConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** Called by {@linkcode BaseServer.handleRequest} when no request came within `timeout`. See
   * {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** Called by {@linkcode BaseServer.serveForever} after every request and every `pollInterval`
   * ms while idle, never during a request (a `ThreadingMixIn` server's run alongside the tasks of
   * earlier ones) and never twice at once: an idle tick that comes while an async one still runs
   * is skipped. See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** Stops the children within `min(graceMs, childGraceMs)` and, unless `blockOnClose` is false,
   * waits for them to exit. See {@linkcode ForkingMixIn}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** Stops serving and closes the server (`shutdown()`, then `serverClose()`): what `await using`
   * calls at the end of the scope. See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
  /** Hook, called in the parent once a child listens. See {@linkcode ForkingServer.childStarted}. */
  childStarted(pid: number): Awaitable<void>;
  /** Hook, called in the parent when a child ends without having been asked to; it is replaced.
   * See {@linkcode ForkingServer.childDied}. */
  childDied(death: ChildDeath): Awaitable<void>;
}

/**
 * A {@linkcode TLSServer} served by one child process per core:
 * `ForkingMixIn(TLSServer)`. Each child runs the program again, so it reads
 * the certificate and key itself: give the children read permission for
 * them (`childPermissions: { read: [...] }`) when the parent's is partial.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, ForkingTLSServer } from "@x/socketserver";
 * import { localhostCert } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * await using server = new ForkingTLSServer(
 *   { hostname: "127.0.0.1", port: 0 },
 *   BaseRequestHandler,
 *   { ...localhostCert, maxChildren: 2 },
 * );
 * assert.equal(server.maxChildren, 2);
 * ```
 */
export const ForkingTLSServer: ForkingMixInClass<typeof TLSServer> = ForkingMixIn(TLSServer);
/**
 * An instance of {@linkcode ForkingTLSServer}, with every method it has listed: each is
 * defined by the class or mix-in its note names, and declared again here
 * only so that this page shows it.
 *
 * @example Typing a handler's server
 * ```ts
 * import { type ForkingTLSServer, StreamRequestHandler } from "@x/socketserver";
 *
 * class Pid extends StreamRequestHandler<ForkingTLSServer> {
 *   override async handle() {
 *     await this.wfile.write(`served over TLS by process ${Deno.pid}\n`);
 *   }
 * }
 * ```
 */
export interface ForkingTLSServer extends TLSServer, ThreadingServer, ForkingServer {
  /** Starts `maxChildren` child processes that serve, and supervises them until `shutdown()` (in
   * a child: serves). See {@linkcode ForkingMixIn}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** Tells every child to stop accepting, and resolves once `serveForever()` has returned; called
   * before it, makes it return at once. See {@linkcode ForkingMixIn}. */
  shutdown(): Promise<void>;
  /** Not supported by the parent, whose children accept the connections: throws
   * `Deno.errors.NotSupported`; call `serveForever()`. */
  handleRequest(): Promise<void>;
  /** Checks the `net` permission, then binds and listens with `Deno.listen`, which does both in
   * one call (so `serverActivate()` has nothing left to do), and sets `serverAddress` to the
   * bound address. See {@linkcode TCPServerBase.serverBind}. */
  serverBind(): void;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Accepts the next connection. See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.TlsConn, Deno.NetAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<boolean>;
  /** Starts the request's own task, `processRequestThread()`, and returns at once. See
   * {@linkcode ThreadingMixIn}. */
  processRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Awaitable<void>;
  /** The body of a request's task: `finishRequest()`, `handleError()` if it threw, then
   * `shutdownRequest()`. See {@linkcode ThreadingServer.processRequestThread}. */
  processRequestThread(request: unknown, clientAddress: unknown): Promise<void>;
  /** Completes the TLS handshake (at most `handshakeTimeout` ms), then runs the handler. See
   * {@linkcode TLSServer.finishRequest}. */
  finishRequest(request: Deno.TlsConn, clientAddress: Deno.NetAddr): Promise<void>;
  /** Ends the connection: after a completed handshake like every stream server (`closeWrite()`,
   * which sends TLS's `close_notify`, then `closeRequest()`); after a failed or unfinished one it
   * only closes it, as `closeWrite()` would wait for the handshake. See
   * {@linkcode TLSServer.shutdownRequest}. */
  shutdownRequest(request: Deno.TlsConn): Promise<void>;
  /** Closes the connection. See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.TlsConn): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.TlsConn, clientAddress: Deno.NetAddr, error: unknown): Awaitable<void>;
  /** Called by {@linkcode BaseServer.handleRequest} when no request came within `timeout`. See
   * {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** Called by {@linkcode BaseServer.serveForever} after every request and every `pollInterval`
   * ms while idle, never during a request (a `ThreadingMixIn` server's run alongside the tasks of
   * earlier ones) and never twice at once: an idle tick that comes while an async one still runs
   * is skipped. See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** Stops the children within `min(graceMs, childGraceMs)` and, unless `blockOnClose` is false,
   * waits for them to exit. See {@linkcode ForkingMixIn}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** Stops serving and closes the server (`shutdown()`, then `serverClose()`): what `await using`
   * calls at the end of the scope. See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
  /** Hook, called in the parent once a child listens. See {@linkcode ForkingServer.childStarted}. */
  childStarted(pid: number): Awaitable<void>;
  /** Hook, called in the parent when a child ends without having been asked to; it is replaced.
   * See {@linkcode ForkingServer.childDied}. */
  childDied(death: ChildDeath): Awaitable<void>;
}
