/**
 * What observing costs a real server (issue 19), in user-space instructions
 * per request under callgrind — a count the shared machine's noise does not
 * move, unlike CPU time. The same configurations as bench/otel_server.ts:
 * `base` (`--base DIR`: another tree's library, e.g. before `stats()`'s
 * counters), `plain`, `off` (through `instrument()`, `OTEL_DENO` unset) and
 * `on` (exporting to a receiver in this process; the exporter's thread
 * counts too) and `metrics` (`instrument(server, { spans: false })`, on).
 *
 *     deno run -A bench/otel_instructions.ts [--base DIR] [--only line,oneshot,udp]
 *       [--configs base,plain,off,on,metrics] [--repeat N] [--warmup N] [requests]
 *
 * Each server runs under `valgrind --tool=callgrind`, which makes it slow
 * enough that a load generator's deadlines would count lost requests: this
 * script is its own client, one request at a time, with generous timeouts.
 * After `--warmup` requests (default 5000: the request path is optimized by
 * then) the server's counters are zeroed, `requests` more (default 2000) are
 * made, and the instructions counted are divided by them. Needs valgrind (`apt-get install valgrind`).
 *
 * @module
 */
import { OtlpReceiver } from "../tests/_otlp_receiver.ts";
import { option, positionals } from "./_args.ts";
import { type Config, serverFor } from "./_otel_configs.ts";

const LINE = new TextEncoder().encode("x".repeat(63) + "\n");

/** Makes `n` requests, one at a time. */
type Client = (port: number, n: number) => Promise<void>;

async function readExactly(conn: Deno.Conn, n: number): Promise<void> {
  const buffer = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const read = await conn.read(buffer.subarray(got));
    if (read === null) throw new Error("The server closed the connection");
    got += read;
  }
}

/** 64-byte lines echoed on one connection. */
const lines: Client = async (port, n) => {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    for (let i = 0; i < n; i++) {
      await conn.write(LINE);
      await readExactly(conn, LINE.length);
    }
  } finally {
    conn.close();
  }
};

/** A connection per request: a line, the upper-cased reply, the server's close. */
const oneshots: Client = async (port, n) => {
  for (let i = 0; i < n; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(LINE);
    await new Response(conn.readable).arrayBuffer();
  }
};

/** 64-byte datagrams echoed. */
const datagrams: Client = async (port, n) => {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    for (let i = 0; i < n; i++) {
      await socket.send(LINE, { transport: "udp", hostname: "127.0.0.1", port });
      await socket.receive();
    }
  } finally {
    socket.close();
  }
};

interface Workload {
  id: string;
  mode: string;
  client: Client;
}
const WORKLOADS: Workload[] = [
  { id: "line", mode: "threading-line", client: lines },
  { id: "oneshot", mode: "threading-oneshot", client: oneshots },
  { id: "udp", mode: "udp", client: datagrams },
];

const base = option("--base");
const only = option("--only")?.split(",");
const positional = positionals();
const requests = Number(positional[0] ?? 2000);
const warmup = Number(option("--warmup") ?? 5000);
const CONFIGS = (option("--configs")?.split(",") as Config[] | undefined) ??
  (base === undefined
    ? ["plain", "off", "on", "metrics"]
    : ["base", "plain", "off", "on", "metrics"]);
const repeat = Number(option("--repeat") ?? 1);

async function command(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Instructions per request of one configuration's server. */
async function measure(config: Config, w: Workload, receiver: OtlpReceiver): Promise<number> {
  const { script, mode, env } = serverFor(config, w.mode, receiver, base);
  const out = `/tmp/callgrind-otel-${Deno.pid}-${config}-${w.id}`;
  const server = new Deno.Command("valgrind", {
    args: [
      "--tool=callgrind",
      `--callgrind-out-file=${out}.%p`,
      Deno.execPath(),
      ...["run", "--quiet", "--unstable-net", "-A", script, mode],
    ],
    env,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const ready = Promise.withResolvers<{ port: number }>();
  const reading = (async () => {
    let pending = "";
    for await (const chunk of server.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const at = pending.indexOf("READY ");
      const end = at === -1 ? -1 : pending.indexOf("\n", at);
      if (end !== -1) ready.resolve(JSON.parse(pending.slice(at + 6, end)));
    }
  })();
  try {
    const { port } = await ready.promise;
    await w.client(port, warmup); // warm: the JIT has compiled the request path
    await command("callgrind_control", ["-z", String(server.pid)]);
    await w.client(port, requests);
    await command("callgrind_control", ["-d", String(server.pid)]);
    // the dump after the zeroing holds the measured requests only
    const text = await Deno.readTextFile(`${out}.${server.pid}.1`);
    const total = Number((/^totals: *(\d+)/m.exec(text) ?? /^summary: *(\d+)/m.exec(text))?.[1]);
    return total / requests;
  } finally {
    server.kill("SIGKILL");
    await server.status;
    await reading.catch(() => {});
    for await (const entry of Deno.readDir("/tmp")) {
      if (`/tmp/${entry.name}`.startsWith(out)) await Deno.remove(`/tmp/${entry.name}`);
    }
  }
}

if (import.meta.main) {
  await using receiver = await OtlpReceiver.start();
  receiver.onReceive = () => {
    receiver.spans.length = 0;
    receiver.points.length = 0;
    receiver.logs.length = 0;
  };
  for (const w of WORKLOADS.filter((w) => only === undefined || only.includes(w.id))) {
    console.log(`\n${w.id} (${w.mode}): instructions per request, callgrind, warm, ${requests}`);
    const results = new Map<Config, number[]>();
    for (let round = 0; round < repeat; round++) {
      for (const config of CONFIGS) {
        results.set(config, [...results.get(config) ?? [], await measure(config, w, receiver)]);
      }
    }
    const plain = results.get("plain")?.[0] ?? NaN;
    for (const [config, counts] of results) {
      console.log(
        `  ${config.padEnd(5)} ${counts.map(Math.round).join(", ")} (first ÷ plain's first ${
          (counts[0] / plain).toFixed(3)
        })`,
      );
    }
  }
}
