/**
 * {@linkcode UnixStreamServer} and {@linkcode UnixDatagramServer}: servers on
 * Unix domain sockets, and the life of their socket files.
 *
 * @module
 */

import {
  type Awaitable,
  type BaseServer,
  checkDuration,
  describeValue,
  kAttribute,
  kCloseSocket,
  type RequestHandlerClass,
  type ServerCloseOptions,
  withContext,
} from "./server.ts";
import { checkPathPermissions } from "./permissions.ts";
import { alreadyBound } from "./tcp.ts";
import { StreamServer, type StreamServerOptions } from "./stream.ts";
import {
  type DatagramRequest,
  DatagramServer,
  type DatagramServerOptions,
  kSocketClosed,
  requireUnstableNet,
} from "./datagram_server.ts";

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
 * A bound Unix stream address; pass it to `Deno.connect()`.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type UnixStreamAddr, UnixStreamServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const server = new UnixStreamServer({ path: `${dir}/app.sock` }, BaseRequestHandler);
 * const address: UnixStreamAddr = server.serverAddress;
 * const conn = await Deno.connect(address); // no conversion needed
 * assert.equal(conn.remoteAddr.transport, "unix");
 * conn.close();
 * await server.serverClose();
 * await Deno.remove(dir);
 * ```
 */
export type UnixStreamAddr = Deno.UnixAddr & { transport: "unix" };

/**
 * A bound Unix datagram address; pass it to `DatagramConn.send()`.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, type UnixDatagramAddr, UnixDatagramServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const server = new UnixDatagramServer({ path: `${dir}/app.sock` }, BaseRequestHandler);
 * const address: UnixDatagramAddr = server.serverAddress;
 * const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
 * assert.equal(await client.send(new TextEncoder().encode("ping"), address), 4);
 * client.close();
 * await server.serverClose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export type UnixDatagramAddr = Deno.UnixAddr & { transport: "unixpacket" };

/**
 * What both Unix servers take besides their transport's options.
 *
 * @example Reclaiming a crashed run's socket file
 * ```ts
 * import { BaseRequestHandler, UnixDatagramServer, type UnixSocketOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/app.sock`;
 * Deno.listenDatagram({ transport: "unixpacket", path }).close(); // leaves its file behind
 * const options: UnixSocketOptions = { reclaimStaleSocket: true };
 * const server = new UnixDatagramServer({ path }, BaseRequestHandler, {
 *   ...options,
 *   bindAndActivate: false,
 * });
 * await server.serverBind(); // nothing answers on the old file, so it is replaced
 * assert.equal(server.reclaimStaleSocket, true);
 * await server.serverClose();
 * await Deno.remove(dir);
 * ```
 *
 * @example A socket only its owner and group may connect to
 * ```ts
 * import { BaseRequestHandler, UnixStreamServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const server = new UnixStreamServer({ path: `${dir}/app.sock` }, BaseRequestHandler, {
 *   socketMode: 0o660,
 * });
 * assert.equal(Deno.lstatSync(`${dir}/app.sock`).mode! & 0o777, 0o660);
 * await server.serverClose();
 * await Deno.remove(dir);
 * ```
 */
export interface UnixSocketOptions {
  /**
   * When a socket file is already at the path — left behind by a process
   * that died without closing its server — remove it and bind, but only
   * after checking that nothing answers on it. The check connects, which
   * takes a promise, so this needs `bindAndActivate: false` and
   * `await server.serverBind()`. Default `false`: refuse. Whatever this says,
   * a path that is not a socket is never removed.
   */
  reclaimStaleSocket?: boolean;
  /**
   * The socket file's mode, e.g. `0o660` (owner and group may connect):
   * connecting to a Unix socket needs write permission on its file, so this
   * decides which local users may talk to the server. The socket is bound
   * inside a private directory (mode 0700) next to the path, given this
   * mode, and only then linked into place, so there is no moment at which a
   * wider mode is connectable. Needs `--allow-read` and `--allow-write` for
   * the socket's directory and a bare `--allow-net` (Deno checks `net` for
   * the exact path of every Unix bind, the private one included). Default
   * `null`: the mode Deno creates the file with, 0777 minus the umask.
   */
  socketMode?: number | null;
}

/**
 * Options of {@linkcode UnixStreamServer}.
 *
 * @example
 * ```ts
 * import { BaseRequestHandler, UnixStreamServer, type UnixStreamServerOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const options: UnixStreamServerOptions = { timeout: 1000, maxConnections: 16 };
 * {
 *   await using server = new UnixStreamServer(
 *     { path: `${dir}/app.sock` },
 *     BaseRequestHandler,
 *     options,
 *   );
 *   assert.equal(server.maxConnections, 16);
 * }
 * await Deno.remove(dir);
 * ```
 */
export interface UnixStreamServerOptions extends StreamServerOptions, UnixSocketOptions {}

/**
 * Options of {@linkcode UnixDatagramServer}.
 *
 * @example
 * ```ts
 * import {
 *   BaseRequestHandler,
 *   UnixDatagramServer,
 *   type UnixDatagramServerOptions,
 * } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const options: UnixDatagramServerOptions = { replyTimeout: 250, maxPacketSize: 4096 };
 * {
 *   await using server = new UnixDatagramServer(
 *     { path: `${dir}/app.sock` },
 *     BaseRequestHandler,
 *     options,
 *   );
 *   assert.equal(server.replyTimeout, 250);
 * }
 * await Deno.remove(dir);
 * ```
 */
export interface UnixDatagramServerOptions extends DatagramServerOptions, UnixSocketOptions {
  /** {@linkcode UnixDatagramServer.replyTimeout}. */
  replyTimeout?: number | null;
}

/** The backlog Deno 2.9 listens with on a Unix stream socket (verified with
 * `ss -xl`); `Deno.listen` takes none as an option for Unix sockets. */
const UNIX_BACKLOG = 1024;

// deno-lint-ignore no-explicit-any
type AnyBaseServer = BaseServer<any, any, any>;

/** The socket file each server created: removed by `serverClose()` if the
 * file at the path is still that one. A WeakMap, not a field: the bind runs
 * inside the base constructor, before subclass fields exist. */
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

function checkSocketMode(value: unknown): void {
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
  const temp = Deno.makeTempDirSync({ dir, prefix: ".s" }); // mode 0700: private
  const at = `${temp}/s`;
  let socket: { close(): void } | null = null;
  try {
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

function checkUnixAddress(address: unknown): string {
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

function checkReclaim(
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

/**
 * The bind of both Unix servers: permission check, the stale-file policy,
 * then `listen()`; remembers the file created.
 */
function bindSocketFile(
  server: AnyBaseServer,
  path: string,
  options: { reclaim: boolean; mode: number | null; privately: boolean },
  listen: (at: string) => { close(): void },
): Awaitable<void> {
  checkPathPermissions(path);
  checkSocketMode(options.mode);
  const reclaim = options.reclaim;
  const bind = () => {
    let file: SocketFile;
    try {
      file = bindAt(path, options.mode, options.privately, listen);
    } catch (error) {
      throw unixBindError(error, path);
    }
    socketFiles.set(server, file);
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
  return reclaimStale(path, found).then(bind);
}

/** The error of a failed Unix bind, with the path and what to do. */
function unixBindError(error: unknown, path: string): unknown {
  const wrapped = withContext(error, `Binding the Unix socket "${path}"`);
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  if (wrapped instanceof Deno.errors.NotFound) {
    wrapped.message += `: create the directory "${dir}" first, or choose a path in one that exists`;
  } else if (wrapped instanceof Deno.errors.PermissionDenied) {
    wrapped.message +=
      `: this user may not create files in "${dir}"; choose a directory it can write to`;
  }
  return wrapped;
}

/** Binds `listen()` anew at the path of the socket file `server` created,
 * which must still be there (or gone); returns the new socket. */
function replaceSocketFile<T extends { close(): void }>(
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
function removeSocketFile(server: AnyBaseServer): void {
  const file = socketFiles.get(server);
  if (file === undefined) return;
  socketFiles.delete(server);
  try {
    if (isOurs(file, lstatOrNull(file.path))) Deno.removeSync(file.path);
  } catch {
    // gone, or no longer ours to remove
  }
}

/** How many sockets a Unix datagram server may hold for its replies —
 * idle, sending, or stuck on a client that does not read — beside its own. */
const MAX_REPLY_SOCKETS = 16;

/**
 * A `unixpacket` socket made safe for concurrent use and for clients that do
 * not read. Deno 2.9 runs one operation at a time on such a socket — a send
 * while a receive is pending fails with `Deno.errors.Busy`, as does a second
 * concurrent send (denoland/deno#6290) — and a pending receive cannot be
 * cancelled. A threading server always has a receive pending, so its
 * handlers could never reply. This wrapper never lets a receive and a send on
 * the socket overlap: sends queue up one after the other; a receive waits
 * for the queued sends; and a send made while a receive is pending goes out
 * through one of a few unbound reply sockets instead, one send at a time
 * each, so it does not wait for the next datagram to arrive nor for another
 * client's reply. Such a reply comes from an unnamed address.
 *
 * Unix datagram sockets have flow control: a send to a client whose receive
 * queue is full (`net.unix.max_dgram_qlen` datagrams, 10 by default) waits
 * until the client reads, and until then the socket is unusable (`Busy`);
 * Deno cannot cancel such a send, not even by closing the socket. So every
 * send has a deadline (`replyTimeout`): when it runs out the reply is
 * dropped (`TimedOut`), the socket it is stuck on is set aside — a reply
 * socket simply, the server's own socket by binding a new one at the same
 * path (what was queued on the old one is lost) — and further replies to
 * that client are dropped at once until the stuck send ends (the client
 * reads or closes its socket). The sockets set aside count against
 * {@linkcode MAX_REPLY_SOCKETS} until then; when all of them are taken, a
 * reply waits for one at most its deadline, then is dropped. So clients that
 * do not read cost at most that many descriptors, and never delay a reply to
 * another client by more than one `replyTimeout`.
 */
class SerialUnixDatagramConn implements Deno.DatagramConn {
  #socket: Deno.DatagramConn;
  #rebind: () => Deno.DatagramConn;
  #replyTimeout: () => number | null;
  #sends: Promise<unknown> = Promise.resolve();
  #pendingSends = 0;
  #sent: PromiseWithResolvers<void> | null = null;
  #receiving = false;
  /** Unbound reply sockets with no send in flight. */
  #idle: Deno.DatagramConn[] = [];
  /** Reply sockets in existence (idle, sending or stuck), and server
   * sockets set aside while a send is stuck on them. */
  #replySockets = 0;
  /** Replies waiting for a reply socket, oldest first. */
  #waiters: Array<(socket: Deno.DatagramConn | null) => void> = [];
  /** Client paths with a send stuck past its deadline, and how many. */
  #stuck = new Map<string, number>();
  #watchdog = new Watchdog();
  #closed = false;

  /**
   * @param socket The bound socket.
   * @param rebind Binds a new socket at the same path, for when a send is
   *   stuck on the current one.
   * @param replyTimeout Reads the deadline of a send, in ms (`null`: none).
   */
  constructor(
    socket: Deno.DatagramConn,
    rebind: () => Deno.DatagramConn,
    replyTimeout: () => number | null,
  ) {
    this.#socket = socket;
    this.#rebind = rebind;
    this.#replyTimeout = replyTimeout;
  }

  get addr(): Deno.Addr {
    return this.#socket.addr;
  }

  async receive(p?: Uint8Array): Promise<[Uint8Array<ArrayBuffer>, Deno.Addr]> {
    while (this.#pendingSends > 0) {
      this.#sent ??= Promise.withResolvers<void>();
      await this.#sent.promise;
    }
    this.#receiving = true;
    try {
      return await this.#socket.receive(p);
    } finally {
      this.#receiving = false;
    }
  }

  send(p: Uint8Array, addr: Deno.Addr): Promise<number> {
    const path = (addr as Partial<Deno.UnixAddr>).path || null;
    if (path !== null && this.#stuck.has(path)) return Promise.reject(droppedAtOnce());
    // the server's own socket only when it is not receiving, and when a send
    // stuck on it could still be set aside
    if (this.#receiving || this.#replySockets >= MAX_REPLY_SOCKETS) {
      return this.#sendAside(p, addr, path);
    }
    const send = () => {
      // queued behind a send that got stuck: the budget may be spent now
      if (this.#replySockets >= MAX_REPLY_SOCKETS) return this.#sendAside(p, addr, path);
      const socket = this.#socket;
      return this.#deadline(
        path,
        () => socket.send(p, addr),
        (sending) => this.#retire(socket, sending),
      );
    };
    // nothing queued: send now rather than a turn later, behind a settled
    // promise
    const sent = this.#pendingSends === 0 ? send() : this.#sends.then(send, send);
    this.#pendingSends++;
    const done = () => {
      if (--this.#pendingSends === 0) {
        this.#sent?.resolve();
        this.#sent = null;
      }
    };
    this.#sends = sent.then(done, done);
    return sent;
  }

  /** Sends through a reply socket: an idle one, a new one while fewer than
   * {@linkcode MAX_REPLY_SOCKETS} exist, else the first one freed within the
   * deadline. */
  async #sendAside(p: Uint8Array, addr: Deno.Addr, path: string | null): Promise<number> {
    if (this.#closed) throw closedError();
    const ms = this.#replyTimeout();
    const began = performance.now();
    const socket = this.#idle.pop() ?? this.#newReplySocket() ?? await this.#waitForSocket(ms);
    const left = ms === null ? null : Math.max(1, ms - (performance.now() - began));
    let stuck = false;
    try {
      return await this.#deadline(path, () => socket.send(p, addr), (sending) => {
        stuck = true;
        this.#setAside(socket, sending);
      }, left);
    } catch (error) {
      if (!(error instanceof Deno.errors.PermissionDenied)) throw error;
      throw new Deno.errors.PermissionDenied(
        `${error.message}: the client connect()ed its socket to the server's path, so it accepts datagrams from that path only, and this reply came from a second socket because the server was waiting for the next datagram (Deno runs one operation at a time on a unixpacket socket); use a client that does not connect(), or a UnixDatagramServer that handles one datagram at a time`,
        { cause: error },
      );
    } finally {
      if (!stuck) this.#recycle(socket);
    }
  }

  #newReplySocket(): Deno.DatagramConn | null {
    if (this.#replySockets >= MAX_REPLY_SOCKETS) return null;
    const socket = Deno.listenDatagram({ transport: "unixpacket" });
    this.#replySockets++;
    return socket;
  }

  /** The next reply socket freed, within `ms`; else the reply is dropped. */
  #waitForSocket(ms: number | null): Promise<Deno.DatagramConn> {
    return new Promise((resolve, reject) => {
      let watched: Watched | null = null;
      const waiter = (socket: Deno.DatagramConn | null) => {
        if (watched !== null) this.#watchdog.unwatch(watched);
        if (socket === null) reject(closedError());
        else resolve(socket);
      };
      this.#waiters.push(waiter);
      if (ms === null || ms === Infinity) return;
      watched = this.#watchdog.watch(ms, () => {
        const i = this.#waiters.indexOf(waiter);
        if (i !== -1) this.#waiters.splice(i, 1);
        reject(
          new Deno.errors.TimedOut(
            `The reply was dropped after ${ms} ms (replyTimeout): all ${MAX_REPLY_SOCKETS} reply sockets are held by replies to clients that do not read them, which Deno cannot cancel; they are freed as those clients read or close their sockets`,
          ),
        );
      });
    });
  }

  /** A reply socket whose send ended: to the next waiter, or idle. */
  #recycle(socket: Deno.DatagramConn): void {
    const waiter = this.#closed ? undefined : this.#waiters.shift();
    if (waiter !== undefined) return waiter(socket);
    if (!this.#closed) {
      this.#idle.push(socket);
      return;
    }
    this.#replySockets--;
    try {
      socket.close();
    } catch {
      // already closed
    }
  }

  /** Sets aside a socket whose send is stuck: closed now (which does not
   * end the send), counted until the send ends — its descriptor is held
   * until then — then its place goes to a waiting reply, if any. */
  #setAside(socket: Deno.DatagramConn, sending: Promise<unknown>): void {
    try {
      socket.close();
    } catch {
      // already closed
    }
    const freed = () => {
      this.#replySockets--;
      if (this.#closed || this.#waiters.length === 0) return;
      let fresh: Deno.DatagramConn | null;
      try {
        fresh = this.#newReplySocket();
      } catch {
        return; // out of descriptors: the waiters' deadlines deal with it
      }
      if (fresh !== null) this.#waiters.shift()!(fresh);
    };
    sending.then(freed, freed);
  }

  /**
   * Runs `send` to `path` with the deadline (`ms`, by default
   * `replyTimeout`). When it runs out, `setAside()` gets the send, which is
   * left to end whenever the client reads or goes, and replies to `path`
   * are refused until then.
   */
  #deadline(
    path: string | null,
    send: () => Promise<number>,
    setAside: (sending: Promise<number>) => void,
    ms: number | null = this.#replyTimeout(),
  ): Promise<number> {
    if (path !== null && this.#stuck.has(path)) return Promise.reject(droppedAtOnce());
    const sending = send();
    if (ms === null || ms === Infinity) return sending;
    const limit = this.#replyTimeout() ?? ms;
    return new Promise((resolve, reject) => {
      const expire = () => {
        if (path !== null) this.#stuck.set(path, (this.#stuck.get(path) ?? 0) + 1);
        const unstuck = () => {
          if (path === null) return;
          const n = this.#stuck.get(path)! - 1;
          if (n === 0) this.#stuck.delete(path);
          else this.#stuck.set(path, n);
        };
        sending.then(unstuck, unstuck);
        try {
          setAside(sending);
        } finally {
          reject(
            new Deno.errors.TimedOut(
              `The reply timed out after ${limit} ms (replyTimeout): the client's receive queue is full because it does not read its replies, and its replies are dropped until it reads or closes its socket: make the client read them, or raise "replyTimeout"`,
            ),
          );
        }
      };
      const watched = this.#watchdog.watch(ms, expire);
      sending.then((n) => {
        this.#watchdog.unwatch(watched);
        resolve(n);
      }, (error) => {
        this.#watchdog.unwatch(watched);
        reject(error);
      });
    });
  }

  /** Replaces the server's socket, on which a send is stuck, by a new one
   * bound at the same path, and sets the old one aside (see `setAside()`);
   * if that fails the stuck socket is kept (and is `Busy` until the send
   * ends). */
  #retire(socket: Deno.DatagramConn, sending: Promise<unknown>): void {
    if (this.#socket !== socket || this.#closed) return;
    try {
      this.#socket = this.#rebind();
    } catch (error) {
      console.error(
        `Could not bind "${
          (socket.addr as Deno.UnixAddr).path
        }" anew after a reply got stuck on the server's socket (${
          error instanceof Error ? error.message : String(error)
        }); the socket is unusable until the client that does not read its replies reads or closes its socket`,
      );
      return;
    }
    this.#replySockets++;
    this.#setAside(socket, sending);
  }

  close(): void {
    this.#closed = true;
    this.#watchdog.close();
    for (const waiter of this.#waiters.splice(0)) waiter(null);
    for (const socket of this.#idle.splice(0)) {
      this.#replySockets--;
      try {
        socket.close();
      } catch {
        // already closed
      }
    }
    this.#socket.close();
  }

  joinMulticastV4(address: string, networkInterface: string): Promise<Deno.MulticastV4Membership> {
    return this.#socket.joinMulticastV4(address, networkInterface);
  }

  joinMulticastV6(address: string, networkInterface: number): Promise<Deno.MulticastV6Membership> {
    return this.#socket.joinMulticastV6(address, networkInterface);
  }

  async *[Symbol.asyncIterator](): AsyncIterableIterator<[Uint8Array<ArrayBuffer>, Deno.Addr]> {
    for (;;) yield await this.receive();
  }
}

/** One watched send: when it must have ended, and what to do if not. */
interface Watched {
  at: number;
  expire: () => void;
}

/**
 * Deadlines for sends, on one timer rather than one per send: a timer per
 * reply (set, then cleared a few microseconds later) was most of what a Unix
 * datagram reply cost over a raw loop. The timer is set for the earliest
 * deadline; when it fires, what has expired expires and it is set again for
 * the next, so a deadline fires when it is due, as its own timer would. At
 * most one send per socket is watched at once, and a reply waiting for a
 * socket: a few dozen at most, so a list is enough.
 */
class Watchdog {
  #watched: Watched[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** When the timer fires (performance.now()), if set. */
  #due = Infinity;

  /** Calls `expire` in `ms` unless {@linkcode unwatch} is called first. */
  watch(ms: number, expire: () => void): Watched {
    const watched = { at: performance.now() + ms, expire };
    this.#watched.push(watched);
    if (watched.at < this.#due) this.#arm(watched.at);
    return watched;
  }

  unwatch(watched: Watched): void {
    const i = this.#watched.indexOf(watched);
    if (i !== -1) this.#watched.splice(i, 1);
    // the timer stays set, finding nothing due when it fires (cheaper than
    // clearing and setting it per send), unless the socket is closed
    if (this.#closed && this.#watched.length === 0) this.#disarm();
  }

  /** Sends watched still expire when due (their sockets are retired); the
   * timer goes once nothing is watched. */
  close(): void {
    this.#closed = true;
    if (this.#watched.length === 0) this.#disarm();
  }

  #closed = false;

  #disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#due = Infinity;
  }

  #arm(at: number): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#due = at;
    const timer = setTimeout(this.#fire, Math.max(0, at - performance.now()));
    // a send still in flight keeps the process alive; its deadline need not
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #fire = (): void => {
    this.#timer = null;
    this.#due = Infinity;
    const now = performance.now();
    const due = this.#watched.filter((w) => w.at <= now + 0.5);
    this.#watched = this.#watched.filter((w) => w.at > now + 0.5);
    let next = Infinity;
    for (const w of this.#watched) next = Math.min(next, w.at);
    if (next !== Infinity) this.#arm(next);
    for (const w of due) w.expire();
  };
}

function droppedAtOnce(): Deno.errors.TimedOut {
  return new Deno.errors.TimedOut(
    `The reply was dropped at once: an earlier reply to this client is still waiting for room in its receive queue, so it does not read its replies; make the client read them`,
  );
}

function closedError(): Deno.errors.BadResource {
  return new Deno.errors.BadResource("Cannot send on a closed Unix datagram server's socket");
}

/** A number of ms above 0 (a send takes a little while), or `null`. */
function checkReplyTimeout(value: unknown): void {
  checkDuration("replyTimeout", value, true);
  if (value === 0) {
    throw new RangeError(
      `"replyTimeout" must be more than 0 milliseconds (a send takes a moment), or null to wait for ever, got 0`,
    );
  }
}

/**
 * A Unix stream socket server, Python's `socketserver.UnixStreamServer`: a
 * stream server like {@linkcode TCPServer}, on a socket file, whose requests
 * are `Deno.UnixConn`s. For one task per connection use
 * `ThreadingUnixStreamServer`.
 *
 * The socket file's life: binding creates it (and first checks the `read`,
 * `write` and `net` permissions Deno needs for it, naming the missing flags),
 * with the mode `socketMode` says; `serverClose()` removes it — unlike
 * Python, which leaves it behind — if it is still the file this server
 * created. A file already at the path is never overwritten: a socket file
 * makes the constructor throw `Deno.errors.AddrInUse` unless
 * `reclaimStaleSocket` is set and nothing answers on it; any other kind of
 * file throws `Deno.errors.AlreadyExists` and is left untouched. With
 * permissions for its directory and a bare `--allow-net` it binds through a
 * private directory (see {@linkcode UnixSocketOptions.socketMode}): Deno 2.9
 * removes a listener's bound path when it closes, whatever file is there by
 * then, and this keeps a socket another server put at the path safe.
 *
 * @example A line echo server on a socket file
 * ```ts
 * import { sendall, StreamRequestHandler, UnixStreamServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends StreamRequestHandler<UnixStreamServer> {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.readline());
 *   }
 * }
 * const dir = await Deno.makeTempDir();
 * {
 *   await using server = new UnixStreamServer({ path: `${dir}/echo.sock` }, Echo);
 *   server.serveForever();
 *   const conn = await Deno.connect(server.serverAddress);
 *   await sendall(conn, "hello world\n");
 *   assert.equal(await new Response(conn.readable).text(), "hello world\n");
 * } // the socket file is removed here
 * await Deno.remove(dir);
 * ```
 */
export class UnixStreamServer extends StreamServer<Deno.UnixConn, UnixStreamAddr> {
  /** Class attribute: whether a stale socket file at the path may be
   * removed; see {@linkcode UnixSocketOptions.reclaimStaleSocket}. */
  static reclaimStaleSocket: boolean = false;
  /** Class attribute: the listen backlog, Python's `request_queue_size`.
   * Deno's `Deno.listen` takes no backlog for Unix sockets and always
   * listens with 1024 (the kernel caps it at `net.core.somaxconn`), so this
   * reports that and cannot be changed: a subclass that overrides it with
   * another value makes the bind throw a `RangeError`. */
  static requestQueueSize: number = UNIX_BACKLOG;
  /** Class attribute: the socket file's mode, or `null`; see
   * {@linkcode UnixSocketOptions.socketMode}. */
  static socketMode: number | null = null;

  /** The options given to the constructor; see `BaseServer.options`. */
  declare readonly options: Readonly<UnixStreamServerOptions>;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds
   * and listens.
   *
   * @param serverAddress Where to listen: `{ path }`, or the path alone, as
   *   Python spells it.
   * @param RequestHandlerClass The handler class, run once per connection.
   * @param options Attribute values for this instance, `bindAndActivate` and
   *   `reclaimStaleSocket`.
   * @throws {TypeError} A malformed address or handler class, or
   *   `reclaimStaleSocket` without `bindAndActivate: false`.
   * @throws {Deno.errors.NotCapable} Permissions for the path are missing.
   * @throws {Deno.errors.AddrInUse} A socket file is already at the path.
   * @throws {Deno.errors.AlreadyExists} Something else is at the path.
   */
  constructor(
    serverAddress: UnixAddress | string,
    RequestHandlerClass: RequestHandlerClass<Deno.UnixConn, Deno.UnixAddr>,
    options: UnixStreamServerOptions = {},
  ) {
    const path = checkUnixAddress(serverAddress);
    checkReclaim(new.target, options);
    checkSocketMode(options.socketMode);
    super({ transport: "unix", path }, RequestHandlerClass, options);
  }

  /** Whether a stale socket file may be removed; see the static attribute. */
  get reclaimStaleSocket(): boolean {
    return this[kAttribute]("reclaimStaleSocket") as boolean;
  }
  set reclaimStaleSocket(value: boolean) {
    this[kAttribute]("reclaimStaleSocket", value);
  }

  /** The socket file's mode, or `null`; see the static attribute. It
   * applies at the next bind. */
  get socketMode(): number | null {
    return (this[kAttribute]("socketMode") as number | null | undefined) ?? null;
  }
  set socketMode(value: number | null) {
    checkSocketMode(value);
    this[kAttribute]("socketMode", value);
  }

  /** The listen backlog, 1024, read-only; see the static attribute. */
  get requestQueueSize(): number {
    return this[kAttribute]("requestQueueSize") as number;
  }

  /** Always `"AF_UNIX"`. Python: `address_family`. */
  get addressFamily(): "AF_UNIX" {
    return "AF_UNIX";
  }

  /**
   * Checks the permissions and the path, then binds and listens with
   * `Deno.listen`. Synchronous, except when it has to check whether a socket
   * file left at the path is stale (`reclaimStaleSocket`).
   *
   * @returns When bound: at once, or a promise when a stale file is checked.
   * @throws {Deno.errors.NotCapable} Permissions for the path are missing.
   * @throws {Deno.errors.AddrInUse} A socket file is at the path and may not
   *   be reclaimed, or something answers on it.
   * @throws {Deno.errors.AlreadyExists} Something else is at the path.
   * @throws {RangeError} `requestQueueSize` is overridden with a value other
   *   than 1024.
   *
   * @example Reclaiming the socket file of a crashed run
   * ```ts
   * import { BaseRequestHandler, UnixStreamServer } from "@x/socketserver";
   *
   * const dir = await Deno.makeTempDir();
   * const server = new UnixStreamServer({ path: `${dir}/app.sock` }, BaseRequestHandler, {
   *   bindAndActivate: false,
   *   reclaimStaleSocket: true,
   * });
   * await server.serverBind();
   * server.serverActivate();
   * await server.serverClose();
   * await Deno.remove(dir);
   * ```
   */
  override serverBind(): Awaitable<void> {
    const path = this.serverAddress.path;
    if (this.socket !== undefined) throw alreadyBound(path);
    const backlog = this.requestQueueSize;
    if (backlog !== UNIX_BACKLOG) {
      throw new RangeError(
        `requestQueueSize ${
          describeValue(backlog)
        } cannot be honoured by UnixStreamServer: Deno.listen takes no backlog for Unix sockets and always listens with ${UNIX_BACKLOG}; remove the override`,
      );
    }
    // privately whenever permitted: Deno removes a listener's bound path
    // when it closes, and the socket file at the path may by then be
    // another server's
    const options = { reclaim: this.reclaimStaleSocket, mode: this.socketMode, privately: true };
    return bindSocketFile(this, path, options, (at) => {
      return this.socket = Deno.listen({ transport: "unix", path: at }) as Deno.Listener<
        Deno.UnixConn,
        UnixStreamAddr
      >;
    });
  }

  /**
   * Internal: removes the socket file (if it is still this server's) and
   * closes the listener.
   *
   * @ignore
   */
  override [kCloseSocket](): void {
    if (this.socket !== undefined) removeSocketFile(this);
    super[kCloseSocket]();
  }
}

/**
 * A Unix datagram socket server, Python's `socketserver.UnixDatagramServer`:
 * a datagram server like {@linkcode UDPServer}, on a socket file (Deno's
 * `unixpacket` transport, which is `AF_UNIX, SOCK_DGRAM`). A client that
 * wants replies binds its own socket to a path; a reply to an unbound client
 * fails in the handler's `finish()`, and a reply to a client that does not
 * read its replies is dropped after `replyTimeout`. For one task per
 * datagram use `ThreadingUnixDatagramServer`.
 *
 * It needs `--unstable-net`, like `UDPServer`. The socket file's life is
 * {@linkcode UnixStreamServer}'s: permissions checked before the bind, a
 * file at the path never overwritten (`reclaimStaleSocket` for a stale
 * socket file), the file removed once the server's socket is closed.
 *
 * @example A line echo server, and a client bound to its own path
 * ```ts
 * import { DatagramRequestHandler, UnixDatagramServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Echo extends DatagramRequestHandler<UnixDatagramServer> {
 *   override async handle() {
 *     await this.wfile.write(await this.rfile.readline());
 *   }
 * }
 * const dir = await Deno.makeTempDir();
 * {
 *   await using server = new UnixDatagramServer({ path: `${dir}/echo.sock` }, Echo);
 *   server.serveForever();
 *   const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
 *   await client.send(new TextEncoder().encode("hello world\n"), server.serverAddress);
 *   const [reply] = await client.receive();
 *   assert.equal(new TextDecoder().decode(reply), "hello world\n");
 *   client.close();
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class UnixDatagramServer extends DatagramServer<Deno.UnixAddr, UnixDatagramAddr> {
  /** Class attribute: whether a stale socket file at the path may be
   * removed; see {@linkcode UnixSocketOptions.reclaimStaleSocket}. */
  static reclaimStaleSocket: boolean = false;
  /**
   * Class attribute: how long a reply may wait to be sent, in ms; `null`
   * waits for ever. Unix datagram sockets have flow control: a reply to a
   * client whose receive queue is full (`net.unix.max_dgram_qlen`
   * datagrams) waits until the client reads, and meanwhile the socket can
   * neither send nor receive — a client that sends requests and never reads
   * would stop the server. When this runs out the reply is dropped (the
   * handler's `finish()` throws `Deno.errors.TimedOut`, which goes to
   * `handleDrop()`), the socket it is stuck on is set aside (the server's
   * own socket is bound anew at the same path; datagrams still queued on the
   * old one are lost), and later replies to that client are dropped at once
   * until it reads or closes its socket. Replies made while the server waits
   * for the next datagram (a threading server's) go out through a pool of
   * reply sockets, so a stuck one holds up no other. Default 1000; must be
   * more than 0.
   *
   * Deno cannot cancel the stuck send: until that client reads or closes its
   * socket, it holds one descriptor and keeps the process alive after
   * `serverClose()` (call `Deno.exit()` to end it regardless). Clients that
   * do not read hold at most 16 descriptors in all: when 16 sockets are
   * stuck, a reply waits for one at most `replyTimeout`, then is dropped.
   */
  static replyTimeout: number | null = 1000;
  /** Class attribute: the socket file's mode, or `null`; see
   * {@linkcode UnixSocketOptions.socketMode}. */
  static socketMode: number | null = null;

  /** The options given to the constructor; see `BaseServer.options`. */
  declare readonly options: Readonly<UnixDatagramServerOptions>;

  /**
   * Creates the server and, unless `options.bindAndActivate` is false, binds.
   *
   * @param serverAddress Where to listen: `{ path }`, or the path alone, as
   *   Python spells it.
   * @param RequestHandlerClass The handler class, run once per datagram.
   * @param options Attribute values for this instance, `bindAndActivate` and
   *   `reclaimStaleSocket`.
   * @throws {TypeError} A malformed address or handler class,
   *   `reclaimStaleSocket` without `bindAndActivate: false`, or a
   *   `replyTimeout` that is not a number or `null`.
   * @throws {RangeError} A bad `maxPacketSize`, or a `replyTimeout` of 0
   *   or less.
   * @throws {Deno.errors.NotSupported} Deno runs without `--unstable-net`.
   * @throws {Deno.errors.NotCapable} Permissions for the path are missing.
   * @throws {Deno.errors.AddrInUse} A socket file is already at the path.
   * @throws {Deno.errors.AlreadyExists} Something else is at the path.
   */
  constructor(
    serverAddress: UnixAddress | string,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, Deno.UnixAddr>,
    options: UnixDatagramServerOptions = {},
  ) {
    const path = checkUnixAddress(serverAddress);
    checkReclaim(new.target, options);
    checkSocketMode(options.socketMode);
    if ("replyTimeout" in options) checkReplyTimeout(options.replyTimeout);
    super({ transport: "unixpacket", path }, RequestHandlerClass, options);
  }

  /** The socket file's mode, or `null`; see the static attribute. It
   * applies at the next bind. */
  get socketMode(): number | null {
    return (this[kAttribute]("socketMode") as number | null | undefined) ?? null;
  }
  set socketMode(value: number | null) {
    checkSocketMode(value);
    this[kAttribute]("socketMode", value);
  }

  /** How long a reply may wait to be sent, in ms; see the static attribute. */
  get replyTimeout(): number | null {
    return this[kAttribute]("replyTimeout") as number | null;
  }
  set replyTimeout(value: number | null) {
    checkReplyTimeout(value);
    this[kAttribute]("replyTimeout", value);
  }

  /** Whether a stale socket file may be removed; see the static attribute. */
  get reclaimStaleSocket(): boolean {
    return this[kAttribute]("reclaimStaleSocket") as boolean;
  }
  set reclaimStaleSocket(value: boolean) {
    this[kAttribute]("reclaimStaleSocket", value);
  }

  /** Always `"AF_UNIX"`. Python: `address_family`. */
  get addressFamily(): "AF_UNIX" {
    return "AF_UNIX";
  }

  /**
   * Checks that the datagram API is enabled, the permissions and the path,
   * then binds with `Deno.listenDatagram`. Synchronous, except when it has to
   * check whether a socket file left at the path is stale.
   *
   * @returns When bound: at once, or a promise when a stale file is checked.
   * @throws {Deno.errors.NotSupported} Deno runs without `--unstable-net`.
   * @throws {Deno.errors.NotCapable} Permissions for the path are missing.
   * @throws {Deno.errors.AddrInUse} A socket file is at the path and may not
   *   be reclaimed, or something answers on it.
   * @throws {Deno.errors.AlreadyExists} Something else is at the path.
   *
   * @example
   * ```ts
   * import { BaseRequestHandler, UnixDatagramServer } from "@x/socketserver";
   *
   * const dir = await Deno.makeTempDir();
   * const server = new UnixDatagramServer({ path: `${dir}/app.sock` }, BaseRequestHandler, {
   *   bindAndActivate: false,
   * });
   * await server.serverBind();
   * await server.serverClose();
   * await Deno.remove(dir);
   * ```
   */
  override serverBind(): Awaitable<void> {
    const path = this.serverAddress.path;
    if (this.socket !== undefined) throw alreadyBound(path);
    requireUnstableNet("UnixDatagramServer");
    const mode = this.socketMode;
    const listen = (at: string) => Deno.listenDatagram({ transport: "unixpacket", path: at });
    const options = { reclaim: this.reclaimStaleSocket, mode, privately: false };
    return bindSocketFile(this, path, options, (at) => {
      return this.socket = new SerialUnixDatagramConn(
        listen(at),
        () => replaceSocketFile(this, mode, listen),
        () => this.replyTimeout,
      );
    });
  }

  /**
   * Internal: removes the socket file, if it is still this server's, just
   * before the socket closes.
   *
   * @ignore
   */
  override [kSocketClosed](): void {
    removeSocketFile(this);
  }
}

/**
 * The methods every UnixStreamServer has, each defined by the class its note names
 * (`StreamServer` or `BaseServer`), declared again here only so that
 * this page lists them: a documentation page shows a class's own members.
 */
export interface UnixStreamServer {
  /** Handles requests until {@linkcode BaseServer.shutdown} is called or the socket is closed.
   * See {@linkcode BaseServer.serveForever}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** Stops {@linkcode BaseServer.serveForever} and resolves once it has returned. See
   * {@linkcode BaseServer.shutdown}. */
  shutdown(): Promise<void>;
  /** Handles exactly one request: waits for it (at most `timeout` ms, calling
   * {@linkcode BaseServer.handleTimeout} when nothing comes), then verifies, processes and closes
   * it. See {@linkcode BaseServer.handleRequest}. */
  handleRequest(): Promise<void>;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Accepts the next connection. See {@linkcode StreamServer.getRequest}. */
  getRequest(): Promise<[Deno.UnixConn, Deno.UnixAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: Deno.UnixConn, clientAddress: Deno.UnixAddr): Awaitable<boolean>;
  /** Processes an accepted, verified request. See {@linkcode BaseServer.processRequest}. */
  processRequest(request: Deno.UnixConn, clientAddress: Deno.UnixAddr): Awaitable<void>;
  /** Runs the handler — constructs `RequestHandlerClass` and calls its `setup()`, `handle()` and,
   * even when `handle()` throws, `finish()`. See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: Deno.UnixConn, clientAddress: Deno.UnixAddr): Promise<void>;
  /** Shuts the write side down (the client sees EOF after everything that was written), then
   * closes the connection. See {@linkcode StreamServer.shutdownRequest}. */
  shutdownRequest(request: Deno.UnixConn): Promise<void>;
  /** Closes the connection. See {@linkcode StreamServer.closeRequest}. */
  closeRequest(request: Deno.UnixConn): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(
    request: Deno.UnixConn,
    clientAddress: Deno.UnixAddr,
    error: unknown,
  ): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(request: Deno.UnixConn, clientAddress: Deno.UnixAddr, error: unknown): Awaitable<void>;
  /** Called by {@linkcode BaseServer.handleRequest} when no request came within `timeout`. See
   * {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** Called by {@linkcode BaseServer.serveForever} after every request and every `pollInterval`
   * ms while idle, never during a request (a `ThreadingMixIn` server's run alongside the tasks of
   * earlier ones) and never twice at once: an idle tick that comes while an async one still runs
   * is skipped. See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** Closes the server — the socket at once (its address is free again when this is called; a
   * connection accepted but not yet handled is closed), then waits for requests still being
   * handled, at most `graceMs` (default: until they finish). See
   * {@linkcode BaseServer.serverClose}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** Stops serving and closes the server (`shutdown()`, then `serverClose()`): what `await using`
   * calls at the end of the scope. See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The methods every UnixDatagramServer has, each defined by the class its note names
 * (`DatagramServer` or `BaseServer`), declared again here only so that
 * this page lists them: a documentation page shows a class's own members.
 */
export interface UnixDatagramServer {
  /** Handles requests until {@linkcode BaseServer.shutdown} is called or the socket is closed.
   * See {@linkcode BaseServer.serveForever}. */
  serveForever(pollInterval?: number | null): Promise<void>;
  /** Stops {@linkcode BaseServer.serveForever} and resolves once it has returned. See
   * {@linkcode BaseServer.shutdown}. */
  shutdown(): Promise<void>;
  /** Handles exactly one request: waits for it (at most `timeout` ms, calling
   * {@linkcode BaseServer.handleTimeout} when nothing comes), then verifies, processes and closes
   * it. See {@linkcode BaseServer.handleRequest}. */
  handleRequest(): Promise<void>;
  /** Starts listening. See {@linkcode BaseServer.serverActivate}. */
  serverActivate(): Awaitable<void>;
  /** Receives the next datagram. See {@linkcode DatagramServer.getRequest}. */
  getRequest(): Promise<[DatagramRequest, Deno.UnixAddr]>;
  /** Whether to handle this request; a refused one is shut down before any handler runs. See
   * {@linkcode BaseServer.verifyRequest}. */
  verifyRequest(request: DatagramRequest, clientAddress: Deno.UnixAddr): Awaitable<boolean>;
  /** Processes an accepted, verified request. See {@linkcode BaseServer.processRequest}. */
  processRequest(request: DatagramRequest, clientAddress: Deno.UnixAddr): Awaitable<void>;
  /** Runs the handler — constructs `RequestHandlerClass` and calls its `setup()`, `handle()` and,
   * even when `handle()` throws, `finish()`. See {@linkcode BaseServer.finishRequest}. */
  finishRequest(request: DatagramRequest, clientAddress: Deno.UnixAddr): Promise<void>;
  /** Ends a request — for streams, shuts the write side down, then calls `closeRequest()`. See
   * {@linkcode BaseServer.shutdownRequest}. */
  shutdownRequest(request: DatagramRequest): Awaitable<void>;
  /** Marks the request over. See {@linkcode DatagramServer.closeRequest}. */
  closeRequest(request: DatagramRequest): void;
  /** Called when handling a request threw. See {@linkcode BaseServer.handleError}. */
  handleError(
    request: DatagramRequest,
    clientAddress: Deno.UnixAddr,
    error: unknown,
  ): Awaitable<void>;
  /** Called instead of `handleError()` when a request ended early for a routine reason: a reset
   * or vanished client, a timeout that ran out, an over-long line, or the close deadline. See
   * {@linkcode BaseServer.handleDrop}. */
  handleDrop(
    request: DatagramRequest,
    clientAddress: Deno.UnixAddr,
    error: unknown,
  ): Awaitable<void>;
  /** Called by {@linkcode BaseServer.handleRequest} when no request came within `timeout`. See
   * {@linkcode BaseServer.handleTimeout}. */
  handleTimeout(): Awaitable<void>;
  /** Called by {@linkcode BaseServer.serveForever} after every request and every `pollInterval`
   * ms while idle, never during a request (a `ThreadingMixIn` server's run alongside the tasks of
   * earlier ones) and never twice at once: an idle tick that comes while an async one still runs
   * is skipped. See {@linkcode BaseServer.serviceActions}. */
  serviceActions(): Awaitable<void>;
  /** Closes the server — the socket at once (its address is free again when this is called; a
   * connection accepted but not yet handled is closed), then waits for requests still being
   * handled, at most `graceMs` (default: until they finish). See
   * {@linkcode BaseServer.serverClose}. */
  serverClose(options?: ServerCloseOptions): Promise<void>;
  /** Stops serving and closes the server (`shutdown()`, then `serverClose()`): what `await using`
   * calls at the end of the scope. See {@linkcode BaseServer}. */
  [Symbol.asyncDispose](): Promise<void>;
}
