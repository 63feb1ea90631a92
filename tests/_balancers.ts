/**
 * Real load balancers for tests: HAProxy and nginx (`stream` module) started
 * on loopback in the foreground with a generated configuration in a temporary
 * directory, their output captured, stopped and awaited on dispose. Each
 * sends the PROXY protocol to one backend the test runs.
 *
 * @module
 */
import { freePort } from "./_net.ts";
import { within } from "./_wait.ts";

/** Debian's paths (`haproxy`, `nginx-light` with `libnginx-mod-stream`),
 * which `.ci/run` installs. Absolute, so that a PATH without /usr/sbin does
 * not turn an installed tool into a skipped test. */
export const HAPROXY = "/usr/sbin/haproxy";
export const NGINX = "/usr/sbin/nginx";
export const NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

const reported = new Set<string>();

/** Whether `path` can be run; says once on stderr why its tests skip. */
export function installed(path: string, pkg: string): boolean {
  try {
    new Deno.Command(path, { args: ["-v"], stdout: "null", stderr: "null" }).outputSync();
    return true;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    if (!reported.has(path)) {
      reported.add(path);
      console.error(`${path} is not installed: its tests are skipped (.ci/run installs ${pkg})`);
    }
    return false;
  }
}

/** Whether nginx and its stream module are both there. */
export function nginxStreamInstalled(): boolean {
  if (!installed(NGINX, "nginx-light")) return false;
  try {
    Deno.statSync(NGINX_STREAM_MODULE);
    return true;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    if (!reported.has(NGINX_STREAM_MODULE)) {
      reported.add(NGINX_STREAM_MODULE);
      console.error(
        `${NGINX_STREAM_MODULE} is missing: the nginx tests are skipped (.ci/run installs libnginx-mod-stream)`,
      );
    }
    return false;
  }
}

/** A balancer process: its frontends' ports, its captured output, and a
 * stop that waits for its exit. */
export class Balancer implements AsyncDisposable {
  /** The process ID of the balancer (HAProxy's master, nginx's master). */
  readonly pid: number;
  #child: Deno.ChildProcess;
  #dir: string;
  #log = "";
  #waiters = new Set<() => void>();
  #drained: Promise<void>;
  #stopped: Promise<Deno.CommandStatus> | null = null;

  private constructor(
    readonly name: string,
    command: string,
    args: string[],
    dir: string,
  ) {
    this.#dir = dir;
    this.#child = new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#child.pid;
    this.#drained = Promise.all([
      this.#capture(this.#child.stdout),
      this.#capture(this.#child.stderr),
    ])
      .then(() => {});
  }

  async #capture(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      this.#log += text;
      for (const wake of this.#waiters) wake();
    }
    for (const wake of this.#waiters) wake();
  }

  /** Everything the balancer printed so far (its log goes to stderr). */
  get log(): string {
    return this.#log;
  }

  /** Waits until the log from offset `from` (a former `log.length`) on
   * matches `pattern` (at most `ms`); rejects, with the log, when the
   * balancer exits first or the time runs out. */
  async waitForLog(pattern: RegExp, ms = 10_000, from = 0): Promise<RegExpMatchArray> {
    let exited = false;
    this.#child.status.then(() => exited = true);
    const wait = async () => {
      for (;;) {
        const match = this.#log.slice(from).match(pattern);
        if (match) return match;
        if (exited) {
          await this.#drained;
          const late = this.#log.slice(from).match(pattern);
          if (late) return late;
          throw new Error(`${this.name} exited before logging ${pattern}; its log:\n${this.#log}`);
        }
        await new Promise<void>((resolve) => {
          const wake = () => {
            this.#waiters.delete(wake);
            resolve();
          };
          this.#waiters.add(wake);
          this.#child.status.then(wake);
        });
      }
    };
    return await within(wait(), ms, () => `${this.name} to log ${pattern}; its log:\n${this.#log}`);
  }

  /** Stops the balancer (SIGTERM) and waits for it to exit and its output
   * to end; removes its directory. Safe to call twice. */
  stop(): Promise<Deno.CommandStatus> {
    this.#stopped ??= (async () => {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // already exited
      }
      const status = await this.#child.status;
      await this.#drained;
      await Deno.remove(this.#dir, { recursive: true });
      return status;
    })();
    return this.#stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** Writes `config` into a new temporary directory, starts `command` with
   * `args(dir, configPath)` and waits for `ready` in its log. */
  static async start(
    name: string,
    command: string,
    config: (dir: string) => string,
    args: (dir: string, configPath: string) => string[],
    ready: RegExp,
  ): Promise<Balancer> {
    const dir = await Deno.makeTempDir({ prefix: `${name}-` });
    const path = `${dir}/${name}.conf`;
    await Deno.writeTextFile(path, config(dir));
    const balancer = new Balancer(name, command, args(dir, path), dir);
    try {
      await balancer.waitForLog(ready, 15_000);
    } catch (error) {
      await balancer.stop();
      throw error;
    }
    return balancer;
  }
}

/** Where a balancer sends its connections. */
export interface Backend {
  hostname: string;
  port: number;
}

/** How HAProxy talks to the backend. */
export interface HaproxyOptions {
  /** One server (named `app`), or several (`s1`, `s2`...), balanced round-robin. */
  backend: Backend | Backend[];
  /** The server line's PROXY protocol keyword; none sends no header. */
  send?: "send-proxy" | "send-proxy-v2" | "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn";
  /** `proxy-v2-options` of the server line, such as `["crc32c", "authority"]`.
   * `"unique-id"` also sets the frontends' `unique-id-format`. */
  v2Options?: string[];
  /** Health checks every `interMs`: HAProxy connects, sends its header (a
   * health check is `LOCAL` in v2, `UNKNOWN` in v1), sends `send`, expects
   * `expect`. */
  check?: { send: string; expect: string; interMs: number };
  /** Also listen on `[::1]` (its port is `ports.ipv6`). */
  ipv6?: boolean;
  /** Also listen with TLS (its port is `ports.tls`), with this certificate
   * and key (PEM files) and ALPN `h2,http/1.1`. */
  tls?: { certFile: string; keyFile: string };
  /** `retries 3` and `option redispatch`: a connection a server refuses is
   * tried again, on another server. */
  redispatch?: boolean;
  /** Log every connection (`option tcplog`); `false` for a benchmark.
   * @default {true} */
  log?: boolean;
}

/** A running balancer and its frontends' ports: `ipv4` always, `ipv6` and
 * `tls` when asked for. */
export interface RunningBalancer {
  balancer: Balancer;
  ports: { ipv4: number; ipv6?: number; tls?: number };
}

/** Starts HAProxy in TCP mode (`-W -db`: master and one worker, in the
 * foreground) in front of `options.backend`. */
export async function startHaproxy(options: HaproxyOptions): Promise<RunningBalancer> {
  const ports: RunningBalancer["ports"] = { ipv4: freePort() };
  if (options.ipv6) ports.ipv6 = freePort("::1");
  if (options.tls) ports.tls = freePort();
  const { check } = options;
  const backends = Array.isArray(options.backend) ? options.backend : [options.backend];
  const servers = backends.map((backend, i) =>
    [
      `server ${Array.isArray(options.backend) ? `s${i + 1}` : "app"}`,
      `${backend.hostname}:${backend.port}`,
      options.send,
      options.v2Options?.length ? `proxy-v2-options ${options.v2Options.join(",")}` : "",
      check ? `check inter ${check.interMs}ms rise 1 fall 1` : "",
    ].filter(Boolean).join(" ")
  );
  const config = (dir: string) => {
    const binds = [`  bind 127.0.0.1:${ports.ipv4}`];
    if (ports.ipv6) binds.push(`  bind [::1]:${ports.ipv6}`);
    if (ports.tls) {
      binds.push(`  bind 127.0.0.1:${ports.tls} ssl crt ${dir}/site.pem alpn h2,http/1.1`);
    }
    return [
      "global",
      "  nbthread 1",
      "  log stderr format raw local0 info",
      "defaults",
      "  mode tcp",
      ...(options.log === false ? [] : ["  log global", "  option tcplog"]),
      "  timeout connect 5s",
      "  timeout client 30s",
      "  timeout server 30s",
      "frontend front",
      ...binds,
      ...(options.v2Options?.includes("unique-id")
        ? ["  unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt"]
        : []),
      "  default_backend app",
      "backend app",
      ...(options.redispatch ? ["  balance roundrobin", "  retries 3", "  option redispatch"] : []),
      ...(check
        ? [
          "  option tcp-check",
          "  tcp-check connect default", // the server line's send-proxy options
          `  tcp-check send ${check.send}`,
          `  tcp-check expect string ${check.expect}`,
        ]
        : []),
      ...servers.map((server) => `  ${server}`),
      "",
    ].join("\n");
  };
  const balancer = await Balancer.start(
    "haproxy",
    HAPROXY,
    (dir) => {
      if (options.tls) {
        // HAProxy wants the certificate and its key in one file.
        Deno.writeTextFileSync(
          `${dir}/site.pem`,
          Deno.readTextFileSync(options.tls.certFile) + Deno.readTextFileSync(options.tls.keyFile),
        );
      }
      return config(dir);
    },
    (_dir, path) => ["-W", "-db", "-f", path],
    /Loading success\./,
  );
  return { balancer, ports };
}

/** Starts nginx (master and one worker, `daemon off`) with a `stream`
 * server that sends `proxy_protocol` (version 1, the only one nginx sends)
 * to `backend`. */
export async function startNginx(
  options: { backend: Backend; ipv6?: boolean },
): Promise<RunningBalancer> {
  const ports: RunningBalancer["ports"] = { ipv4: freePort() };
  if (options.ipv6) ports.ipv6 = freePort("::1");
  const { backend } = options;
  const listens = [`    listen 127.0.0.1:${ports.ipv4};`];
  if (ports.ipv6) listens.push(`    listen [::1]:${ports.ipv6};`);
  const balancer = await Balancer.start(
    "nginx",
    NGINX,
    (dir) =>
      [
        `load_module ${NGINX_STREAM_MODULE};`,
        "worker_processes 1;",
        "daemon off;",
        `pid ${dir}/nginx.pid;`,
        "error_log stderr notice;",
        "events { worker_connections 64; }",
        "stream {",
        "  server {",
        ...listens,
        `    proxy_pass ${backend.hostname}:${backend.port};`,
        "    proxy_protocol on;",
        "  }",
        "}",
        "",
      ].join("\n"),
    // -e: the compiled-in error log (/var/log/nginx) is opened before the configuration is read.
    (dir, path) => ["-p", dir, "-e", "stderr", "-c", path],
    /start worker process/,
  );
  return { balancer, ports };
}
