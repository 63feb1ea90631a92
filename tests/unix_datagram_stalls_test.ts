/**
 * Unix datagram clients that never read their replies: a reply stuck on a
 * full receive queue (which Deno cannot cancel) holds up no reply to
 * another client — replies go out through a pool of reply sockets, one send
 * each — and such clients cost at most 16 descriptors (reply sockets, stuck
 * or not) beside the server's own socket, however many they are. The
 * non-reading clients are CPython's, their queues filled before they ask.
 */
import assert from "node:assert/strict";
import {
  type DatagramRequest,
  DatagramRequestHandler,
  ThreadingUnixDatagramServer,
} from "../mod.ts";
import { countOpenDescriptors } from "./_kernel.ts";
import { hasCommand } from "./_process.ts";
import { until, within } from "./_wait.ts";

/** CPython clients (argv: count, directory, server path) whose receive
 * queues a filler socket fills until the kernel refuses more; then each
 * sends one request, so that its reply is stuck for sure. Prints "sent",
 * waits for stdin to close, then closes them (which ends the stuck sends). */
const MUTE_CLIENTS = `
import os, socket, sys
count, directory, server = int(sys.argv[1]), sys.argv[2], sys.argv[3]
filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
filler.setblocking(False)
clients = []
for i in range(count):
    path = os.path.join(directory, f"mute{i}.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    try:
        while True:
            filler.sendto(b"filler", path)
    except BlockingIOError:
        pass
    clients.append(s)
for s in clients:
    s.sendto(b"request\\n", server)
print("sent", flush=True)
sys.stdin.read()
for s in clients:
    s.close()
`;

class Echo extends DatagramRequestHandler<Server> {
  override handle() {
    this.server.handled++;
    return this.wfile.write(this.packet).then(() => {});
  }
}

class Server extends ThreadingUnixDatagramServer {
  handled = 0;
  drops: unknown[] = [];
  errors: unknown[] = [];
  override handleDrop(_request: DatagramRequest, _address: Deno.UnixAddr, error: unknown) {
    this.drops.push(error);
  }
  override handleError(_request: DatagramRequest, _address: Deno.UnixAddr, error: unknown) {
    this.errors.push(error);
  }
}

function muteClients(count: number, dir: string, server: string) {
  const python = new Deno.Command("python3", {
    args: ["-u", "-c", MUTE_CLIENTS, String(count), dir, server],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = python.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stderr = new Response(python.stderr).text();
  let closing: Promise<void> | null = null;
  return {
    async sent(): Promise<void> {
      const { value } = await within(lines.read(), 20_000, "the mute clients' requests");
      if (value?.trim() !== "sent") assert.fail(`the mute clients failed: ${await stderr}`);
    },
    close(): Promise<void> {
      return closing ??= (async () => {
        await python.stdin.close();
        await lines.cancel();
        const { code } = await python.status;
        if (code !== 0) assert.fail(`the mute clients failed: ${await stderr}`);
      })();
    },
  };
}

async function ask(client: Deno.DatagramConn, server: Deno.Addr, text: string): Promise<string> {
  await client.send(new TextEncoder().encode(text), server);
  const [reply] = await within(client.receive(), 10_000, `the reply to ${JSON.stringify(text)}`);
  return new TextDecoder().decode(reply);
}

Deno.test("ThreadingUnixDatagramServer: replies stuck on 3 clients that never read (replyTimeout 60 s) do not hold up the reply to a client that reads", async () => {
  if (!hasCommand("python3")) return;
  const dir = await Deno.makeTempDir();
  const path = `${dir}/server.sock`;
  const server = new Server({ path }, Echo, { replyTimeout: 60_000 });
  const serving = server.serveForever();
  const mute = muteClients(3, dir, path);
  const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
  try {
    await mute.sent();
    await until(() => server.handled === 3, "the three requests handled", 10_000);
    // their replies are now stuck, for up to a minute each
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await ask(client, server.serverAddress, "hello\n"), "hello\n");
    assert.equal(await ask(client, server.serverAddress, "again\n"), "again\n");
  } finally {
    client.close();
    await mute.close(); // ends the stuck sends (ConnectionRefused)
    await server.shutdown();
    await serving;
    await server.serverClose({ graceMs: 10_000 });
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(server.errors, []);
});

Deno.test("ThreadingUnixDatagramServer: 40 clients that never read cost it at most 16 descriptors, their replies are drops, so is a reading client's while they stay, and it is served once they go", async () => {
  if (!hasCommand("python3")) return;
  const dir = await Deno.makeTempDir();
  const path = `${dir}/server.sock`;
  const server = new Server({ path }, Echo, { replyTimeout: 200 });
  const serving = server.serveForever();
  const client = Deno.listenDatagram({ transport: "unixpacket", path: `${dir}/client.sock` });
  assert.equal(await ask(client, server.serverAddress, "warm up\n"), "warm up\n");
  const baseline = await countOpenDescriptors();
  const mute = muteClients(40, dir, path);
  try {
    await mute.sent();
    // every one of their replies is dropped: stuck past replyTimeout, or
    // waiting past it for a reply socket while 16 are stuck
    await until(() => server.drops.length >= 40, "40 drops", 20_000);
    assert.ok(server.drops.every((error) => error instanceof Deno.errors.TimedOut));
    const held = (await countOpenDescriptors()) - baseline;
    assert.ok(held <= 16, `the clients that do not read hold ${held} descriptors`);
    // with 16 reply sockets stuck, a reading client's reply is lost too (what docs/datagrams.md says)
    const before = server.drops.length;
    await client.send(new TextEncoder().encode("during\n"), server.serverAddress);
    await until(() => server.drops.length > before, "the reading client's reply to be dropped");
    assert.ok(server.drops.at(-1) instanceof Deno.errors.TimedOut);
    await mute.close();
    // the first datagram the reading client gets is this one: "during" never came
    assert.equal(await ask(client, server.serverAddress, "hello\n"), "hello\n");
  } finally {
    client.close();
    await mute.close();
    await server.shutdown();
    await serving;
    await server.serverClose({ graceMs: 10_000 });
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(server.errors, []);
});
