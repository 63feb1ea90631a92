/**
 * examples/chat.ts: the room's logic — nicknames, commands, fan-out, slow
 * readers and their queues — is tested in memory (`bindInMemory()`: no
 * socket, no port); socat as a client and the program run on real sockets.
 */
import assert from "node:assert/strict";
import { BufferedReader } from "../../mod.ts";
import { bindInMemory } from "../../testing.ts";
import { ChatHandler, ChatServer } from "../../examples/chat.ts";
import { startExample, STOP_SIGNALS, stopExampleWith } from "../_examples.ts";
import { hasCommand } from "../_process.ts";
import { serveLoopback } from "../_servers.ts";
import { until } from "../_wait.ts";

const HAS_SOCAT = hasCommand("socat");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A serving `ChatServer` on a free loopback port, for socat. */
function serve(Handler = ChatHandler) {
  const server = serveLoopback(ChatServer, Handler);
  return Object.assign(server, { connect: () => Deno.connect(server.serverAddress) });
}

/** A serving `ChatServer` bound in memory, with `connect()` for its clients. */
function serveInMemory(Handler = ChatHandler) {
  const server = new ChatServer({ hostname: "127.0.0.1", port: 0 }, Handler, {
    bindAndActivate: false,
  });
  const network = bindInMemory(server);
  server.serverActivate();
  server.serveForever();
  return Object.assign(server, { connect: () => network.connect(server.serverAddress) });
}

/** A chat client reading lines from any byte stream: a socket, or socat's stdout. */
class Client {
  readonly reader: BufferedReader;
  #closed: Promise<void> | null = null;
  constructor(
    readonly input: { read(p: Uint8Array): Promise<number | null> },
    readonly output: { write(p: Uint8Array): Promise<number> },
    readonly onClose: () => void | Promise<void>,
  ) {
    this.reader = new BufferedReader(input, { timeout: 10_000 });
  }

  /** Closes the client once. */
  close(): Promise<void> {
    return this.#closed ??= Promise.resolve(this.onClose());
  }

  /** Connects and picks `nick`, once the server greets. */
  static async join(server: { connect(): Promise<Deno.Conn> }, nick: string): Promise<Client> {
    const conn = await server.connect();
    const client = new Client(conn, conn, () => conn.close());
    await client.pick(nick);
    return client;
  }

  /** Reads the greeting, sends `nick`, returns the server's hello line. */
  async pick(nick: string): Promise<string> {
    assert.match(await this.line(), /^\* Welcome!/);
    await this.send(nick);
    return await this.line();
  }

  async line(): Promise<string> {
    const line = await this.reader.readline();
    assert.ok(line.length > 0, "the server closed the connection");
    return decoder.decode(line).replace(/\n$/, "");
  }

  /** Reads lines until one equals `wanted`; returns the lines before it. */
  async until(wanted: string, max = 100_000): Promise<string[]> {
    const before: string[] = [];
    for (let i = 0; i < max; i++) {
      const line = await this.line();
      if (line === wanted) return before;
      before.push(line);
    }
    throw new Error(`"${wanted}" did not come within ${max} lines`);
  }

  async send(text: string): Promise<void> {
    const bytes = encoder.encode(text + "\n");
    for (let n = 0; n < bytes.length;) n += await this.output.write(bytes.subarray(n));
  }
}

/** socat as a chat client: its stdin and stdout are the client's. */
function socatClient(port: number) {
  const child = new Deno.Command("socat", {
    args: ["-", `TCP:127.0.0.1:${port}`],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const stdout = child.stdout.getReader();
  let rest = new Uint8Array();
  const input = {
    async read(p: Uint8Array) {
      if (rest.length === 0) {
        const { value, done } = await stdout.read();
        if (done) return null;
        rest = value;
      }
      const n = Math.min(p.length, rest.length);
      p.set(rest.subarray(0, n));
      rest = rest.subarray(n);
      return n;
    },
  };
  const output = { write: async (p: Uint8Array) => (await stdin.write(p), p.length) };
  const close = async () => {
    await stdin.close().catch(() => {});
    await stdout.cancel();
    await child.status;
  };
  return new Client(input, output, close);
}

Deno.test({
  name:
    "examples/chat.ts: Deno and socat clients see each other's lines in order, with join and leave notices",
  ignore: !HAS_SOCAT,
  async fn() {
    await using server = serve();
    const alice = await Client.join(server, "alice");
    const bob = await Client.join(server, "bob");
    const carol = socatClient(server.serverAddress.port);
    try {
      assert.equal(await alice.line(), "* bob joined");
      assert.equal(await carol.pick("carol"), "* Hello carol; here: alice, bob");
      assert.equal(await alice.line(), "* carol joined");
      assert.equal(await bob.line(), "* carol joined");

      // alice and bob talk at once; everyone sees each sender's lines in the order sent
      const lines = (who: string) => Array.from({ length: 200 }, (_, i) => `<${who}> ${who} ${i}`);
      const text = (who: string) => lines(who).map((l) => l.slice(who.length + 3)).join("\n");
      await Promise.all([alice.send(text("alice")), bob.send(text("bob"))]);
      const read = async (client: Client, n: number) => {
        const got: string[] = [];
        while (got.length < n) got.push(await client.line());
        return got;
      };
      assert.deepEqual(await read(bob, 200), lines("alice"));
      assert.deepEqual(await read(alice, 200), lines("bob"));
      const seenByCarol = await read(carol, 400);
      assert.deepEqual(seenByCarol.filter((l) => l.startsWith("<alice>")), lines("alice"));
      assert.deepEqual(seenByCarol.filter((l) => l.startsWith("<bob>")), lines("bob"));
      await carol.send("hello from socat");
      assert.equal(await alice.line(), "<carol> hello from socat");
      assert.equal(await bob.line(), "<carol> hello from socat");

      await carol.send("/quit");
      assert.equal(await alice.line(), "* carol left (quit)");
      assert.equal(await bob.line(), "* carol left (quit)");
      await bob.close();
      assert.equal(await alice.line(), "* bob left (disconnected)");
      await alice.send("/who");
      assert.equal(await alice.line(), "* Here: alice");
    } finally {
      await Promise.all([alice.close(), bob.close(), carol.close()]);
    }
  },
});

Deno.test("examples/chat.ts: a client that never reads stalls nobody and is dropped when its queue overflows", async () => {
  await using server = serveInMemory();
  const alice = await Client.join(server, "alice");
  const bob = await Client.join(server, "bob");
  const mallory = await server.connect(); // joins, then never reads again
  try {
    await mallory.write(encoder.encode("mallory\n"));
    assert.equal(await alice.line(), "* bob joined");
    assert.equal(await alice.line(), "* mallory joined");
    assert.equal(await bob.line(), "* mallory joined");

    // 10 MB in 100 kB rounds, each one read by bob before the next: far more than the
    // connection's buffers between the server and mallory plus mallory's queue can hold
    const notice = "* mallory left (too slow: send queue full)";
    const text = (i: number) => `${i} `.padEnd(1000, "x");
    let dropped = false;
    for (let i = 0; i < 10_000; i += 100) {
      const batch = Array.from({ length: 100 }, (_, j) => text(i + j));
      await alice.send(batch.join("\n"));
      const seen = await bob.until(`<alice> ${batch.at(-1)}`, 102);
      const lines = seen.filter((line) => line !== notice);
      dropped ||= lines.length < seen.length;
      const expected = batch.slice(0, -1).map((t) => `<alice> ${t}`);
      assert.ok(lines.every((line, j) => line === expected[j]), `lines ${i}.. arrive in order`);
      assert.equal(lines.length, expected.length);
    }
    assert.ok(dropped, "bob was told that mallory was dropped");
    assert.equal(await alice.line(), notice);
    assert.deepEqual([...server.members.keys()], ["alice", "bob"]);
  } finally {
    mallory.close();
    await Promise.all([alice.close(), bob.close()]);
  }
});

Deno.test("examples/chat.ts: a client that stops reading, then quits or half-closes, is let go after drainTimeout", async () => {
  class Patient extends ChatHandler {
    override maxQueuedBytes = 64 * 1024 * 1024; // never hung up for being slow
    override drainTimeout = 200;
  }
  await using server = serveInMemory(Patient);
  const alice = await Client.join(server, "alice");
  try {
    for (const [leave, reason] of [["/quit", "quit"], ["half-close", "disconnected"]]) {
      const mallory = await server.connect(); // picks a nick, never reads
      try {
        await mallory.write(encoder.encode("mallory\n"));
        assert.equal(await alice.line(), "* mallory joined");
        // 8 MB for mallory: more than the connection's buffers hold, so its queue's write blocks
        const line = "x".repeat(999);
        for (let i = 0; i < 8; i++) await alice.send(Array(1000).fill(line).join("\n"));
        await alice.send("/who"); // answered once the server has read all of the above
        assert.equal(await alice.line(), "* Here: alice, mallory");

        if (leave === "/quit") await mallory.write(encoder.encode("/quit\n"));
        else await mallory.closeWrite();
        assert.equal(await alice.line(), `* mallory left (${reason})`);
        await until(() => server.clients.size === 1, "mallory's handler to finish", 5_000);
      } finally {
        mallory.close();
      }
    }
  } finally {
    await alice.close();
  }
});

Deno.test("examples/chat.ts: nicknames are checked, /nick renames, /who lists, an over-long line disconnects", async () => {
  await using server = serveInMemory();
  const alice = await Client.join(server, "alice");
  const conn = await server.connect();
  const other = new Client(conn, conn, () => conn.close());
  try {
    assert.match(await other.line(), /^\* Welcome!/);
    await other.send("bad nick!");
    assert.equal(await other.line(), "* Nicknames are 1-24 letters, digits, _ . or -");
    await other.send("alice");
    assert.equal(await other.line(), '* "alice" is taken; try another');
    await other.send("zoë");
    assert.equal(await other.line(), "* Hello zoë; here: alice");
    assert.equal(await alice.line(), "* zoë joined");
    await other.send("/nick zed");
    assert.equal(await alice.line(), "* zoë is now zed");
    assert.equal(await other.line(), "* zoë is now zed");
    await other.send("/who");
    assert.equal(await other.line(), "* Here: alice, zed");
    await other.send("\x1b[31mred\x1b[0m");
    assert.equal(await alice.line(), "<zed> [31mred[0m", "control characters are stripped");
    await other.send("x".repeat(5000));
    assert.equal(await other.line(), "* Lines are at most 4096 bytes; bye");
    assert.equal(await alice.line(), "* zed left (line too long)");
  } finally {
    await Promise.all([other.close(), alice.close()]);
  }
});

Deno.test({
  name:
    "examples/chat.ts as a program: prints its port, greets a socat client, stops on SIGINT and on SIGTERM",
  ignore: !HAS_SOCAT,
  async fn() {
    for (const signal of STOP_SIGNALS) {
      await using example = await startExample("chat");
      const client = socatClient(Number(example.match[2]));
      try {
        assert.equal(await client.pick("solo"), "* Hello solo; here: nobody else yet");
        const stopped = stopExampleWith(example, "Chat server", signal);
        assert.equal(await client.line(), "* The server is shutting down");
        assert.equal((await client.reader.readline()).length, 0, "then the connection closes");
        await stopped;
      } finally {
        await client.close();
      }
    }
  },
});
