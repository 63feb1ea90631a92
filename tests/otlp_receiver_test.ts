/**
 * Deno's built-in OpenTelemetry exporter (OTEL_DENO=true), seen through the
 * OTLP/HTTP JSON receiver the instrumentation's tests will use: a child
 * program instruments a line server by hand with npm:@opentelemetry/api, a
 * real client drives it, and the test checks what reached the receiver.
 */
import assert from "node:assert/strict";
import { Fixture } from "./_process.ts";
import { within } from "./_wait.ts";
import { type MetricPoint, OtlpReceiver, type Span } from "./_otlp_receiver.ts";

const APP = new URL("./fixtures/otel_app.ts", import.meta.url).pathname;
const VALUES = [0.001, 0.005, 0.0051, 0.7, 10, 11];
const BOUNDS = [0.005, 0.01, 0.1, 1, 10];
/** Timers far beyond a test's length: whatever arrives came with the exit. */
const ONLY_AT_EXIT = { OTEL_BSP_SCHEDULE_DELAY: "600000", OTEL_METRIC_EXPORT_INTERVAL: "600000" };

/** Sends `line` on `conn` (a new connection to `port` if not given) and
 * reads the answer to the end; returns the client's port (the server's
 * `network.peer.port`) and the answer. */
async function request(
  port: number,
  line: string,
  conn?: Deno.TcpConn,
): Promise<{ port: number; answer: string }> {
  conn ??= await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(line + "\n"));
    const answer = await within(new Response(conn.readable).text(), 10_000, "the answer");
    return { port: conn.localAddr.port, answer };
  } catch (error) {
    conn.close();
    throw error;
  }
}

async function listening(app: Fixture): Promise<number> {
  return (await app.next((event) => "listening" in event)).listening;
}

/** Closes the program's stdin, its signal to stop, and checks it exited well. */
async function stop(app: Fixture): Promise<void> {
  await app[Symbol.asyncDispose]();
  const status = await app.status;
  assert.equal(status.code, 0, app.output.join(""));
}

function point(receiver: OtlpReceiver, name: string, attrs = {}): MetricPoint {
  const found = receiver.lastPoint(name, attrs);
  assert.ok(found, `no point of ${name} ${JSON.stringify(attrs)}; ${receiver.summary()}`);
  return found;
}

Deno.test("OtlpReceiver collects a SERVER span per request, with attributes, status, the exception and the handler's child span", async () => {
  await using receiver = await OtlpReceiver.start();
  await using app = new Fixture(["run", "--allow-net", APP, "serve"], {
    env: receiver.env({
      ...ONLY_AT_EXIT,
      OTEL_SERVICE_NAME: "otel-fixture",
      OTEL_RESOURCE_ATTRIBUTES: "service.instance.id=child-1,deployment.environment.name=test",
    }),
  });
  const port = await listening(app);
  // The first connection's handler is accepted first and waits for its line
  // during the whole of the second request, so that two requests' contexts
  // are active at once and each child span must find its own request's span.
  const first = await Deno.connect({ hostname: "127.0.0.1", port });
  const failed = await request(port, "fail");
  const ok = await request(port, "hello", first);
  assert.equal(ok.answer, "ok\n");
  assert.equal(failed.answer, "failing\n");
  await stop(app);

  const spans = await receiver.waitForSpans((s) => s.scope.name === "otel-fixture", 4);
  const servers = spans.filter((s) => s.kind === "server");
  assert.equal(servers.length, 2, receiver.summary());
  const byPeer = (p: number) => servers.find((s) => s.attributes["network.peer.port"] === p)!;
  const okSpan = byPeer(ok.port);
  const errorSpan = byPeer(failed.port);
  assert.ok(okSpan && errorSpan, JSON.stringify(servers.map((s) => s.attributes)));

  assert.equal(okSpan.name, "fixture request");
  assert.deepEqual(okSpan.attributes, {
    "network.transport": "tcp",
    "network.type": "ipv4",
    "network.peer.address": "127.0.0.1",
    "network.peer.port": ok.port,
    "server.address": "127.0.0.1",
    "server.port": port,
  });
  assert.deepEqual(okSpan.status, { code: "ok", message: "" });
  assert.deepEqual(okSpan.events, []);
  assert.equal(okSpan.parentSpanId, "");
  assert.ok(okSpan.endTimeUnixNano > okSpan.startTimeUnixNano);

  assert.deepEqual(errorSpan.status, { code: "error", message: "handler failed on purpose" });
  assert.equal(errorSpan.events.length, 1);
  const [exception] = errorSpan.events;
  assert.equal(exception.name, "exception");
  assert.equal(exception.attributes["exception.type"], "Error");
  assert.equal(exception.attributes["exception.message"], "handler failed on purpose");
  assert.match(String(exception.attributes["exception.stacktrace"]), /otel_app\.ts/);

  // Each child span belongs to its own request's trace, across socket awaits.
  const child = (of: Span) => spans.find((s) => s.parentSpanId === of.spanId);
  assert.equal(child(okSpan)?.attributes["fixture.line"], "hello");
  assert.equal(child(errorSpan)?.attributes["fixture.line"], "fail");
  assert.equal(child(okSpan)?.kind, "internal");
  assert.equal(child(okSpan)?.traceId, okSpan.traceId);
  assert.notEqual(okSpan.traceId, errorSpan.traceId);

  // The resource comes from the child's environment.
  assert.equal(okSpan.resource["service.name"], "otel-fixture");
  assert.equal(okSpan.resource["service.instance.id"], "child-1");
  assert.equal(okSpan.resource["deployment.environment.name"], "test");
  assert.equal(okSpan.resource["process.runtime.name"], "deno");
  assert.deepEqual(receiver.requests.refused, 0, receiver.summary());
});

Deno.test("OtlpReceiver collects counter sums, an up-down counter and histogram buckets with explicit boundaries", async () => {
  await using receiver = await OtlpReceiver.start();
  await using app = new Fixture(["run", "--allow-net", APP, "serve"], {
    env: receiver.env({ ...ONLY_AT_EXIT, OTEL_SERVICE_NAME: "otel-fixture" }),
  });
  const port = await listening(app);
  for (const line of ["a", "b", "fail", "c"]) await request(port, line);
  await stop(app);
  await receiver.waitForPoint((p) => p.name === "fixture.requests");

  const ok = point(receiver, "fixture.requests", { outcome: "ok" });
  assert.equal(ok.type, "sum");
  assert.equal(ok.monotonic, true);
  assert.equal(ok.temporality, 2, "cumulative");
  assert.equal(ok.unit, "{request}");
  assert.equal(ok.value, 3);
  assert.equal(point(receiver, "fixture.requests", { outcome: "error" }).value, 1);

  const open = point(receiver, "fixture.connections.open");
  assert.equal(open.monotonic, false);
  assert.equal(open.value, 0);

  const known = point(receiver, "fixture.values", { set: "known" });
  assert.equal(known.type, "histogram");
  assert.equal(known.unit, "s");
  assert.deepEqual(known.explicitBounds, BOUNDS);
  // Buckets are (-inf, 0.005], (0.005, 0.01], (0.01, 0.1], (0.1, 1], (1, 10], (10, +inf).
  assert.deepEqual(known.bucketCounts, [2, 1, 0, 1, 1, 1]);
  assert.equal(known.count, VALUES.length);
  assert.ok(Math.abs(known.sum! - VALUES.reduce((a, b) => a + b)) < 1e-9);
  assert.equal(known.min, 0.001);
  assert.equal(known.max, 11);

  const durations = [
    point(receiver, "fixture.request.duration", { outcome: "ok" }),
    point(receiver, "fixture.request.duration", { outcome: "error" }),
  ];
  assert.deepEqual(durations.map((d) => d.count), [3, 1]);
  for (const d of durations) {
    assert.deepEqual(d.explicitBounds, BOUNDS);
    assert.equal(d.bucketCounts!.reduce((a, b) => a + b), d.count);
  }
  // Deno's own runtime metrics come under their own scope.
  assert.ok(
    receiver.points.every((p) => p.scope.name === "otel-fixture" || p.scope.name === "v8js"),
  );
});

Deno.test("OtlpReceiver sees metrics while the program runs when OTEL_METRIC_EXPORT_INTERVAL is short", async () => {
  await using receiver = await OtlpReceiver.start();
  await using app = new Fixture(["run", "--allow-net", APP, "serve"], {
    env: receiver.env({ OTEL_METRIC_EXPORT_INTERVAL: "100", OTEL_BSP_SCHEDULE_DELAY: "100" }),
  });
  const port = await listening(app);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    // The connection is open and idle; the program is alive: only a periodic
    // export can bring this point.
    const opened = await receiver.waitForPoint((p) =>
      p.name === "fixture.connections.open" && p.value === 1
    );
    await conn.write(new TextEncoder().encode("hello\n"));
    assert.equal(await new Response(conn.readable).text(), "ok\n");
    const closed = await receiver.waitForPoint((p) =>
      p.name === "fixture.connections.open" && p.value === 0
    );
    assert.ok(closed.export > opened.export);
    await receiver.waitForSpan((s) => s.kind === "server");
    assert.equal(app.events.some((e) => e.stopped), false, "the program was still running");
  } finally {
    try {
      conn.close();
    } catch { /* closed by the readable's end */ }
  }
  await stop(app);
});

Deno.test("OtlpReceiver gets the spans of a program stopped by SIGTERM at once, once Deno's signal thread runs", async () => {
  await using receiver = await OtlpReceiver.start();
  // Any signal listener starts the thread; without one, a SIGTERM in the first
  // half second or so kills the program with nothing exported (docs/observability.md).
  await using app = new Fixture(["run", "--allow-net", APP, "serve", "--signal-listener"], {
    env: receiver.env(ONLY_AT_EXIT),
  });
  const port = await listening(app);
  const answered = await request(port, "hello");
  assert.equal(answered.answer, "ok\n");
  await app.next((event) => event.done === answered.port);
  app.process.kill("SIGTERM");
  const status = await app.exited();
  assert.equal(status.signal, "SIGTERM");
  const span = await receiver.waitForSpan((s) => s.kind === "server");
  assert.equal(span.attributes["network.peer.port"], answered.port);
  assert.equal(point(receiver, "fixture.requests", { outcome: "ok" }).value, 1);
});

Deno.test("OtlpReceiver gets nothing from a program whose OTEL_DENO is unset, and the API there is a no-op", async () => {
  await using receiver = await OtlpReceiver.start();
  const env: Record<string, string> = receiver.env();
  delete env.OTEL_DENO;
  // The child must not inherit OTEL_DENO: it gets a fresh environment with
  // only what deno needs to find its cache.
  for (const name of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const output = await within(
    new Deno.Command("deno", { args: ["run", APP, "edges"], env, clearEnv: true }).output(),
    20_000,
    "the edges program",
  );
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), {
    recording: false,
    activeInWith: false,
    counterNegative: "ok",
    valueTypeInt: "ok",
  });
  // Deno exports synchronously before it exits, so nothing can still come.
  assert.deepEqual(receiver.requests, { traces: 0, metrics: 0, logs: 0, refused: 0 });
});

Deno.test("OtlpReceiver shows Deno 2.9's edges: negative counter adds and integer instruments throw, observable instruments are not flushed at exit", async () => {
  await using receiver = await OtlpReceiver.start();
  const output = await within(
    new Deno.Command("deno", { args: ["run", APP, "edges"], env: receiver.env(ONLY_AT_EXIT) })
      .output(),
    20_000,
    "the edges program",
  );
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(output.stdout)), {
    recording: true,
    activeInWith: true,
    counterNegative: "throws: Counter can only be incremented",
    valueTypeInt: "throws: Only valueType: DOUBLE is supported",
  });
  await receiver.waitForSpan((s) => s.name === "fixture edges");
  await receiver.waitForPoint((p) => p.name === "fixture.values");
  assert.equal(point(receiver, "fixture.gauge").value, 7);
  assert.equal(point(receiver, "fixture.gauge").type, "gauge");
  // The exit flush collects without running observable callbacks.
  assert.equal(receiver.lastPoint("fixture.observed"), undefined, receiver.summary());
});

Deno.test("OtlpReceiver refuses protobuf with a message that says to use http/json", async () => {
  await using receiver = await OtlpReceiver.start();
  const response = await fetch(`${receiver.endpoint}/v1/traces`, {
    method: "POST",
    headers: { "content-type": "application/x-protobuf" },
    body: new Uint8Array([10, 0]),
  });
  assert.equal(response.status, 415);
  assert.match(await response.text(), /OTEL_EXPORTER_OTLP_PROTOCOL=http\/json/);
  await assert.rejects(
    receiver.waitForSpan(() => true, 50),
    /Timed out after 50 ms waiting for a matching span; .*refused: content type "application\/x-protobuf"/,
  );
  assert.equal(receiver.requests.refused, 1);
});
