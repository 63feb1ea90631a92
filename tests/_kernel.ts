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
