/**
 * `deno run -A bench/reuseport.ts [--reps 5] [--library]`: the SO_REUSEPORT
 * hand-over figures of docs/deployment.md. Each configuration — one process
 * whose listeners take turns or a new process per round (blue/green), the
 * old listener closed at once or 100 ms after it stopped accepting — runs
 * `--reps` times with `net.ipv4.tcp_migrate_req` 0 and 1, each run 10
 * hand-overs under 50 closed-loop clients of 4 requests per connection
 * (tests/fixtures/reuseport_rounds.ts, in a network namespace of its own:
 * root only). Prints a Markdown table: failed requests per run and by cause,
 * and the kernel's migration count; a last configuration closes the old
 * listener before the new one listens (the wrong order). `--library` also
 * runs the library's ThreadingTCPServer (shutdown() then serverClose()) in
 * place of raw Deno.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { build } from "./build.ts";
import { inNetns, netnsSkipReason } from "../tests/_netns.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { reps: { type: "string", default: "5" }, library: { type: "boolean", default: false } },
});
const reps = Number(values.reps);
const reason = await netnsSkipReason(["net.ipv4.tcp_migrate_req"]);
if (reason !== null) {
  console.error(`Cannot run: ${reason}`);
  Deno.exit(1);
}
const loadgen = await build("loadgen");
const rounds = new URL("../tests/fixtures/reuseport_rounds.ts", import.meta.url).pathname;
const kernel = (await new Deno.Command("uname", { args: ["-r"] }).output()).stdout;

const configs: { server: string; mode: string; linger: number; closeFirst?: boolean }[] = [];
for (const server of values.library ? ["raw", "library"] : ["raw"]) {
  for (const mode of ["single", "bluegreen"]) {
    for (const linger of server === "raw" ? [0, 100] : [0]) configs.push({ server, mode, linger });
  }
}
configs.push({ server: "raw", mode: "single", linger: 0, closeFirst: true });

console.log(
  `Linux ${
    new TextDecoder().decode(kernel).trim()
  }, Deno ${Deno.version.deno}, ${reps} runs of 10 hand-overs each\n`,
);
console.log(
  "| server | hand-over | old listener | tcp_migrate_req | failed per run | failed / requests | refused / reset / eof | migrated (kernel) |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const { server, mode, linger, closeFirst } of configs) {
  for (const migrate of [0, 1]) {
    const runs: Record<string, number | Record<string, number>>[] = [];
    for (let i = 0; i < reps; i++) {
      const output = await inNetns(Deno.execPath(), [
        "run",
        "--no-config",
        "--unstable-net",
        "-A",
        rounds,
        "--loadgen",
        loadgen,
        `--mode=${mode}`,
        `--linger=${linger}`,
        `--server=${server === "raw" ? "reuseport_server.ts" : "reuseport_library_server.ts"}`,
        ...(closeFirst ? ["--close-first"] : []),
      ], { sysctls: { "net.ipv4.tcp_migrate_req": migrate }, timeoutMs: 120_000 });
      if (output.code !== 0) throw new Error(`A run failed: ${output.stderr}`);
      runs.push(JSON.parse(output.stdout.trim().split("\n").at(-1)!));
    }
    const sum = (key: string) => runs.reduce((n, r) => n + (r[key] as number), 0);
    const migrated = runs.reduce(
      (n, r) => n + (r.kernel as Record<string, number>)["TcpExt.TCPMigrateReqSuccess"],
      0,
    );
    console.log(
      `| ${server === "raw" ? "raw Deno" : "ThreadingTCPServer"} | ${
        mode === "single" ? "one process" : "blue/green"
      } | ${
        closeFirst
          ? "closed before the new one listens"
          : linger
          ? `open ${linger} ms after it stops accepting`
          : "closed at once"
      } | ${migrate} | ${runs.map((r) => r.failed).join(", ")} | ${sum("failed")} / ${
        sum("requests") + sum("failed")
      } | ${sum("refused")} / ${sum("reset")} / ${sum("eof")} | ${migrated} |`,
    );
  }
}
