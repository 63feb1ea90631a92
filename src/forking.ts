/**
 * {@linkcode ForkingMixIn}: one process per core on one port, supervised by the parent. Deno
 * cannot `fork()`, so each child runs the program again ("spawn") and listens with `SO_REUSEPORT`.
 * How and why: docs/forking.md.
 *
 * @module
 */

import type { AnyServer, Awaitable, ServerCloseOptions } from "./base_server.ts";
import {
  type ServerClass,
  ThreadingMixIn,
  type ThreadingServer,
  type ThreadingServerClass,
  type ThreadingServerOptions,
  type WithMixInOptions,
} from "./threading.ts";
import { declareAttributes } from "./_attributes.ts";
import {
  checkChildPermissions,
  type ChildPermissions,
  denoCommand,
  permissionFlags,
} from "./_child_permissions.ts";
import { checkGrace, checkMaxChildren, prepare } from "./_forking_checks.ts";
import {
  childSpec,
  childStopping,
  constructing,
  obeyParent,
  type Role,
  tellParent,
} from "./_forking_child.ts";
import { type ChildDeath, describeExit, notServing, Supervisor } from "./_forking_supervisor.ts";
import { formatAddress } from "./_format.ts";
import { kAttribute, kBlockOnClose, kCloseSocket } from "./_symbols.ts";

export type { ChildDeath, ChildPermissions };

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
  /** How many child processes serve at once (default: the cores). Python: `max_children`. */
  maxChildren: number;
  /** The process ids of the children running now (empty in a child). Python: `active_children`. */
  readonly activeChildren: ReadonlySet<number>;
  /** How long a stopping child may finish its requests, in ms, before it closes them and exits
   * (then the parent kills it). Default 30 000. */
  childGraceMs: number;
  /** The children's permissions: `"inherit"` (the default) or a {@linkcode ChildPermissions}. */
  childPermissions: "inherit" | ChildPermissions;
  /** Whether this is a child's copy of the server (it serves), not the parent's (it supervises). */
  readonly isChild: boolean;
  /**
   * Resolves once every child of the current `serveForever()` listens (read it after calling that);
   * rejects when starting fails or the server is stopped first. In a child it resolves at once.
   */
  readonly ready: Promise<void>;
  /**
   * A rolling restart, from the parent: starts `maxChildren` children on the program as it is on
   * disk now, waits until each listens, then stops the old ones (within `graceMs`). A new child
   * that fails to listen in `readyTimeoutMs` aborts it: the old ones serve on. See docs/forking.md.
   *
   * @returns When the new children serve and the old ones have exited.
   * @throws {Error} Not in the parent, not serving, already restarting, or aborted (it says why).
   */
  restartChildren(options?: RestartChildrenOptions): Promise<void>;
  /**
   * Hook, called in the parent once a child listens. Does nothing by default.
   *
   * @param pid The child's process id.
   */
  childStarted(pid: number): Awaitable<void>;
  /**
   * Hook, called in the parent when a child ends unasked; a replacement starts (backing off while
   * children die before they listen). The default writes a line to stderr.
   *
   * @param death Who died, how, and when it is replaced.
   */
  childDied(death: ChildDeath): Awaitable<void>;
}

/**
 * Options of {@linkcode ForkingServer.restartChildren}.
 *
 * @example Reloading the code on SIGHUP
 * ```ts
 * import { BaseRequestHandler, ForkingTCPServer, isForkingChild } from "@x/socketserver";
 *
 * if (import.meta.main) {
 *   await using server = new ForkingTCPServer({ port: 9999 }, BaseRequestHandler);
 *   if (!isForkingChild()) {
 *     Deno.addSignalListener("SIGHUP", () => {
 *       server.restartChildren({ graceMs: 10_000 }).catch((error) => console.error(error.message));
 *     });
 *   }
 *   await server.serveForever();
 * }
 * ```
 */
export interface RestartChildrenOptions {
  /** How long each old child may finish its connections, in ms; one still open then is closed
   * right after its reply under way.
   * @default {childGraceMs} */
  graceMs?: number;
  /** How long the new children may take to listen, in ms, before the restart is abandoned.
   * @default {30000} */
  readyTimeoutMs?: number;
}

/**
 * What {@linkcode ForkingMixIn} adds to a server class: the class attributes' defaults.
 *
 * @example Class attributes, as in Python
 * ```ts
 * import { ForkingTCPServer } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * class Small extends ForkingTCPServer {
 *   static override maxChildren = 2;
 * }
 * assert.equal(Small.maxChildren, 2);
 * ```
 */
export interface ForkingServerClass {
  /** Class attribute; see {@linkcode ForkingServer.maxChildren}. */
  maxChildren: number;
  /** Class attribute; see {@linkcode ForkingServer.childGraceMs}. */
  childGraceMs: number;
  /** Class attribute; see {@linkcode ForkingServer.childPermissions}. */
  childPermissions: "inherit" | ChildPermissions;
}

/**
 * The options {@linkcode ForkingMixIn} adds to a server's constructor.
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
  /** {@linkcode ForkingServer.maxChildren}.
   * @default {navigator.hardwareConcurrency} */
  maxChildren?: number;
  /** {@linkcode ForkingServer.childGraceMs}.
   * @default {30000} */
  childGraceMs?: number;
  /** {@linkcode ForkingServer.childPermissions}.
   * @default {"inherit"} */
  childPermissions?: "inherit" | ChildPermissions;
}

/**
 * The class {@linkcode ForkingMixIn} returns for a server class `C`.
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
 * A server constructor's parameters with {@linkcode ForkingServerOptions} added to its options.
 *
 * @example
 * ```ts
 * import type { TCPServer, WithForkingOptions } from "@x/socketserver";
 *
 * type Params = WithForkingOptions<ConstructorParameters<typeof TCPServer>>;
 * const options: Params[2] = { maxChildren: 4, childGraceMs: 5000 };
 * ```
 */
export type WithForkingOptions<P extends unknown[]> = WithMixInOptions<P, ForkingServerOptions>;

/**
 * Whether this process is a child started by a forking server. It runs the same program as its
 * parent, so code that must run once goes under `if (!isForkingChild())`.
 *
 * @example
 * ```ts
 * import { isForkingChild } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * assert.equal(isForkingChild(), false); // no forking server started this process
 * ```
 */
export function isForkingChild(): boolean {
  return childSpec !== null;
}

/** A promise that settles once and knows whether it has; an unawaited rejection is not unhandled. */
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

/**
 * Returns `Base` (`TCPServer`, `TLSServer` or a subclass) as a pre-forking server, Python's
 * `ForkingMixIn` for Deno: `serveForever()` starts `maxChildren` children that run this program
 * again, each listening with `SO_REUSEPORT` as a `ThreadingMixIn` server; the parent replaces
 * those that die. The program must construct the same servers in the same order every run.
 * Linux only, with `--unstable-net`; elsewhere the constructor throws `Deno.errors.NotSupported`.
 *
 * @param Base The server class to extend.
 * @returns The forking class.
 *
 * @example A forking server's shape (docs/forking.md has a whole program)
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
 * await using server = new Hasher({ hostname: "127.0.0.1", port: 0 }, Echo);
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
      ({ role: this.#role, ordinal: this.#ordinal } = constructing());
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
      return this[kAttribute]("maxChildren");
    }
    set maxChildren(value: number) {
      this[kAttribute]("maxChildren", value);
    }

    get childGraceMs(): number {
      return this[kAttribute]("childGraceMs");
    }
    set childGraceMs(value: number) {
      this[kAttribute]("childGraceMs", value);
    }

    get childPermissions(): "inherit" | ChildPermissions {
      return this[kAttribute]("childPermissions");
    }
    set childPermissions(value: "inherit" | ChildPermissions) {
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
      const role = #role in this ? this.#role : constructing().role;
      if (role === "inert") return;
      if (!(this as unknown as { allowReusePort: boolean }).allowReusePort) {
        throw new RangeError(
          `allowReusePort false cannot be honoured by ${this.constructor.name}: its children share the port with SO_REUSEPORT; remove the override`,
        );
      }
      super.serverBind();
      if (role === "child") {
        obeyParent(this, childSpec!);
        return;
      }
      // The parent: prove that a second socket can join the port, as every child will
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
      if (this.#role === "child") {
        // ready once it serves, not at its bind: one whose setup fails between the two never was
        tellParent({ ready: Deno.pid });
        return await super.serveForever(pollInterval);
      }
      if (this.#role === "inert") return await childStopping.promise;
      if (this.options.signal?.aborted) {
        if (this.#ready.settled) this.#ready = settleable();
        this.#ready.reject(new Error(`${this.constructor.name} was stopped by its signal`));
        return;
      }
      // refused before `ready` is touched: it is the running call's
      if (this.#supervisor?.serving) {
        throw new Error("serveForever() is already running: call shutdown() before serving again");
      }
      try {
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
      } catch (error) {
        // a script awaiting `ready` learns it too, rather than waiting for ever
        if (this.#ready.settled) this.#ready = settleable();
        this.#ready.reject(error);
        throw error;
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
        // a run still returning (its serviceActions() running) is the one this stops
        if (this.#supervisor?.returning) return await this.#supervisor.shutdown();
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

    async restartChildren(options: RestartChildrenOptions = {}): Promise<void> {
      const { graceMs = this.childGraceMs, readyTimeoutMs = 30_000 } = options;
      checkGrace("graceMs", graceMs);
      checkGrace("readyTimeoutMs", readyTimeoutMs);
      if (this.#role !== "parent") {
        throw new Error(
          `restartChildren() restarts ${this.constructor.name}'s children from the parent: call it where isForkingChild() is false`,
        );
      }
      if (this.#supervisor === null) throw notServing(this.constructor.name);
      await this.#supervisor.restart(graceMs, readyTimeoutMs);
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
      // A child always lets its requests finish (the parent's grace bounds it); the parent has none
      return this.#role === "parent" ? super[kBlockOnClose]() : true;
    }
  }
  declareAttributes(Forking, {
    maxChildren: checkMaxChildren,
    childGraceMs: checkGrace,
    childPermissions: checkChildPermissions,
  });
  // Named ForkingTCPServer, in messages and in the spec telling a child which server to construct
  Object.defineProperty(Forking, "name", { value: `Forking${Base.name}` });
  return Forking as unknown as ForkingMixInClass<C>;
}
