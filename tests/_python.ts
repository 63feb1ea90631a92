/**
 * CPython as the reference peer: test_socketserver's handlers and its
 * three-round client checks, and tests/python_client.py (CPython's clients).
 *
 * @module
 */
import {
  DatagramRequestHandler,
  type DatagramServer,
  StreamRequestHandler,
  type StreamServer,
} from "../mod.ts";
import { decoder, encoder, readThroughNewline } from "./_net.ts";
import { hasCommand, runCommand, type RunOutput } from "./_process.ts";
import { within } from "./_wait.ts";

/** CPython test_socketserver's TEST_STR. */
export const TEST_STR = "hello world\n";

const PYTHON_CLIENT = new URL("./python_client.py", import.meta.url).pathname;

/** Whether python3 is installed: the CPython-client tests skip without it. */
export const HAS_PYTHON: boolean = hasCommand("python3");
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

/** CPython's stream_examine three times, with a Deno client: the replies. */
export async function streamRounds(connect: () => Promise<Deno.Conn>): Promise<string[]> {
  const replies: string[] = [];
  for (let round = 0; round < 3; round++) {
    const conn = await within(connect(), 10_000, "connect");
    try {
      await within(conn.write(encoder.encode(TEST_STR)), 10_000, "stream write");
      replies.push(await within(readThroughNewline(conn), 10_000, "stream reply"));
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
export function pythonClient(...args: string[]): Promise<RunOutput> {
  return runCommand("python3", [PYTHON_CLIENT, ...args]);
}
