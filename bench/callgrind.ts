/**
 * Counts the instructions one benchmark server executes per request, under
 * `valgrind --tool=callgrind`: a figure that, unlike CPU time, does not move
 * with what else the machine runs. The server starts with instrumentation
 * off; each window is one run of the load generator: a warm-up, then the
 * window, at whose edges the client turns the count on and off (every
 * thread of the process, user space only: system calls are not counted).
 *
 *     deno task bench:callgrind [server-mode] [client flags...]
 *     deno task bench:callgrind udp -m udp -c 20 -s 64
 *     deno task bench:callgrind raw:udp-echo -m udp -c 20 -s 64
 *
 * `server-mode` is a mode of `servers/deno_lib.ts`, or `raw:<mode>` for
 * `servers/deno_raw.ts`, or `path/to/server.ts:<mode>` for any server that
 * prints `servers/ready.ts`'s line (default `threading-line`, with
 * `-m persist -c 50 -s 64`).
 * `CALLGRIND_WARMUP` (default 10) and `CALLGRIND_SECONDS` (default 6) are in
 * seconds of valgrind's slowed-down time; `CALLGRIND_WINDOWS` (default 3)
 * windows are measured; the least count is reported first. Needs `valgrind` (`apt-get install valgrind`).
 *
 * @module
 */

import { loadgen } from "./build.ts";

const BENCH = new URL(".", import.meta.url).pathname;
const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);

async function run(command: string, args: string[]): Promise<string> {
  const { stdout, stderr, success } = await new Deno.Command(command, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`${command} ${args.join(" ")} failed: ${new TextDecoder().decode(stderr)}`);
  }
  return new TextDecoder().decode(stdout);
}

if (import.meta.main) {
  const [target = "threading-line", ...clientFlags] = Deno.args;
  const [script, mode] = target.startsWith("raw:")
    ? [`${BENCH}servers/deno_raw.ts`, target.slice(4)]
    : target.includes(".ts:")
    ? [target.slice(0, target.indexOf(".ts:") + 3), target.slice(target.indexOf(".ts:") + 4)]
    : [`${BENCH}servers/deno_lib.ts`, target];
  const flags = clientFlags.length > 0 ? clientFlags : ["-m", "persist", "-c", "50", "-s", "64"];
  const warmup = env("CALLGRIND_WARMUP", 10);
  const seconds = env("CALLGRIND_SECONDS", 6);
  const windows = env("CALLGRIND_WINDOWS", 3);
  const client = await loadgen();
  const dir = await Deno.makeTempDir({ prefix: "callgrind_" });
  const server = new Deno.Command("valgrind", {
    args: [
      "--tool=callgrind",
      "--instr-atstart=no",
      "--fair-sched=yes", // a thread spinning on valgrind's lock would stall the others for seconds
      `--callgrind-out-file=${dir}/out`,
      Deno.execPath(),
      "run",
      "--quiet",
      "-A",
      "--unstable-net",
      script,
      mode,
      ...(mode.startsWith("unix") ? [`${dir}/sock`] : []),
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`The server exited before it was ready: ${text}`);
      text += value;
    }
    reader.releaseLock();
    const where = JSON.parse(text.slice(text.indexOf("READY ") + 6, text.indexOf("\n")));
    const at = where.path !== undefined
      ? ["-u", where.path]
      : ["-h", "127.0.0.1", "-p", String(where.port)];
    // The client at a real-time priority (it needs a few % of a core): when
    // other programs keep it waiting, the server finds fewer requests queued
    // at each wake-up, and its count per request grows with the idle turns
    const rt = Deno.uid() === 0 ? ["chrt", "-f", "1"] : [];
    const pid = String(server.pid);
    // Each window is one client run: a warm-up on its connections, then the
    // window, whose edges the client marks itself (-G) so that no connection
    // is opened or closed while the count runs
    const load = async (warm: number) =>
      JSON.parse(
        (await run(rt[0] ?? client, [
          ...rt.slice(1),
          ...rt.length ? [client] : [],
          ...at,
          ...flags,
          ...flags.includes("-w") ? [] : ["-w", String(warm)],
          "-d",
          String(seconds),
          "-P",
          pid,
          "-G",
        ])).trim().split("\n").pop()!,
      );
    const perRequest: number[] = [];
    for (let i = 1; i <= windows; i++) {
      const result = await load(i === 1 ? warmup : 2);
      await run("callgrind_control", ["-d", pid]);
      const dump = await Deno.readTextFile(`${dir}/out.${i}`);
      const instructions = Number(dump.match(/^totals: (\d+)/m)?.[1]);
      if (result.requests === 0) {
        // seen on a loaded machine: the server under valgrind stalls for seconds
        console.log(`window ${i}: no request answered, ${instructions} instructions: left out`);
        continue;
      }
      perRequest.push(instructions / result.requests);
      console.log(
        `window ${i}: ${result.requests} requests (${result.errors} errors), ${instructions} instructions: ${
          (instructions / result.requests / 1000).toFixed(2)
        }k per request`,
      );
    }
    // Disturbances only add instructions (a server starved of the CPU wakes
    // for fewer requests at a time): the least is the steadiest figure
    if (perRequest.length === 0) {
      throw new Error("No window answered a request: run again on a quieter machine");
    }
    const sorted = perRequest.toSorted((a, b) => a - b);
    const k = (n: number) => (n / 1000).toFixed(2);
    console.log(
      `${target}: ${k(sorted[0])}k instructions per request at least (median ${
        k(sorted[Math.floor(sorted.length / 2)])
      }k, most ${k(sorted.at(-1)!)}k)`,
    );
  } finally {
    server.kill("SIGKILL");
    await server.status;
    await server.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}
