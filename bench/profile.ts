/**
 * Profiles one Deno benchmark server under load: runs it with
 * `deno run --cpu-prof`, drives it with the load client, stops it with
 * SIGTERM (the servers exit cleanly on it, so the profile is written) and
 * prints where the time went, by function — self time and total time.
 *
 *     deno task bench:profile [server-mode] [client flags...]
 *     deno task bench:profile threading-line -c 50 -s 64 -m persist
 *     deno task bench:profile raw:tcp-oneshot -m connect -U -c 50
 *
 * `server-mode` is a mode of `servers/deno_lib.ts`, or `raw:<mode>` for
 * `servers/deno_raw.ts` (default `threading-line`). The client is the
 * benchmark's load generator (built on first use); `BENCH_SECONDS`
 * (default 5) is the length of the run. The `.cpuprofile` stays in
 * `bench/results/profiles/` for Chrome DevTools.
 *
 * @module
 */

import { loadgen } from "./build.ts";

const BENCH = new URL(".", import.meta.url).pathname;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self and total time per function, as fractions of all samples. */
export function summarizeProfile(
  profile: Profile,
): { self: [string, number][]; total: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: ProfileNode) =>
    `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*\//, "")}:${
      n.callFrame.lineNumber + 1
    }`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    all += dt;
    const k = key(byId.get(id)!);
    self.set(k, (self.get(k) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = key(byId.get(cur)!);
      if (!seen.has(name)) total.set(name, (total.get(name) ?? 0) + dt);
      seen.add(name);
    }
  });
  const sorted = (m: Map<string, number>) =>
    [...m].map(([k, t]) => [k, all > 0 ? t / all : 0] as [string, number]).sort((a, b) =>
      b[1] - a[1]
    );
  return { self: sorted(self), total: sorted(total) };
}

if (import.meta.main) {
  const [target = "threading-line", ...clientFlags] = Deno.args;
  const [script, mode] = target.startsWith("raw:")
    ? ["deno_raw.ts", target.slice(4)]
    : ["deno_lib.ts", target];
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? 5);
  const client = await loadgen();
  const dir = `${BENCH}results/profiles`;
  await Deno.mkdir(dir, { recursive: true });
  const before = new Set([...Deno.readDirSync(dir)].map((e) => e.name));

  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-net",
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      `${BENCH}servers/${script}`,
      mode,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`The server exited before it was ready: ${text}`);
    text += value;
  }
  const where = JSON.parse(text.slice(text.indexOf("READY ") + 6, text.indexOf("\n")));
  const flags = clientFlags.length > 0 ? clientFlags : ["-c", "50", "-s", "64", "-m", "persist"];
  const { stdout } = await new Deno.Command(client, {
    args: ["-p", String(where.port), "-P", String(where.pid), ...flags, "-d", String(seconds)],
    stdout: "piped",
  }).output();
  console.log(new TextDecoder().decode(stdout).trim());
  server.kill("SIGTERM");
  await server.status;
  reader.releaseLock();
  await server.stdout.cancel().catch(() => {});

  const written = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    n.endsWith(".cpuprofile") && !before.has(n)
  );
  if (written.length === 0) throw new Error("No profile was written");
  const path = `${dir}/${written[0]}`;
  const { self, total } = summarizeProfile(JSON.parse(await Deno.readTextFile(path)));
  const show = (rows: [string, number][]) =>
    rows.slice(0, 25).map(([k, f]) => `${(f * 100).toFixed(1).padStart(6)}%  ${k}`).join("\n");
  console.log(`\n${path}\n\nself time\n${show(self)}\n\ntotal time\n${show(total)}`);
}
