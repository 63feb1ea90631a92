/**
 * `@x/socketserver/otel` seen from outside: examples/telemetry.ts runs as a
 * subprocess with Deno's exporter on (`OTEL_DENO=true`) pointed at the OTLP
 * receiver, real clients drive it (an answered connection, a handler error,
 * a reset, an idle timeout), and the test checks the spans and metric points
 * that arrive against what the clients did.
 */
import assert from "node:assert/strict";
import net from "node:net";
import type { ServerStats } from "../mod.ts";
import { DURATION_BUCKETS } from "../otel/_telemetry.ts";
import { decoder, encoder, readToEnd } from "./_net.ts";
import { Fixture } from "./_process.ts";
import { within } from "./_wait.ts";
import { type Attributes, type MetricPoint, OtlpReceiver, type Span } from "./_otlp_receiver.ts";

const EXAMPLE = new URL("../examples/telemetry.ts", import.meta.url).pathname;
const UDP_ECHO = new URL("../examples/udp_echo.ts", import.meta.url).pathname;
const PRELOAD = new URL("../examples/otel_preload.ts", import.meta.url).pathname;
const FORKING = new URL("./fixtures/forking_stats.ts", import.meta.url).pathname;
const SCOPE = "@x/socketserver";

/** An example (examples/telemetry.ts unless `args` say) on a free port, its
 * stdout read line by line. */
class Example implements AsyncDisposable {
  readonly process: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly stderr: Promise<string>;
  #wake = () => {};
  #reading: Promise<void>;

  constructor(env: Record<string, string>, clearEnv = false, args = ["-A", EXAMPLE, "0"]) {
    const process = this.process = new Deno.Command("deno", {
      args: ["run", ...args],
      env,
      clearEnv,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.stderr = new Response(process.stderr).text();
    this.#reading = (async () => {
      let pending = "";
      for await (const chunk of process.stdout.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        this.lines.push(...lines);
        this.#wake();
      }
      this.#wake();
    })();
  }

  /** The first line `match` accepts, waiting at most 20 s. */
  async line(match: (line: string) => boolean): Promise<string> {
    for (;;) {
      const found = this.lines.find(match);
      if (found !== undefined) return found;
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#wake = resolve;
      await within(promise, 20_000, () => `a line; got ${this.lines.join(" | ")}`);
    }
  }

  async port(): Promise<number> {
    const line = await this.line((l) => l.includes(" listening on "));
    return Number(/:(\d+) /.exec(line)![1]);
  }

  /** SIGTERM: the example stops, closes and ends normally. */
  async stop(): Promise<void> {
    this.process.kill("SIGTERM");
    const status = await within(this.process.status, 20_000, "the example to exit");
    await this.#reading;
    assert.equal(status.code, 0, await this.stderr);
  }

  /** The stats() examples/telemetry.ts prints as it ends. */
  async stats(): Promise<ServerStats> {
    return JSON.parse(await this.line((l) => l.startsWith("{")));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.process.kill("SIGKILL");
    } catch {
      // exited
    }
    await this.process.status;
    await this.#reading;
    await this.stderr;
  }
}

/** Sends `text`, ends the input unless `end` is false, and reads to the end. */
async function talk(port: number, text: string, end = true) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    if (text !== "") await conn.write(encoder.encode(text));
    if (end) await conn.closeWrite();
    const { bytes } = await readToEnd(conn, 10_000);
    return { port: conn.localAddr.port, reply: decoder.decode(bytes) };
  } finally {
    conn.close();
  }
}

/** Sends a line, reads the reply, then resets the connection (SO_LINGER 0). */
function lineThenReset(port: number, line: string): Promise<{ port: number; reply: string }> {
  const { promise, resolve, reject } = Promise.withResolvers<{ port: number; reply: string }>();
  let reply = "";
  let local = 0;
  const socket = net.connect(port, "127.0.0.1", () => {
    local = socket.localPort!;
    socket.write(line);
  });
  socket.on("data", (data) => {
    reply += data.toString();
    if (reply.endsWith("\n")) socket.resetAndDestroy();
  });
  socket.on("error", reject);
  socket.on("close", () => resolve({ port: local, reply }));
  return within(promise, 10_000, "the reply before the reset");
}

function point(receiver: OtlpReceiver, name: string, attributes: Attributes = {}): MetricPoint {
  const found = receiver.lastPoint(name, attributes);
  assert.ok(found, `no point of ${name} ${JSON.stringify(attributes)}; ${receiver.summary()}`);
  return found;
}

Deno.test("instrument() exports a SERVER span per request of examples/telemetry.ts, with its outcome, and metrics equal to what the clients did", async () => {
  await using receiver = await OtlpReceiver.start();
  await using example = new Example(receiver.env({
    OTEL_SERVICE_NAME: "telemetry-example",
    OTEL_METRIC_EXPORT_INTERVAL: "100",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    IDLE_TIMEOUT_MS: "1000",
  }));
  const port = await example.port();
  const server = { "server.address": "127.0.0.1", "server.port": port };
  const common = { "network.transport": "tcp", ...server };

  // An idle client: while it waits the program exports its open request (the
  // metrics of a live process), then the idle timeout drops it.
  const idle = talk(port, "", false);
  await receiver.waitForPoint((p) =>
    p.name === "socketserver.server.active_requests" && p.value === 1
  );
  const dropped = await idle;
  assert.equal(dropped.reply, "");
  const ok = await talk(port, "upper hello\nsum 1 2\n");
  assert.equal(ok.reply, "HELLO\n3\n");
  const failed = await talk(port, "crash\n");
  assert.equal(failed.reply, "");
  const reset = await lineThenReset(port, "upper hi\n");
  assert.equal(reset.reply, "HI\n");
  // every request has ended once its span has come; the requests in flight
  // are observed at each periodic collection, not at the exit
  const spans = await receiver.waitForSpans((s) => s.scope.name === SCOPE, 4);
  const ended = receiver.requests.metrics;
  await receiver.waitForPoint((p) =>
    p.name === "socketserver.server.active_requests" && p.export > ended
  );

  await example.stop();
  const stats = await example.stats();
  assert.equal(spans.length, 4, receiver.summary());
  const byPeer = (p: number) => spans.find((s) => s.attributes["network.peer.port"] === p)!;
  const check = (span: Span | undefined, attributes: Attributes) => {
    assert.ok(span, JSON.stringify(spans.map((s) => s.attributes)));
    assert.equal(span.kind, "server");
    assert.equal(span.name, "Commands");
    assert.equal(span.parentSpanId, "");
    assert.ok(span.endTimeUnixNano > span.startTimeUnixNano);
    assert.deepEqual(span.attributes, {
      ...common,
      "network.type": "ipv4",
      "network.peer.address": "127.0.0.1",
      ...attributes,
    });
    assert.equal(span.resource["service.name"], "telemetry-example");
  };

  const okSpan = byPeer(ok.port);
  check(okSpan, { "network.peer.port": ok.port, "socketserver.request.outcome": "ok" });
  assert.deepEqual(okSpan.status, { code: "unset", message: "" });
  assert.deepEqual(okSpan.events, []);
  // the handler's own spans are children of the request's, through the active context
  const children = receiver.spans.filter((s) => s.parentSpanId === okSpan.spanId);
  assert.deepEqual(children.map((s) => [s.name, s.kind, s.traceId]), [
    ["command upper", "internal", okSpan.traceId],
    ["command sum", "internal", okSpan.traceId],
  ]);

  const errorSpan = byPeer(failed.port);
  check(errorSpan, {
    "network.peer.port": failed.port,
    "socketserver.request.outcome": "error",
    "error.type": "Error",
  });
  assert.deepEqual(errorSpan.status, { code: "error", message: "crash requested by the client" });
  assert.equal(errorSpan.events.length, 1);
  assert.equal(errorSpan.events[0].name, "exception");
  assert.equal(
    errorSpan.events[0].attributes["exception.message"],
    "crash requested by the client",
  );
  assert.match(String(errorSpan.events[0].attributes["exception.stacktrace"]), /telemetry\.ts/);

  const resetSpan = byPeer(reset.port);
  check(resetSpan, {
    "network.peer.port": reset.port,
    "socketserver.request.outcome": "drop",
    "error.type": "reset",
  });
  assert.equal(resetSpan.status.code, "error");

  const idleSpan = byPeer(dropped.port);
  check(idleSpan, {
    "network.peer.port": dropped.port,
    "socketserver.request.outcome": "drop",
    "error.type": "idleTimeout",
  });
  assert.match(idleSpan.status.message, /No request began within 1000 ms/);

  // Metrics: the last (cumulative) point of each series, exported at the exit at the latest.
  const requests = "socketserver.server.requests";
  const outcome = "socketserver.request.outcome";
  assert.equal(point(receiver, requests, { ...common, [outcome]: "ok" }).value, 1);
  assert.equal(point(receiver, requests, { [outcome]: "error", "error.type": "Error" }).value, 1);
  assert.equal(point(receiver, requests, { [outcome]: "drop", "error.type": "reset" }).value, 1);
  assert.equal(
    point(receiver, requests, { [outcome]: "drop", "error.type": "idleTimeout" }).value,
    1,
  );
  const total = point(receiver, requests, { [outcome]: "ok" });
  assert.equal(total.unit, "{request}");
  assert.equal(total.monotonic, true);

  const drops = "socketserver.server.drops";
  assert.equal(point(receiver, drops, { "socketserver.drop.reason": "reset" }).value, 1);
  assert.equal(point(receiver, drops, { "socketserver.drop.reason": "idleTimeout" }).value, 1);

  const active = point(receiver, "socketserver.server.active_requests", common);
  assert.equal(active.value, 0);
  assert.equal(active.monotonic, false);

  const duration = point(receiver, "socketserver.server.request.duration", { [outcome]: "ok" });
  assert.equal(duration.unit, "s");
  assert.equal(duration.count, 1);
  assert.deepEqual(duration.explicitBounds, DURATION_BUCKETS);
  // the idle request lasted at least its timeout: 1 s, in the (0.75, 1] bucket or later
  const idleDuration = point(receiver, "socketserver.server.request.duration", {
    "error.type": "idleTimeout",
  });
  assert.ok(idleDuration.sum! >= 1, String(idleDuration.sum));

  const io = "socketserver.server.io";
  const received = "upper hello\nsum 1 2\n".length + "crash\n".length + "upper hi\n".length;
  const sent = "HELLO\n3\n".length + "HI\n".length;
  assert.equal(point(receiver, io, { "network.io.direction": "receive" }).value, received);
  assert.equal(point(receiver, io, { "network.io.direction": "transmit" }).value, sent);
  assert.equal(point(receiver, io, { "network.io.direction": "receive" }).unit, "By");

  // stats() agrees
  assert.equal(stats.accepted, 4);
  assert.equal(stats.completed, 1);
  assert.equal(stats.errors, 1);
  assert.deepEqual([stats.dropped.reset, stats.dropped.idleTimeout], [1, 1]);
  assert.deepEqual([stats.bytesRead, stats.bytesWritten], [received, sent]);
  assert.equal(receiver.requests.refused, 0, receiver.summary());
});

Deno.test("instrument() with OTEL_DENO unset leaves examples/telemetry.ts as it was: the same answers, nothing exported", async () => {
  await using receiver = await OtlpReceiver.start();
  const env: Record<string, string> = receiver.env();
  delete env.OTEL_DENO;
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  await using example = new Example(env, true);
  const port = await example.port();
  assert.equal((await talk(port, "upper hello\nsum 1 2\n")).reply, "HELLO\n3\n");
  assert.equal((await talk(port, "crash\n")).reply, "");
  await example.stop();
  const stats = await example.stats();
  assert.deepEqual([stats.accepted, stats.completed, stats.errors], [2, 1, 1]);
  // Deno exports synchronously before it exits: nothing can still come
  assert.deepEqual(receiver.requests, { traces: 0, metrics: 0, logs: 0, refused: 0 });
});

for (const readable of [true, false]) {
  Deno.test(
    `instrument() on a ForkingTCPServer: each child exports under its own service.instance.id, ${
      readable
        ? "keeping the parent's resource attributes, which the parent may read"
        : "alone when the parent may not read OTEL_RESOURCE_ATTRIBUTES"
    }`,
    async () => {
      await using receiver = await OtlpReceiver.start();
      await using app = new Fixture([
        "run",
        "--allow-net=127.0.0.1",
        "--allow-run=deno",
        ...(readable ? ["--allow-env=OTEL_RESOURCE_ATTRIBUTES"] : []),
        FORKING,
        "--instrument",
      ], {
        env: receiver.env({
          OTEL_METRIC_EXPORT_INTERVAL: "100",
          OTEL_BSP_SCHEDULE_DELAY: "100",
          OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=test",
        }),
      });
      const { port } = await app.next((event) => "port" in event);
      // every process exports its runtime's metrics: the children's come with their own ids
      const ids = () =>
        new Set(
          receiver.points.filter((p) => p.scope.name === "v8js")
            .map((p) => p.resource["service.instance.id"])
            .filter((id) => id !== undefined),
        );
      await receiver.waitForPoint(() => ids().size >= 2, 15_000);
      const children = ids();
      assert.equal(children.size, 2);
      for (const id of children) assert.match(String(id), /^[0-9a-f-]{36}$/);
      for (const p of receiver.points) {
        if (p.resource["service.instance.id"] !== undefined) {
          assert.equal(p.resource["deployment.environment.name"], readable ? "test" : undefined);
        }
      }
      // a request's span comes from one of the children
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(encoder.encode("hello\n"));
      await conn.closeWrite();
      assert.equal(decoder.decode((await readToEnd(conn)).bytes), "HELLO\n");
      conn.close();
      const span = await receiver.waitForSpan((s) => s.scope.name === SCOPE);
      assert.ok(children.has(span.resource["service.instance.id"]), JSON.stringify(span.resource));
      assert.equal(span.kind, "server");
    },
  );
}

Deno.test("instrumentAll() run with --preload=examples/otel_preload.ts instruments an example left as it is: examples/udp_echo.ts", async () => {
  await using receiver = await OtlpReceiver.start();
  await using example = new Example(receiver.env(), false, [
    "-A",
    `--preload=${PRELOAD}`,
    UDP_ECHO,
    "0",
  ]);
  const port = await example.port();
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client.send(encoder.encode("ping\n"), { transport: "udp", hostname: "127.0.0.1", port });
    const [reply] = await within(client.receive(), 10_000, "the echo");
    assert.equal(decoder.decode(reply), "ping\n");
  } finally {
    client.close();
  }
  await example.stop();
  const span = await receiver.waitForSpan((s) => s.scope.name === SCOPE);
  assert.equal(span.kind, "server");
  assert.equal(span.name, "Echo");
  assert.deepEqual(span.attributes, {
    "network.transport": "udp",
    "network.type": "ipv4",
    "network.peer.address": "127.0.0.1",
    "network.peer.port": (client.addr as Deno.NetAddr).port,
    "server.address": "127.0.0.1",
    "server.port": port,
    "socketserver.request.outcome": "ok",
  });
  assert.equal(
    point(receiver, "socketserver.server.requests", { "network.transport": "udp" }).value,
    1,
  );
});
