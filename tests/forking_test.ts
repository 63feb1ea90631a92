/**
 * ForkingTCPServer end to end: a real program (tests/fixtures/forking_app.ts)
 * whose children run it again, driven through its stdin and observed through
 * the JSON events it prints; clients are real TCP connections.
 */
import assert from "node:assert/strict";
import {
  BaseRequestHandler,
  ForkingMixIn,
  ForkingTCPServer,
  isForkingChild,
  StreamRequestHandler,
  UDPServer,
  UnixDatagramServer,
  UnixStreamServer,
} from "../mod.ts";
import { processExists } from "./_kernel.ts";
import { ask, readLineWithin } from "./_net.ts";
import { Fixture, type FixtureEvent } from "./_process.ts";

const APP = new URL("./fixtures/forking_app.ts", import.meta.url).pathname;
const encoder = new TextEncoder();

function app(
  args: string[] = ["2"],
  options: { flags?: string[]; env?: Record<string, string> } = {},
): Fixture {
  const flags = options.flags ?? ["--allow-net=127.0.0.1", "--allow-run=deno"];
  return new Fixture(["run", ...flags, APP, ...args], { env: options.env });
}

/** Waits for the port and `n` children listening; returns both. */
async function serving(fixture: Fixture, n = 2): Promise<{ port: number; pids: number[] }> {
  const { port } = await fixture.next((e) => e.event === "listening");
  const pids: number[] = [];
  while (pids.length < n) {
    const event = await fixture.next((e) => e.event === "started" && !pids.includes(e.pid));
    pids.push(event.pid);
  }
  return { port, pids };
}

/** Closes the server, checks no child is left — not even a zombie — while
 * the parent still runs, then lets the parent exit. */
async function closeAndCheck(
  fixture: Fixture,
  everyPid: number[],
  command = "close",
): Promise<FixtureEvent> {
  fixture.send(command);
  const closed = await fixture.next((e) => e.event === "closed");
  assert.deepEqual(closed.active, []);
  for (const pid of everyPid) {
    assert.equal(await processExists(pid), false, `child ${pid} is still running (or a zombie)`);
  }
  await fixture.send("exit");
  const status = await fixture.exited();
  assert.equal(status.code, 0, fixture.output.join(""));
  return closed;
}

Deno.test("ForkingTCPServer spreads connections over its children, never the parent", async () => {
  await using fixture = app();
  const { port, pids } = await serving(fixture);
  assert.equal(pids.length, 2);
  assert.ok(!pids.includes(fixture.process.pid));
  const seen = new Set<number>();
  for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(Number(await ask(port, "pid")));
  assert.deepEqual([...seen].sort(), [...pids].sort());
  // What the children print reaches the parent's stdout; the line each
  // sends to say it listens does not.
  for (const pid of pids) await fixture.next((e) => e.event === "child" && e.pid === pid);
  assert.doesNotMatch(fixture.output.join(""), /SOCKETSERVER/);
  await closeAndCheck(fixture, pids);
});

Deno.test({
  name:
    "ForkingTCPServer: a child killed with SIGKILL mid-run is reported and replaced; the service keeps answering",
  fn: async () => {
    await using fixture = app();
    const { port, pids } = await serving(fixture);
    const [victim, survivor] = pids;
    const kill = await new Deno.Command("kill", { args: ["-KILL", String(victim)] }).output();
    assert.equal(kill.code, 0);
    const died = await fixture.next((e) => e.event === "died" && e.pid === victim);
    assert.equal(died.signal, "SIGKILL");
    assert.equal(died.listening, true);
    assert.equal(died.replacementInMs, 0);
    // While (and after) the replacement starts, every request is answered.
    for (let i = 0; i < 20; i++) {
      const pid = Number(await ask(port, "pid"));
      assert.notEqual(pid, victim);
    }
    const replacement = await fixture.next((e) => e.event === "started" && !pids.includes(e.pid));
    const seen = new Set<number>();
    for (let i = 0; i < 200 && seen.size < 2; i++) seen.add(Number(await ask(port, "pid")));
    assert.deepEqual([...seen].sort(), [survivor, replacement.pid].sort());
    await closeAndCheck(fixture, [...pids, replacement.pid]);
  },
});

Deno.test("ForkingTCPServer: a child that calls Deno.exit() or throws an uncaught error mid-request is replaced", async () => {
  await using fixture = app();
  const { port, pids } = await serving(fixture);
  const everyPid = [...pids];

  // Deno.exit(3) in the middle of a request: that client sees EOF.
  assert.equal(await ask(port, "exit"), null);
  const exited = await fixture.next((e) => e.event === "died" && e.code === 3);
  assert.equal(exited.signal, null);
  const first = await fixture.next((e) => e.event === "started" && !everyPid.includes(e.pid));
  everyPid.push(first.pid);

  // An uncaught error (thrown from a timer, out of the handler's reach).
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("throw\n"));
  assert.equal(await readLineWithin(conn), null);
  conn.close();
  const threw = await fixture.next((e) => e.event === "died" && e.code === 1);
  assert.ok(everyPid.includes(threw.pid));
  const second = await fixture.next((e) => e.event === "started" && !everyPid.includes(e.pid));
  everyPid.push(second.pid);

  assert.match((await ask(port, "pid"))!, /^\d+$/);
  await closeAndCheck(fixture, everyPid);
});

Deno.test("ForkingTCPServer: a child that runs out of memory is replaced; the other keeps serving", async () => {
  await using fixture = app(["2"], { env: { DENO_V8_FLAGS: "--max-old-space-size=48" } });
  const { port, pids } = await serving(fixture);
  assert.equal(await ask(port, "oom"), null);
  const died = await fixture.next((e) => e.event === "died");
  assert.ok(died.signal === "SIGTRAP" || died.code === 133, JSON.stringify(died));
  const survivor = pids.find((pid) => pid !== died.pid)!;
  assert.ok(await processExists(survivor));
  const replacement = await fixture.next((e) => e.event === "started" && !pids.includes(e.pid));
  assert.match((await ask(port, "pid"))!, /^\d+$/);
  await closeAndCheck(fixture, [...pids, replacement.pid]);
});

Deno.test("serverClose() lets a child's request in flight finish, then no child is left", async () => {
  await using fixture = app();
  const { port, pids } = await serving(fixture);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("pid\n"));
  assert.match((await readLineWithin(conn))!, /^\d+$/); // the request is being handled
  await conn.write(encoder.encode("sleep 400\n"));
  await conn.closeWrite(); // the handler returns after this last command
  fixture.send("shutdown");
  const shutdown = await fixture.next((e) => e.event === "shutdown");
  assert.equal(shutdown.active.length, 2); // finishing, not killed
  const closing = closeAndCheck(fixture, pids);
  closing.catch(() => {}); // awaited below, after the reply
  assert.equal(await readLineWithin(conn), "slept");
  assert.equal(await readLineWithin(conn), null);
  conn.close();
  const closed = await closing;
  assert.ok(closed.ms >= 100, `closed after ${closed.ms} ms, before the request finished`);
});

Deno.test("serverClose({ graceMs: 2 ** 31 }) with childGraceMs 2 ** 31 lets a child's request finish instead of killing the child after 1 ms (Deno's timers cut such delays)", async () => {
  const LONG = String(2 ** 31);
  await using fixture = app(["1", "", LONG]);
  const { port, pids } = await serving(fixture, 1);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("pid\n"));
  assert.match((await readLineWithin(conn))!, /^\d+$/); // the request is being handled
  await conn.write(encoder.encode("sleep 300\n"));
  await conn.closeWrite();
  fixture.send("shutdown");
  await fixture.next((e) => e.event === "shutdown");
  const closing = closeAndCheck(fixture, pids, `close ${LONG}`);
  closing.catch(() => {}); // awaited below, after the reply
  assert.equal(await readLineWithin(conn), "slept", "the child was killed before it answered");
  conn.close();
  await closing;
});

Deno.test("ForkingTCPServer: a hung handler in a child stops neither shutdown() nor serverClose({ graceMs })", async () => {
  await using fixture = app();
  const { port, pids } = await serving(fixture);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode("pid\n"));
  assert.match((await readLineWithin(conn))!, /^\d+$/);
  await conn.write(encoder.encode("hang\n"));
  fixture.send("shutdown");
  await fixture.next((e) => e.event === "shutdown");
  const closed = await closeAndCheck(fixture, pids, "close 300");
  assert.ok(closed.ms < 5_000, `serverClose took ${closed.ms} ms`);
  assert.equal(await readLineWithin(conn), null); // closed under the hung handler
  conn.close();
});

Deno.test("ForkingTCPServer: when the parent is killed with SIGKILL its children stop on their own", async () => {
  await using fixture = app();
  const { port, pids } = await serving(fixture);
  assert.match((await ask(port, "pid"))!, /^\d+$/);
  fixture.process.kill("SIGKILL");
  await fixture.exited();
  // Their stdin closed with the parent: each stops and exits (init reaps it).
  const deadline = performance.now() + 10_000;
  for (const pid of pids) {
    while (await processExists(pid)) {
      assert.ok(performance.now() < deadline, `child ${pid} still runs after its parent died`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
});

Deno.test("ForkingTLSServer serves TLS from every child, which read the certificate themselves", async () => {
  const tls = new URL("./tls/", import.meta.url).pathname;
  const cert = Deno.readTextFileSync(`${tls}localhost.crt`);
  const program = new URL("./fixtures/forking_tls.ts", import.meta.url).pathname;
  await using fixture = new Fixture([
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=deno",
    `--allow-read=${tls}`,
    program,
  ]);
  const { port, pids } = await serving(fixture);
  const seen = new Set<number>();
  for (let i = 0; i < 200 && seen.size < 2; i++) {
    const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [cert] });
    seen.add(Number(await readLineWithin(conn)));
    conn.close();
  }
  assert.deepEqual([...seen].sort(), [...pids].sort());
  await fixture.send("close");
  const closed = await fixture.next((e) => e.event === "closed");
  assert.deepEqual(closed.active, []);
  for (const pid of pids) assert.equal(await processExists(pid), false);
  assert.equal((await fixture.exited()).code, 0, fixture.output.join(""));
});

Deno.test("Children inherit the parent's whole permission kinds and the server's address, nothing more", async () => {
  const tests = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
  await using fixture = app(["1"], {
    flags: ["--allow-net=127.0.0.1", "--allow-run=deno", "--allow-env", `--allow-read=${tests}`],
  });
  const { port } = await serving(fixture, 1);
  assert.equal(await ask(port, "perm env=HOME"), "granted"); // the parent has all of env
  assert.equal(await ask(port, `perm net=127.0.0.1:${port}`), "granted"); // its own address
  assert.equal(await ask(port, "perm net=127.0.0.1:1"), "prompt"); // not the parent's other hosts
  assert.equal(await ask(port, `perm read=${tests}`), "prompt"); // partial grants are not guessed
  assert.equal(await ask(port, "perm run=deno"), "prompt");
  await closeAndCheck(fixture, []);
});

Deno.test("childPermissions gives children exactly the listed items the parent has", async () => {
  const tests = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
  await using fixture = app(["1", JSON.stringify({ read: [tests] })], {
    flags: ["--allow-net=127.0.0.1", "--allow-run=deno", "--allow-env", `--allow-read=${tests}`],
  });
  const { port } = await serving(fixture, 1);
  assert.equal(await ask(port, `perm read=${tests}`), "granted");
  assert.equal(await ask(port, "perm read=/etc"), "prompt");
  assert.equal(await ask(port, "perm env=HOME"), "prompt"); // not listed
  await closeAndCheck(fixture, []);
});

Deno.test("childPermissions asking for more than the parent has throws NotCapable and frees the port", () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  assert.throws(
    () =>
      new ForkingTCPServer({ hostname: "127.0.0.1", port }, BaseRequestHandler, {
        childPermissions: { read: ["/etc/shadow"] },
      }),
    (error: Error) =>
      error instanceof Deno.errors.NotCapable && /--allow-read=\/etc\/shadow/.test(error.message),
  );
  Deno.listen({ hostname: "127.0.0.1", port }).close();
});

Deno.test("ForkingMixIn refuses Unix sockets and datagram servers with NotSupported, naming what to use", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const cases: [() => unknown, RegExp][] = [
      [
        () => new (ForkingMixIn(UnixStreamServer))({ path: `${dir}/s.sock` }, BaseRequestHandler),
        /Unix sockets have no SO_REUSEPORT.*use ThreadingUnixStreamServer/,
      ],
      [
        () => new (ForkingMixIn(UDPServer))({ hostname: "127.0.0.1", port: 0 }, BaseRequestHandler),
        /UDPServer is neither a TCPServer nor a TLSServer.*use ThreadingUDPServer/,
      ],
      [
        () => new (ForkingMixIn(UnixDatagramServer))({ path: `${dir}/d.sock` }, BaseRequestHandler),
        /Unix sockets have no SO_REUSEPORT.*use ThreadingUnixDatagramServer/,
      ],
    ];
    for (const [construct, message] of cases) {
      assert.throws(
        construct,
        (error: Error) => error instanceof Deno.errors.NotSupported && message.test(error.message),
      );
    }
    assert.deepEqual([...Deno.readDirSync(dir)], []); // nothing was bound
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ForkingTCPServer without --unstable-net says how to enable SO_REUSEPORT", async () => {
  await using fixture = app(["2"], {
    flags: ["--no-config", "--allow-net=127.0.0.1", "--allow-run=deno"],
  });
  const status = await fixture.exited();
  assert.notEqual(status.code, 0);
  const stderr = fixture.output.join("");
  assert.match(stderr, /NotSupported/);
  assert.match(stderr, /--unstable-net/);
});

Deno.test("ForkingTCPServer without permission to run Deno says which flag to add", async () => {
  await using fixture = app(["2"], { flags: ["--allow-net=127.0.0.1"] });
  const status = await fixture.exited();
  assert.notEqual(status.code, 0);
  assert.match(fixture.output.join(""), /NotCapable: .*--allow-run=/);
});

Deno.test("ForkingTCPServer before serveForever(): no children, the parent's attributes, no restartChildren()", async () => {
  class Echo extends StreamRequestHandler {}
  await using server = new ForkingTCPServer({ hostname: "127.0.0.1", port: 0 }, Echo, {
    maxChildren: 3,
  });
  assert.equal(isForkingChild(), false);
  assert.equal(server.isChild, false);
  assert.equal(server.maxChildren, 3);
  assert.equal(ForkingTCPServer.maxChildren, navigator.hardwareConcurrency);
  assert.equal(server.activeChildren.size, 0);
  assert.equal(server.allowReusePort, true);
  await assert.rejects(server.handleRequest(), Deno.errors.NotSupported);
  await assert.rejects(
    server.restartChildren(),
    /restartChildren\(\) needs ForkingTCPServer serving/,
  );
  await assert.rejects(server.restartChildren({ graceMs: 0.5 }), /write 500 for 0.5 s/);
  assert.throws(() => server.maxChildren = 0, RangeError);
  assert.throws(() => server.childGraceMs = -1, RangeError);
  assert.throws(() => server.childPermissions = { disk: true } as never, TypeError);
  // The port is held: a plain listener cannot take it.
  assert.throws(() => Deno.listen(server.serverAddress), Deno.errors.AddrInUse);
});

Deno.test("serveForever() on a forking server fails with the reason when a child constructs a different server", async () => {
  const program = new URL("./fixtures/forking_mismatch.ts", import.meta.url).pathname;
  await using fixture = new Fixture(["run", "--allow-net=127.0.0.1", "--allow-run=deno", program]);
  const failed = await fixture.next((e) => e.event === "failed");
  assert.match(failed.message, /before it listened/);
  assert.match(failed.message, /must construct the same servers in the same order/);
  const closed = await fixture.next((e) => e.event === "closed");
  assert.deepEqual(closed.active, []);
  assert.equal((await fixture.exited()).code, 0);
});
