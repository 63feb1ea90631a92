/**
 * ThreadingTCPServer at scale: many connections held open at once, and the
 * heap over a million requests.
 *
 *     deno run -A bench/threading_scale.ts hold [connections=5000]
 *     deno run -A bench/threading_scale.ts heap [requests=1000000]
 *
 * hold: a client process opens `connections` connections (250 connecting at
 * a time) and sends one line on each; every handler waits until all of them
 * are in flight at once, then answers its own line upper-cased; the client
 * checks every answer. Needs 2 file descriptors per connection (client and
 * server run in two processes, so one each): `ulimit -n` is checked first.
 *
 * heap: /tmp/echo-load (-m connect: a new connection per request) against a
 * ThreadingTCPServer in this process, run with --v8-flags=--expose-gc (the
 * bench re-runs itself with it); after 10,000 requests and every 100,000
 * it collects garbage and records Deno.memoryUsage().heapUsed, and stops at
 * `requests`. Prints the ratio of the last heap to the one at 10,000.
 *
 * @module
 */
import { StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";

const LOAD = "/tmp/echo-load";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MB = (bytes: number) => +(bytes / 1e6).toFixed(2);

async function fileLimit(): Promise<number> {
  const out = await new Deno.Command("sh", { args: ["-c", "ulimit -n"] }).output();
  return Number(decoder.decode(out.stdout).trim());
}

async function hold(connections: number): Promise<void> {
  const limit = await fileLimit();
  if (limit < connections + 200) {
    throw new Error(
      `ulimit -n is ${limit}, ${connections} connections need ${
        connections + 200
      }: run "ulimit -n ${connections + 200}" first`,
    );
  }
  let inFlight = 0;
  let peak = 0;
  const all = Promise.withResolvers<void>();
  class Barrier extends StreamRequestHandler {
    override async handle() {
      const line = await this.rfile.readline();
      peak = Math.max(peak, ++inFlight);
      if (inFlight === connections) all.resolve();
      await all.promise;
      await this.wfile.write(decoder.decode(line).toUpperCase());
      inFlight--;
    }
  }
  await using server = new ThreadingTCPServer({ hostname: "127.0.0.1", port: 0 }, Barrier, {
    requestQueueSize: 4096,
  });
  server.serveForever();
  const t0 = performance.now();
  const client = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename!,
      "client",
      String(server.serverAddress.port),
      String(connections),
    ],
    stderr: "inherit",
  }).output();
  const report = JSON.parse(decoder.decode(client.stdout));
  const memory = Deno.memoryUsage();
  console.log(JSON.stringify({
    bench: "hold",
    limitNoFile: limit,
    connections,
    peakInFlight: peak,
    ...report,
    totalMs: Math.round(performance.now() - t0),
    serverRssMB: MB(memory.rss),
    serverHeapMB: MB(memory.heapUsed),
  }));
}

/** The client side of `hold`, in its own process. */
async function client(port: number, connections: number): Promise<void> {
  const t0 = performance.now();
  const conns: Deno.TcpConn[] = [];
  for (let start = 0; start < connections; start += 250) {
    const batch = Array.from(
      { length: Math.min(250, connections - start) },
      async (_, j) => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(encoder.encode(`hello ${start + j}\n`));
        return conn;
      },
    );
    conns.push(...await Promise.all(batch));
  }
  const connectedMs = Math.round(performance.now() - t0);
  let correct = 0;
  await Promise.all(conns.map(async (conn, i) => {
    const reply = await new Response(conn.readable).text();
    if (reply === `HELLO ${i}\n`) correct++;
  }));
  console.log(JSON.stringify({
    connectedMs,
    answeredMs: Math.round(performance.now() - t0),
    correct,
  }));
}

async function heap(requests: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    // Re-run with the flag that exposes gc().
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        import.meta.filename!,
        "heap",
        String(requests),
      ],
    }).spawn().status;
    Deno.exit(code);
  }
  const collect: () => void = gc;
  let served = 0;
  const marks: { requests: number; heapMB: number; rssMB: number }[] = [];
  const done = Promise.withResolvers<void>();
  const t0 = performance.now();
  class Echo extends StreamRequestHandler {
    override async handle() {
      const line = await this.rfile.readline();
      await this.wfile.write(line);
      served++;
      if (served === 10_000 || served % 100_000 === 0 || served === requests) {
        collect();
        collect();
        const memory = Deno.memoryUsage();
        marks.push({ requests: served, heapMB: MB(memory.heapUsed), rssMB: MB(memory.rss) });
        console.log(
          JSON.stringify({ ...marks.at(-1), seconds: Math.round((performance.now() - t0) / 1000) }),
        );
      }
      if (served >= requests) done.resolve();
    }
  }
  class Quiet extends ThreadingTCPServer {
    // echo-load resets the connections in flight when it is stopped
    override handleError() {}
  }
  await using server = new Quiet({ hostname: "127.0.0.1", port: 0 }, Echo);
  server.serveForever();
  const load = new Deno.Command(LOAD, {
    args: ["-p", String(server.serverAddress.port), "-m", "connect", "-c", "32", "-d", "3600"],
    stdout: "null",
  }).spawn();
  await done.promise;
  load.kill("SIGTERM");
  await load.status;
  const first = marks[0].heapMB;
  const last = marks.at(-1)!;
  console.log(JSON.stringify({
    bench: "heap",
    requests: last.requests,
    seconds: Math.round((performance.now() - t0) / 1000),
    heapAt10kMB: first,
    heapAtEndMB: last.heapMB,
    ratio: +(last.heapMB / first).toFixed(3),
    rssAtEndMB: last.rssMB,
  }));
}

if (import.meta.main) {
  const [command = "hold", count] = Deno.args;
  if (command === "hold") await hold(Number(count ?? 5000));
  else if (command === "client") await client(Number(Deno.args[1]), Number(Deno.args[2]));
  else if (command === "heap") await heap(Number(count ?? 1_000_000));
  else throw new Error(`Unknown command "${command}": use hold or heap`);
}
