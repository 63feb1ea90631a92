/**
 * The life of a Unix server's socket file: the checks before the bind, the
 * private-directory bind that gives it its mode, the stale-file policy, and
 * its removal by the server that created it (and no other). Why each step:
 * docs/transports.md, "Unix sockets".
 *
 * @module
 */

import type { Awaitable, BaseServer } from "./base_server.ts";
import { checkBindable } from "./_bind.ts";
import { describeValue, withContext } from "./_format.ts";
import { checkPathPermissions } from "./_permissions.ts";

/**
 * Where a Unix socket server listens: the socket file's path. A relative
 * path is resolved against `Deno.cwd()` once, in the constructor.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type UnixAddress, UnixStreamServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const address: UnixAddress = { path: `${dir}/app.sock` };
 * const server = new UnixStreamServer(address, BaseRequestHandler);
 * assert.equal(server.serverAddress.path, address.path);
 * await server.serverClose();
 * await Deno.remove(dir);
 * ```
 */
export interface UnixAddress {
  /** The socket file's path. */
  path: string;
}

/**
 * What both Unix servers take besides their transport's options.
 *
 * @example A socket only its owner and group may connect to
 * ```ts
 * import { BaseRequestHandler, UnixStreamServer, type UnixSocketOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const options: UnixSocketOptions = { socketMode: 0o660 };
 * const server = new UnixStreamServer({ path: `${dir}/app.sock` }, BaseRequestHandler, options);
 * assert.equal(Deno.lstatSync(`${dir}/app.sock`).mode! & 0o777, 0o660);
 * await server.serverClose();
 * await Deno.remove(dir);
 * ```
 */
export interface UnixSocketOptions {
  /**
   * When a socket file is already at the path (left by a process that died
   * without closing its server), remove it and bind, but only after checking
   * that nothing answers on it. The check connects, so this needs
   * `bindAndActivate: false` and `await server.serverBind()`. A path that is
   * not a socket is never removed.
   * @default {false}
   */
  reclaimStaleSocket?: boolean;
  /**
   * The socket file's mode, e.g. `0o660`: which local users may connect.
   * The socket is bound in a private directory, given this mode, then linked
   * into place, so no wider mode is ever connectable. Needs `--allow-read`
   * and `--allow-write` for the socket's directory and a bare `--allow-net`.
   * `null`: the mode Deno creates the file with (0777 minus the umask).
   * @default {null}
   */
  socketMode?: number | null;
}

// deno-lint-ignore no-explicit-any
type AnyBaseServer = BaseServer<any, any, any>;

/** The socket file each server created: a WeakMap, not a field, because the
 * bind runs inside the base constructor, before subclass fields exist. */
const socketFiles = new WeakMap<AnyBaseServer, SocketFile>();

/** A socket file a server created: its path and identity. */
interface SocketFile {
  path: string;
  dev: number | null;
  ino: number | null;
}

/** Whether the file at `file.path` is still the socket `file` describes. */
function isOurs(file: SocketFile, now: Deno.FileInfo | null): boolean {
  return now !== null && now.isSocket === true && now.ino === file.ino && now.dev === file.dev;
}

/** The longest path a Unix socket can be bound to (`sun_path`, 108 bytes
 * with its terminating NUL). */
const MAX_SOCKET_PATH = 107;

export function checkSocketMode(_name: string, value: unknown): void {
  if (value === null || value === undefined) return;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 0o777) {
    throw new RangeError(
      `"socketMode" must be a file mode from 0 to 0o777 such as 0o660, or null, got ${
        describeValue(value)
      }`,
    );
  }
}

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  return Deno.permissions.querySync(descriptor).state === "granted";
}

/** Errors of binds inside the private directory: the directory at the
 * path was writable (the private one was made in it), so say so. */
const failedInPrivate = new WeakSet<Error>();

/**
 * Binds through a private directory, so that the socket is connectable at
 * `path` only with its final mode, and the listener's own name is not the
 * path: Deno 2.9 removes a stream listener's bound path when it closes,
 * whatever file is there by then, which would delete a socket another
 * server put at the path. Returns `null` when the permissions for it are
 * missing and `mode` is `null` (the caller then binds at `path` itself).
 */
function bindPrivately(
  path: string,
  mode: number | null,
  listen: (at: string) => { close(): void },
): { close(): void } | null {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const allowed = granted({ name: "read", path: dir }) && granted({ name: "write", path: dir }) &&
    granted({ name: "net" });
  // the private name: the directory, "/.s", 16 random hex digits, "/s"
  const fits = new TextEncoder().encode(dir).length + 21 <= MAX_SOCKET_PATH;
  if (!allowed || !fits) {
    if (mode === null) return null;
    throw allowed
      ? new RangeError(
        `"socketMode" binds the socket in a private directory next to "${path}", whose path would exceed ${MAX_SOCKET_PATH} bytes: choose a shorter directory`,
      )
      : new Deno.errors.NotCapable(
        `"socketMode" binds the socket in a private directory next to "${path}" before moving it into place: run with --allow-read=${dir} --allow-write=${dir} --allow-net`,
      );
  }
  const temp = Deno.makeTempDirSync({ dir, prefix: ".s" });
  const at = `${temp}/s`;
  let socket: { close(): void } | null = null;
  try {
    // 0700 whatever the umask: 0177 (systemd's UMask= for 0600 files) made it unsearchable
    Deno.chmodSync(temp, 0o700);
    socket = listen(at);
    if (mode !== null) Deno.chmodSync(at, mode);
    // link, unlike rename, never replaces a file that appeared at the path
    Deno.linkSync(at, path);
    return socket;
  } catch (error) {
    try {
      socket?.close();
    } catch {
      // closed already
    }
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new Deno.errors.AddrInUse(
        `Socket file "${path}" appeared while the server was binding: another server may be using it; choose another path`,
        { cause: error },
      );
    }
    if (error instanceof Error) failedInPrivate.add(error);
    throw error;
  } finally {
    try {
      Deno.removeSync(temp, { recursive: true });
    } catch {
      // removed already
    }
  }
}

/** Binds `listen` at `path`, privately when it can (see `bindPrivately()`);
 * returns the identity of the file created. */
function bindAt(
  path: string,
  mode: number | null,
  privately: boolean,
  listen: (at: string) => { close(): void },
): SocketFile {
  const done = privately || mode !== null ? bindPrivately(path, mode, listen) : null;
  if (done === null) listen(path);
  const info = lstatOrNull(path);
  return { path, dev: info?.dev ?? null, ino: info?.ino ?? null };
}

export function checkUnixAddress(address: unknown): string {
  // Python's UnixStreamServer("/tmp/app.sock", ...): the path alone
  const path = typeof address === "string" ? address : (address as { path?: unknown } | null)?.path;
  if (typeof path !== "string" || path === "") {
    throw new TypeError(
      `The server address must be a socket path like "/tmp/app.sock" or an object like { path: "/tmp/app.sock" }, got ${
        describeValue(address)
      }`,
    );
  }
  if (path.includes("\0")) {
    throw new TypeError(
      `The socket path must not contain NUL bytes, got ${
        JSON.stringify(path)
      }: abstract sockets are not supported; use a file path`,
    );
  }
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path.replace(/^(\.\/)+/, "")}`;
}

export function checkReclaim(
  Class: { reclaimStaleSocket?: boolean },
  options: UnixSocketOptions & {
    bindAndActivate?: boolean;
  },
): void {
  const reclaim = options.reclaimStaleSocket ?? Class.reclaimStaleSocket;
  if (reclaim && (options.bindAndActivate ?? true)) {
    throw new TypeError(
      "reclaimStaleSocket checks the old socket asynchronously, which a constructor cannot await: pass { bindAndActivate: false } too, then await server.serverBind() and call server.serverActivate()",
    );
  }
}

function lstatOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Removes a stale socket file at `path`, or throws when something answers
 * on it. A connection refused is the only proof of staleness accepted. */
async function reclaimStale(path: string, found: Deno.FileInfo): Promise<void> {
  let answer: unknown = null;
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
    answer = "a stream server accepted a connection";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return; // removed meanwhile
    // a datagram server answers a stream connect with EPROTOTYPE
    if (!(error instanceof Deno.errors.ConnectionRefused)) answer = error;
  }
  if (answer !== null) {
    throw new Deno.errors.AddrInUse(
      `Socket file "${path}" is in use (${
        typeof answer === "string" ? answer : answer instanceof Error ? answer.message : answer
      }): stop the server using it or choose another path`,
    );
  }
  const now = lstatOrNull(path);
  if (now === null) return;
  if (!now.isSocket || now.ino !== found.ino) {
    throw new Deno.errors.AddrInUse(
      `Socket file "${path}" was replaced while it was being checked, so it was left alone: try again`,
    );
  }
  Deno.removeSync(path);
}

/** Servers whose bind waits for the stale-file check: a second bind meanwhile is refused. */
const binding = new WeakSet<AnyBaseServer>();

/**
 * The bind of both Unix servers: the checks, the stale-file policy, then
 * `listen()`; hands the socket to `bound` once the file is in place (never
 * a socket left half-bound), and remembers the file created. Refused on a
 * closed server, also when it was closed during the stale-file check, and
 * while another bind of the same server waits for that check.
 */
export function bindSocketFile<T extends { close(): void }>(
  server: AnyBaseServer & { readonly socket?: unknown },
  path: string,
  options: { reclaim: boolean; mode: number | null; privately: boolean },
  listen: (at: string) => T,
  bound: (socket: T) => void,
): Awaitable<void> {
  if (binding.has(server)) {
    return Promise.reject(
      new Error(
        `serverBind() is already running for "${path}" (checking the stale socket file): await it instead of binding twice`,
      ),
    );
  }
  checkBindable(server, path);
  checkPathPermissions(path);
  checkSocketMode("socketMode", options.mode);
  const reclaim = options.reclaim;
  const bind = () => {
    let file: SocketFile;
    let socket: T | null = null;
    try {
      file = bindAt(path, options.mode, options.privately, (at) => socket = listen(at));
    } catch (error) {
      throw unixBindError(error, path);
    }
    socketFiles.set(server, file);
    bound(socket!);
  };
  const found = lstatOrNull(path);
  if (found === null) return bind();
  if (!found.isSocket) {
    throw new Deno.errors.AlreadyExists(
      `Cannot bind the Unix socket "${path}": that path exists and is not a socket, so it was left untouched: remove it yourself or choose another path`,
    );
  }
  if (!reclaim) {
    throw new Deno.errors.AddrInUse(
      `Socket file "${path}" already exists: another server may be using it. If it was left by a crashed run, remove it, or pass { reclaimStaleSocket: true, bindAndActivate: false } and await server.serverBind(), which removes it when nothing answers on it`,
    );
  }
  binding.add(server);
  return reclaimStale(path, found).then(() => {
    checkBindable(server, path); // serverClose() ran meanwhile
    bind();
  }).finally(() => binding.delete(server));
}

/** The error of a failed Unix bind, with the path and what to do. */
function unixBindError(error: unknown, path: string): unknown {
  const wrapped = withContext(error, `Binding the Unix socket "${path}"`);
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  if (wrapped instanceof Deno.errors.NotFound) {
    wrapped.message += `: create the directory "${dir}" first, or choose a path in one that exists`;
  } else if (wrapped instanceof Deno.errors.PermissionDenied) {
    wrapped.message += error instanceof Error && failedInPrivate.has(error)
      ? `: in the private directory (mode 0700) the server made in "${dir}" to bind it with its final mode; a security module (SELinux, AppArmor) may forbid binding there`
      : `: this user may not create files in "${dir}"; choose a directory it can write to`;
  }
  return wrapped;
}

/** Binds `listen()` anew at the path of the socket file `server` created,
 * which must still be there (or gone); returns the new socket. */
export function replaceSocketFile<T extends { close(): void }>(
  server: AnyBaseServer,
  mode: number | null,
  listen: (at: string) => T,
): T {
  const file = socketFiles.get(server);
  if (file === undefined) {
    throw new Deno.errors.BadResource(
      `Cannot bind "${
        (server.serverAddress as Deno.UnixAddr).path
      }" anew: the server is closed and its socket file removed; create a new server`,
    );
  }
  const now = lstatOrNull(file.path);
  if (now !== null) {
    if (!isOurs(file, now)) {
      throw new Deno.errors.AddrInUse(
        `Cannot bind "${file.path}" anew: the file there is no longer this server's socket, so something else replaced it; give each server a path of its own`,
      );
    }
    Deno.removeSync(file.path);
  }
  let socket: T | null = null;
  const created = bindAt(file.path, mode, false, (at) => socket = listen(at));
  file.dev = created.dev;
  file.ino = created.ino;
  return socket!;
}

/** Removes the socket file `server` created, if it is still the one there.
 * Called while the socket is still open: a bound socket holds its file's
 * inode, so no other file can have the same number until it closes. */
export function removeSocketFile(server: AnyBaseServer): void {
  const file = socketFiles.get(server);
  if (file === undefined) return;
  socketFiles.delete(server);
  try {
    if (isOurs(file, lstatOrNull(file.path))) Deno.removeSync(file.path);
  } catch {
    // gone, or no longer ours to remove
  }
}
