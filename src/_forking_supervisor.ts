/**
 * The parent side of a forking server: starts the children, watches them,
 * replaces one that dies (backing off while they die before listening), and
 * stops them all within a grace.
 *
 * @module
 */

import type { AnyServer, Awaitable } from "./base_server.ts";
import { type ChildPermissions, denoCommand, has, permissionFlags } from "./_child_permissions.ts";
import { readChildOutput } from "./_child_output.ts";
import { addStats, childStats, emptyStats } from "./_counters.ts";
import { type ChildSpec, FRAGMENT } from "./_forking_child.ts";
import { deadline, setTimer, type Timer } from "./_deadline.ts";
import { formatAddress } from "./_format.ts";
import { GuardedRunner } from "./_guarded.ts";
import { kCloseSocket } from "./_symbols.ts";
import type { ServerStats } from "./server_stats.ts";

/** How long after a child's grace and linger the parent waits for it to exit before killing it. */
const KILL_MARGIN_MS = 1_000;
/** `serverClose()`'s default `lingerMs`. */
const DEFAULT_LINGER_MS = 1_000;
/** A child that lived this long before dying ends a crash loop's back-off. */
const HEALTHY_LIFETIME_MS = 10_000;
const MAX_BACKOFF_MS = 10_000;
const encoder = new TextEncoder();

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
  /** Whether it had started serving (its `serveForever()`; else it died while starting). */
  listening: boolean;
  /** How long it ran, in ms. */
  lifetimeMs: number;
  /** In how many ms a replacement starts; `null` when none will, because
   * the server is stopping. */
  replacementInMs: number | null;
}

/** What the supervisor needs of its server: a forking server's parent. */
export interface Supervised extends AnyServer {
  maxChildren: number;
  childGraceMs: number;
  childPermissions: "inherit" | ChildPermissions;
  childStarted(pid: number): Awaitable<void>;
  childDied(death: ChildDeath): Awaitable<void>;
}

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
  killTimer?: Timer;
  /** Resolves once the process is reaped and its stdout drained. */
  gone: Promise<void>;
  /** Why it ended before listening, as it told us. */
  error?: string;
  /** Started by a restart still waiting for its new children to listen. */
  rollout?: boolean;
  /** Its death after it listened, while its restart went on: the restart
   * reports it once it knows whether a replacement starts. */
  death?: ChildDeath;
  /** Its last `stats()` report, and when it came. */
  stats?: ServerStats;
  reportedAt?: number;
}

/** A child's environment: its own `service.instance.id` (OpenTelemetry's resource has no pid),
 * appended to the parent's `OTEL_RESOURCE_ATTRIBUTES` when readable (the last equal key wins). */
function childEnv(): Record<string, string> {
  const name = "OTEL_RESOURCE_ATTRIBUTES";
  const own = `service.instance.id=${crypto.randomUUID()}`;
  const readable = Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  const inherited = readable ? Deno.env.get(name) : undefined;
  return { [name]: inherited ? `${inherited},${own}` : own };
}

export function describeExit(status: Deno.CommandStatus): string {
  if (status.signal === "SIGTRAP") return "signal SIGTRAP (V8 ran out of heap)";
  if (status.signal === "SIGKILL") return "signal SIGKILL (kill -9, or the kernel out of memory)";
  if (status.signal !== null) return `signal ${status.signal}`;
  return `exit code ${status.code}`;
}

/** What `childDied()` hears of `child`, which ended with `status`. */
function deathOf(
  child: Child,
  status: Deno.CommandStatus,
  replacementInMs: number | null,
): ChildDeath {
  const { pid, listening } = child;
  const lifetimeMs = Math.round(performance.now() - child.startedAt);
  return { pid, code: status.code, signal: status.signal, listening, lifetimeMs, replacementInMs };
}

/** Why `restartChildren()` gave up: a new child's `failure`, or a
 * `shutdown()` meanwhile (`serving` false), which stops the old children too. */
function abandoned(name: string, serving: boolean, failure: Error | null): Error {
  return new Error(
    serving
      ? `restartChildren() was abandoned and the old children of ${name} serve on: ${failure?.message}`
      : `restartChildren() was abandoned because ${name} was shut down meanwhile, which stops the old children and the new alike: await the restart before calling shutdown() to roll it out`,
    { cause: failure ?? undefined },
  );
}

/** `restartChildren()` called on a server whose children are not serving. */
export function notServing(name: string): Error {
  return new Error(
    `restartChildren() needs ${name} serving: call it once serveForever() has started the children (await server.ready)`,
  );
}

function kill(child: Child): void {
  try {
    child.process.kill("SIGKILL");
  } catch {
    // already gone
  }
}

/** The parent's half of a forking server: starts, watches, replaces and
 * stops the children. */
export class Supervisor {
  readonly children: Map<number, Child> = new Map();
  #server: Supervised;
  #id: number;
  #requested: { hostname: string; port: number };
  #serving = false;
  #stop: PromiseWithResolvers<void> | null = null;
  #stopped: PromiseWithResolvers<void> | null = null;
  #replacements = new Set<ReturnType<typeof setTimeout>>();
  #rapidDeaths = 0;
  #deadline = Infinity;
  /** Runs `serviceActions()`, one run at a time; `serveForever()` returns after the one running. */
  #actions: GuardedRunner;
  /** Settles once the run that stopped has let its `serviceActions()` end: what a `shutdown()`
   * meanwhile awaits. */
  #returning: Promise<void> | null = null;
  #lingerMs: number | undefined;
  /** Rejects when a child ends while the first ones are starting. */
  #startFailed: PromiseWithResolvers<never> | null = null;
  /** The last reports of the children that ended, summed. */
  #ended: ServerStats = emptyStats();
  #startedCount = 0;
  #diedCount = 0;
  /** Whether a restart is under way. */
  #restarting = false;

  constructor(
    server: Supervised,
    id: number,
    requested: { hostname: string; port: number },
  ) {
    this.#server = server;
    this.#id = id;
    this.#requested = requested;
    this.#actions = new GuardedRunner(() => server.serviceActions(), "serviceActions()");
    childStats.set(server, (own) => this.stats(own));
  }

  /** The parent's `stats()`: its own (nothing: it takes no request) plus the
   * children's last reports, and how fresh those are. */
  stats(own: ServerStats): ServerStats {
    addStats(own, this.#ended);
    const now = performance.now();
    let stalest: number | null = null;
    for (const child of this.children.values()) {
      if (child.stats !== undefined) addStats(own, child.stats);
      const age = now - (child.reportedAt ?? child.startedAt);
      if (stalest === null || age > stalest) stalest = age;
    }
    own.children = {
      running: this.children.size,
      started: this.#startedCount,
      died: this.#diedCount,
      reportAgeMs: stalest === null ? null : Math.round(stalest),
    };
    return own;
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
    const stopped = this.#stopped = Promise.withResolvers<void>();
    const startFailed = this.#startFailed = Promise.withResolvers<never>();
    startFailed.promise.catch(() => {});
    let stopTicking = () => {};
    try {
      const first: Child[] = [];
      for (let i = 0; i < this.#server.maxChildren; i++) first.push(this.#spawn());
      // Whichever settles first ends the starting phase at once: a death just after is replaced
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
      // The parent's listener only held the port: closed, no connection waits where nobody accepts
      this.#server[kCloseSocket]();
      started();
      for (const child of first) await this.#started(child);
      stopTicking = this.#actions.every(pollInterval, () => true);
      await stop.promise;
    } catch (error) {
      // Starting failed: no child has served anything yet; end them all.
      this.#startFailed = null;
      for (const child of this.children.values()) {
        child.stopGrace = 0;
        kill(child);
      }
      await Promise.all([...this.children.values()].map((child) => child.gone));
      throw error;
    } finally {
      stopTicking();
      this.#stopAll(this.#server.childGraceMs);
      this.#serving = false;
      this.#stop = null;
      // as in Python, serveForever() returns after the actions it ran (which may await shutdown())
      const running = this.#actions.running;
      if (running !== null) {
        this.#returning = stopped.promise;
        await running;
        if (this.#returning === stopped.promise) this.#returning = null;
      }
      stopped.resolve();
    }
  }

  /** Whether a stopped run waits for its `serviceActions()` to end before it returns. */
  get returning(): boolean {
    return this.#returning !== null;
  }

  async shutdown(): Promise<void> {
    // from serviceActions(), which the run waits for: at once, else a deadlock
    const fromActions = this.#actions.calling();
    if (!this.#serving) {
      if (this.#returning !== null && !fromActions) await this.#returning;
      return;
    }
    this.#stop?.resolve();
    if (!fromActions) await this.#stopped?.promise;
  }

  /** `ForkingServer.restartChildren()`: new children first, then the old ones stopped; one that
   * fails to listen within `readyMs` aborts it and the old ones serve on. */
  async restart(graceMs: number, readyMs: number): Promise<void> {
    const name = this.#server.constructor.name;
    if (!this.#serving || this.#startFailed !== null) throw notServing(name);
    if (this.#restarting) {
      throw new Error("restartChildren() is already under way: await it before calling it again");
    }
    this.#restarting = true;
    const fresh: Child[] = [];
    try {
      for (let i = 0; i < this.#server.maxChildren; i++) {
        const child = this.#spawn();
        child.rollout = true;
        fresh.push(child);
      }
      const failure = await deadline(
        Promise.all(fresh.map((child) => child.ready.promise)).then(() => null, (error) => error),
        readyMs,
        () =>
          new Error(
            `A new child process of ${name} did not listen within ${readyMs} ms: raise readyTimeoutMs, or see its output above`,
          ),
      );
      if (failure !== null || !this.#serving) {
        const serving = this.#serving;
        for (const child of fresh) {
          child.rollout = false;
          if (child.listening) this.#stopChild(child, graceMs);
          else (child.stopGrace = 0, kill(child)); // it never served
        }
        // a new child that listened, then died: no replacement, the restart is off
        for (const child of fresh) if (child.death) await this.#report(child.death);
        await Promise.all(fresh.map((child) => child.gone));
        throw abandoned(name, serving, failure);
      }
      // Those started meanwhile to replace a dead old child are old too.
      for (const timer of this.#replacements) clearTimeout(timer);
      this.#replacements.clear();
      const old = [...this.children.values()].filter((child) => !fresh.includes(child));
      const died: ChildDeath[] = [];
      for (const child of fresh) {
        child.rollout = false;
        if (child.death === undefined) continue;
        // died since it listened: replaced by a child of the new code, and reported
        this.#replaceIn(0);
        died.push({ ...child.death, replacementInMs: 0 });
      }
      for (const child of old) this.#stopChild(child, graceMs);
      for (const death of died) await this.#report(death);
      for (const child of fresh) await this.#started(child);
      await Promise.all(old.map((child) => child.gone));
    } finally {
      this.#restarting = false;
    }
  }

  /** Stops every child within `graceMs` (then a lingering close of
   * `lingerMs`, as `serverClose()` does); waits for them when `wait`. */
  async close(graceMs: number, wait: boolean, lingerMs?: number): Promise<void> {
    this.#stop?.resolve();
    // from serviceActions(), which the run waits for: its children are stopped below
    if (!this.#actions.calling()) await this.#stopped?.promise;
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
      env: childEnv(),
      // A session of its own: Ctrl-C reaches the parent only, which decides; the children stop
      // when it tells them, or when their stdin closes because it is gone
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
      if ("stats" in message) {
        child.stats = message.stats;
        child.reportedAt = performance.now();
      } else if ("ready" in message) {
        child.listening = true;
        this.#startedCount++;
        ready.resolve();
      } else if ("error" in message) {
        child.error = message.error;
      }
    });
    // The exit status decides; the output gets a moment for the child's last message, but a
    // grandchild holding the pipe cannot keep the child counted as alive
    child.gone = process.status.then(async (status) => {
      await deadline(output, 1_000, () => {});
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
    child.killTimer?.clear();
    this.children.delete(child.pid);
    // what it had open when it last reported is not in flight any more: its death cut those
    // requests, counted as closed so that the sums still add up to what was accepted
    if (child.stats !== undefined) {
      const { active, dropped } = child.stats;
      addStats(this.#ended, {
        ...child.stats,
        active: 0,
        dropped: { ...dropped, closed: (dropped.closed ?? 0) + active },
      });
    }
    // decided in the same turn as the delete: restart() tells a child of its
    // rollout that died by its `death`, and replaces it itself
    const closing = child.stdin.close().catch(() => {});
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
    if (child.rollout) {
      // one that never listened fails its restart, which says why; one that
      // listened is a death that restart() reports once it knows what replaces it
      if (child.listening) (this.#rapidDeaths = 0, child.death = deathOf(child, status, null));
      return;
    }
    const replace = this.#serving && this.#stop !== null;
    // Back off only in a crash loop (children dying before they listen): one killed while serving
    // is replaced at once, however often, or no child might listen for seconds
    if (child.listening) this.#rapidDeaths = 0;
    else this.#rapidDeaths = lifetimeMs >= HEALTHY_LIFETIME_MS ? 1 : this.#rapidDeaths + 1;
    const delay = this.#rapidDeaths <= 1
      ? 0
      : Math.min(100 * 2 ** (this.#rapidDeaths - 2), MAX_BACKOFF_MS);
    const death = deathOf(child, status, replace ? delay : null);
    if (replace) this.#replaceIn(delay);
    await closing;
    await this.#report(death);
  }

  async #report(death: ChildDeath): Promise<void> {
    this.#diedCount++;
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
      this.#replaceIn(MAX_BACKOFF_MS);
      return;
    }
    child.ready.promise.then(() => this.#started(child), () => {});
  }

  #replaceIn(ms: number): void {
    const timer = setTimeout(() => {
      this.#replacements.delete(timer);
      if (this.#serving && this.#stop !== null) this.#replace();
    }, ms);
    this.#replacements.add(timer);
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
      child.killTimer?.clear();
      child.killTimer = setTimer(
        () => kill(child),
        graceMs + (lingerMs ?? DEFAULT_LINGER_MS) + KILL_MARGIN_MS,
      );
    }
  }
}
