/**
 * Runs a command inside a fresh network namespace, for the tests whose
 * subject is the kernel's per-namespace TCP behaviour (sysctls such as
 * `net.ipv4.tcp_migrate_req`), so that they change nothing on the machine
 * and see no other process's sockets.
 *
 * `unshare --net --pid --fork --kill-child`: the command gets its own
 * network namespace (only `lo`, brought up here, and the namespace's own
 * sysctls, set here) and its own PID namespace, whose first process is its
 * `sh`. Whatever the command starts lives in that PID namespace, so a
 * timeout kills unshare, unshare's death kills that `sh` (SIGKILL), and the
 * kernel kills every process left in the namespace: nothing outlives the
 * call. Processes inside reach each other on 127.0.0.1; nothing inside
 * reaches the machine's own loopback.
 *
 * Needs root (CAP_SYS_ADMIN), util-linux's `unshare`, iproute2's `ip` and
 * procps' `sysctl`; {@linkcode netnsSkipReason} says which is missing.
 * @module
 */
import { hasCommand } from "./_process.ts";

/** What a command run in a namespace printed, and how it ended. */
export interface NetnsOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode inNetns}. */
export interface NetnsOptions {
  /** Sysctls set in the namespace before the command runs, e.g.
   * `{ "net.ipv4.tcp_migrate_req": 1 }`. */
  sysctls?: Record<string, string | number>;
  /** The command is killed, with everything it started, after this long
   * (ms), and the call throws. @default 60000 */
  timeoutMs?: number;
  /** The command's working directory. @default the test's */
  cwd?: string;
}

const SETUP_FAILED = 125;
const decoder = new TextDecoder();

// $1.. are "NAME=VALUE" sysctls up to "--", then the command: passed as
// arguments, never spliced into the script, so nothing needs quoting.
const SCRIPT = `
ip link set lo up || { echo "netns: could not bring lo up" >&2; exit ${SETUP_FAILED}; }
while [ "$1" != "--" ]; do
  sysctl -qw "$1" || { echo "netns: could not set sysctl $1" >&2; exit ${SETUP_FAILED}; }
  shift
done
shift
exec "$@"
`;

/**
 * Runs `command` with `args` in a fresh network (and PID) namespace, after
 * `lo` is up and `sysctls` are set, and returns its output and exit code.
 *
 * @throws {Error} The namespace could not be set up (the message says why),
 *   or the command did not end within `timeoutMs` (it and everything it
 *   started are killed first).
 */
export async function inNetns(
  command: string,
  args: string[],
  options: NetnsOptions = {},
): Promise<NetnsOutput> {
  const { sysctls = {}, timeoutMs = 60_000, cwd } = options;
  const settings = Object.entries(sysctls).map(([name, value]) => `${name}=${value}`);
  const { result, timedOut } = await unshare(
    ["sh", "-c", SCRIPT, "sh", ...settings, "--", command, ...args],
    timeoutMs,
    cwd,
  );
  if (timedOut) {
    throw new Error(
      `"${command}" did not end within ${timeoutMs} ms in its network namespace and was killed; stdout: ${
        JSON.stringify(result.stdout)
      }; stderr: ${JSON.stringify(result.stderr)}`,
    );
  }
  if (result.code === SETUP_FAILED && result.stderr.includes("netns: ")) {
    throw new Error(`Could not set up the network namespace: ${result.stderr.trim()}`);
  }
  return result;
}

/**
 * Why {@linkcode inNetns} cannot run here, or `null` when it can: not root,
 * or `unshare`, `ip` or `sysctl` missing, or one of `sysctls` (names)
 * unknown to this kernel. The reason is printed once, like a missing tool's.
 *
 * @throws {Error} unshare failed for another reason than a missing
 *   privilege: that is a failure to report, not a reason to skip.
 */
export async function netnsSkipReason(sysctls: string[] = []): Promise<string | null> {
  const reason = await probe(sysctls);
  if (reason !== null) console.error(`${reason}: the network-namespace tests are skipped`);
  return reason;
}

async function probe(sysctls: string[]): Promise<string | null> {
  if (!hasCommand("unshare")) return "unshare is not installed (apt-get install util-linux)";
  // the sysctl names are arguments ($@), never spliced into the script
  const checks = `
command -v ip >/dev/null || { echo "ip is not installed (apt-get install iproute2)"; exit 3; }
command -v sysctl >/dev/null || { echo "sysctl is not installed (apt-get install procps)"; exit 3; }
for name in "$@"; do
  [ -e "/proc/sys/$(echo "$name" | tr . /)" ] ||
    { echo "this kernel ($(uname -r)) has no sysctl $name"; exit 3; }
done
`;
  const { result, timedOut } = await unshare(["sh", "-c", checks, "sh", ...sysctls], 10_000);
  if (timedOut) throw new Error("unshare did not end within 10000 ms");
  const stderr = result.stderr.trim();
  if (result.code === 3) return result.stdout.trim();
  if (/Operation not permitted|Permission denied/.test(stderr)) {
    return `not root: unshare --net needs CAP_SYS_ADMIN (${stderr})`;
  }
  if (result.code !== 0) throw new Error(`unshare failed with ${result.code}: ${stderr}`);
  return null;
}

/** Runs `argv` under unshare in new network and PID namespaces; kills it
 * after `timeoutMs`. */
async function unshare(
  argv: string[],
  timeoutMs: number,
  cwd?: string,
): Promise<{ result: NetnsOutput; timedOut: boolean }> {
  const child = new Deno.Command("unshare", {
    args: ["--net", "--pid", "--fork", "--kill-child", ...argv],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // SIGKILL, not the SIGTERM of a Command's `signal`: unshare hands SIGTERM
  // to the namespace's first process, which as its init ignores it. Killed,
  // unshare takes that process with it (--kill-child), and with it the
  // whole PID namespace.
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    const output = await child.output();
    return {
      result: {
        code: output.code,
        stdout: decoder.decode(output.stdout),
        stderr: decoder.decode(output.stderr),
      },
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}
