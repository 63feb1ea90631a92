/**
 * What the kernel knows that no event announces: a listener's accept queue,
 * a process's open descriptors, whether a process exists. Deno lets only
 * `--allow-all` read `/proc`, so a python3 child (a test permission) reads it.
 *
 * @module
 */
import { runCommand } from "./_process.ts";

/**
 * Waits until the kernel's accept queue of the TCP listener on `port` is
 * empty — every connection made to it so far has been accepted by the
 * server — reading the queue length from `/proc/net/tcp{,6}`. Bounded:
 * throws after `tries` looks, 10 ms apart.
 */
export async function untilAcceptQueueEmpty(port: number, tries = 300): Promise<void> {
  const script = `
import sys
port = int(sys.argv[1])
queued = 0
for name in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(name).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        f = row.split()
        if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
            queued += int(f[4].split(":")[1], 16)
print(queued)
`;
  for (let i = 0; i < tries; i++) {
    const { code, stdout, stderr } = await runCommand("python3", ["-c", script, String(port)]);
    if (code !== 0) throw new Error(`Could not read the accept queue of port ${port}: ${stderr}`);
    if (Number(stdout.trim()) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`The server on port ${port} did not accept its queued connections`);
}

/**
 * Counts the descriptors process `pid` (default: this one) has open — sockets
 * and files alike — leaving out the pipes, pidfds and `/dev/null` of the
 * subprocesses that do the counting, which the runtime releases
 * asynchronously.
 */
export async function countOpenDescriptors(pid: number = Deno.pid): Promise<number> {
  const script = `
import os, sys
d = f"/proc/{sys.argv[1]}/fd"
n = 0
for f in os.listdir(d):
    try:
        t = os.readlink(os.path.join(d, f))
    except OSError:
        continue
    if not (t.startswith("pipe:") or t == "anon_inode:[pidfd]" or t == "/dev/null"):
        n += 1
print(n)
`;
  const { code, stdout, stderr } = await runCommand("python3", ["-c", script, String(pid)]);
  if (code !== 0) throw new Error(`Could not count the descriptors of process ${pid}: ${stderr}`);
  return Number(stdout.trim());
}

/** Whether process `pid` exists — a zombie counts, since it still has an
 * entry in the process table (`kill -0` succeeds on it). */
export async function processExists(pid: number): Promise<boolean> {
  const { code } = await new Deno.Command("kill", { args: ["-0", String(pid)], stderr: "null" })
    .output();
  return code === 0;
}

/** The kernel's TCP counters (TcpExt from /proc/net/netstat, Tcp from
 * /proc/net/snmp) as "TcpExt.Name" keys: what happened to connections that
 * no process saw. Reads /proc itself, so only for programs run with -A. */
export async function tcpCounters(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const file of ["/proc/net/netstat", "/proc/net/snmp"]) {
    const lines = (await Deno.readTextFile(file)).trim().split("\n");
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const names = lines[i].split(/\s+/);
      const numbers = lines[i + 1].split(/\s+/);
      const prefix = names[0].replace(":", "");
      if (prefix !== "TcpExt" && prefix !== "Tcp") continue;
      names.slice(1).forEach((name, k) => out[`${prefix}.${name}`] = Number(numbers[k + 1]));
    }
  }
  return out;
}

/**
 * Waits until the kernel has processed the reset the peer of `conn` sent:
 * the socket has left `/proc/net/tcp{,6}` (a reset unhashes it) or is CLOSE. On a loaded machine
 * loopback packets may wait for ksoftirqd, so the peer having closed does
 * not mean this end has seen the reset yet. Bounded: throws after 5 s.
 */
export async function untilResetArrived(conn: Deno.Conn): Promise<void> {
  const local = conn.localAddr as Deno.NetAddr;
  const remote = conn.remoteAddr as Deno.NetAddr;
  const script = `
import sys, time
local, remote = int(sys.argv[1]), int(sys.argv[2])
def state():
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in open(name).read().splitlines()[1:]:
            f = row.split()
            if int(f[1].rsplit(":", 1)[1], 16) == local and int(f[2].rsplit(":", 1)[1], 16) == remote:
                return f[3]
    return None
for _ in range(500):
    if state() in (None, "07"):
        sys.exit(0)
    time.sleep(0.01)
sys.exit(1)
`;
  const { code } = await runCommand("python3", [
    "-c",
    script,
    String(local.port),
    String(remote.port),
  ]);
  if (code !== 0) {
    throw new Error(`The reset from port ${remote.port} did not reach port ${local.port}`);
  }
}
