/**
 * Shared pieces of the transport tests: CPython's echo handlers, its client
 * script, Deno clients doing the same three rounds, temp dirs, subprocesses.
 *
 * @module
 */

import {
  DatagramRequestHandler,
  type DatagramServer,
  StreamRequestHandler,
  type StreamServer,
} from "../mod.ts";
import { decoder, encoder, has, type Output, run, within } from "./_helpers.ts";

/** CPython test_socketserver's TEST_STR. */
export const TEST_STR = "hello world\n";

export { decoder, encoder, within };

export const CERT_PATH: string = new URL("./tls/localhost.crt", import.meta.url).pathname;
export const KEY_PATH: string = new URL("./tls/localhost.key", import.meta.url).pathname;
export const cert: string = Deno.readTextFileSync(CERT_PATH);
export const key: string = Deno.readTextFileSync(KEY_PATH);

const PYTHON_CLIENT = new URL("./python_client.py", import.meta.url).pathname;

/** Whether python3 is installed: the CPython-client tests skip without it. */
export const HAS_PYTHON: boolean = has("python3");
/** The message an ignored CPython test shows. */
export const NO_PYTHON = "(skipped: python3 is not installed)";

/** CPython test_socketserver's stream handler: echo one line. */
export class EchoLine extends StreamRequestHandler<StreamServer> {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.readline());
  }
}

/** CPython test_socketserver's datagram handler: echo one line. */
export class EchoDatagram extends DatagramRequestHandler<DatagramServer> {
  override async handle(): Promise<void> {
    await this.wfile.write(await this.rfile.readline());
  }
}

/** Reads from `conn` up to and including the first newline, or to EOF. */
export async function readLine(conn: Deno.Conn, limit = 1 << 16): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buf = new Uint8Array(1024);
  while (size < limit) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
    size += n;
    if (buf.subarray(0, n).includes(10)) break;
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) all.set(c, at), at += c.length;
  return decoder.decode(all);
}

/** CPython's stream_examine three times, with a Deno client: the replies. */
export async function streamRounds(connect: () => Promise<Deno.Conn>): Promise<string[]> {
  const replies: string[] = [];
  for (let round = 0; round < 3; round++) {
    const conn = await within(connect(), 10_000, "connect");
    try {
      await within(conn.write(encoder.encode(TEST_STR)), 10_000, "stream write");
      replies.push(await within(readLine(conn), 10_000, "stream reply"));
    } finally {
      conn.close();
    }
  }
  return replies;
}

/** CPython's dgram_examine three times, with a Deno client: the replies. */
export async function datagramRounds(
  client: Deno.DatagramConn,
  server: Deno.Addr,
): Promise<string[]> {
  const replies: string[] = [];
  for (let round = 0; round < 3; round++) {
    await client.send(encoder.encode(TEST_STR), server);
    const [reply] = await within(client.receive(), 10_000, "datagram reply");
    replies.push(decoder.decode(reply));
  }
  return replies;
}

/** Runs tests/python_client.py (CPython's clients) with `args`. */
export function pythonClient(...args: string[]): Promise<Output> {
  return run("python3", [PYTHON_CLIENT, ...args]);
}

const BIND = new URL("./fixtures/bind.ts", import.meta.url).pathname;

/** Runs tests/fixtures/bind.ts — construct one server, report — in a Deno
 * subprocess with exactly `flags` (and no deno.json, so not even
 * `--unstable-net` unless given). */
export async function bindInSubprocess(
  flags: string[],
  kind: string,
  address: string,
): Promise<{ ok: boolean; name?: string; message?: string }> {
  const ran = await run("deno", [
    "run",
    "--no-config",
    "--no-prompt",
    ...flags,
    BIND,
    kind,
    address,
  ]);
  const last = ran.stdout.trim().split("\n").at(-1) ?? "";
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`bind.ts printed no result (exit ${ran.code}):\n${ran.stdout}\n${ran.stderr}`);
  }
}

/** Runs `fn` with a fresh directory under /tmp, removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "socketserver-test-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
