/**
 * The server's own CPU per connection with and without `proxyProtocol`, on
 * loopback without a balancer: a `ThreadingTCPServer` echoing one 64-byte
 * read per connection, 20 clients at a time, each sending a version 1 or 2
 * header (or none) and the payload in one write. Modes alternate in fresh
 * server processes; the server measures its own CPU (`process.cpuUsage()`)
 * over the connections, after a warm-up.
 *
 *     deno run -A --unstable-net bench/proxy_cpu.ts [rounds=4] [connections=4000]
 *
 * @module
 */
import process from "node:process";
import { StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";

type Mode = "off" | "v1" | "v2";
const encoder = new TextEncoder();
const PAYLOAD = new Uint8Array(64).fill(0x61);
const V1 = encoder.encode("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n");
const V2 = Uint8Array.from([
  ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
  ...[0x21, 0x11, 0, 12, 192, 0, 2, 7, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb],
]);

class Echo extends StreamRequestHandler {
  override async handle() {
    const bytes = await this.rfile.read1(64);
    if (bytes.length > 0) await this.wfile.write(bytes);
  }
}

async function serve(mode: Mode): Promise<void> {
  const server = new ThreadingTCPServer(
    ["127.0.0.1", 0],
    Echo,
    mode === "off" ? {} : { proxyProtocol: mode, trustedProxies: ["127.0.0.1"] },
  );
  const serving = server.serveForever();
  console.log(server.serverAddress.port);
  let start = process.cpuUsage();
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  for await (const chunk of lines) {
    if (chunk.includes("start")) start = process.cpuUsage();
    if (chunk.includes("stop")) {
      const used = process.cpuUsage(start);
      console.log(used.user + used.system);
      break;
    }
  }
  await server.shutdown();
  await serving;
  await server.serverClose({ graceMs: 0, lingerMs: 0 });
}

async function load(port: number, mode: Mode, count: number): Promise<void> {
  const first = mode === "v1" ? V1 : mode === "v2" ? V2 : new Uint8Array(0);
  const message = new Uint8Array([...first, ...PAYLOAD]);
  let left = count;
  const buffer = new Uint8Array(128);
  const client = async () => {
    while (left-- > 0) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(message);
      let got = 0;
      while (got < 64) {
        const n = await conn.read(buffer);
        if (n === null) break;
        got += n;
      }
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: 20 }, client));
}

async function round(mode: Mode, count: number): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-net", import.meta.filename!, "--serve", mode],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const line = async () => {
    while (!text.includes("\n")) text += (await lines.read()).value ?? "";
    const at = text.indexOf("\n");
    const got = text.slice(0, at);
    text = text.slice(at + 1);
    return got;
  };
  const port = Number(await line());
  const stdin = child.stdin.getWriter();
  await load(port, mode, 500); // warm-up
  await stdin.write(encoder.encode("start\n"));
  await load(port, mode, count);
  await stdin.write(encoder.encode("stop\n"));
  const micros = Number(await line());
  await stdin.close();
  await lines.cancel();
  await child.status;
  return micros / count;
}

if (Deno.args[0] === "--serve") {
  await serve(Deno.args[1] as Mode);
} else {
  const rounds = Number(Deno.args[0] ?? 4);
  const count = Number(Deno.args[1] ?? 4000);
  const results: Record<Mode, number[]> = { off: [], v1: [], v2: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of ["off", "v1", "v2"] as const) results[mode].push(await round(mode, count));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const mode of ["off", "v1", "v2"] as const) {
    const xs = results[mode];
    console.log(
      `${mode}: median ${median(xs).toFixed(1)} µs/connection, fastest ${
        Math.min(...xs).toFixed(1)
      } (${xs.map((x) => x.toFixed(1)).join(", ")})`,
    );
  }
}
