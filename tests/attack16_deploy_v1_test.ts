/**
 * Attack on issue 16: examples/deploy.ts `--proxy v1` behind HAProxy
 * `send-proxy`. Version 1 has no `LOCAL` command: HAProxy's health check
 * arrives as a `PROXY` line of its own addresses, then the check's `PING`.
 * The example told checks apart by `LOCAL` only, so it echoed `PING`, HAProxy
 * marked it down at the first check, and its drain on SIGTERM (`--fall N`),
 * which waits for failed checks, never ended. Needs haproxy; skipped
 * otherwise.
 */
import assert from "node:assert/strict";
import { HAPROXY, installed, startHaproxy } from "./_balancers.ts";
import { freePort } from "./_net.ts";
import { Subprocess } from "./_process.ts";
import { within } from "./_wait.ts";

const EXAMPLE = new URL("../examples/deploy.ts", import.meta.url).pathname;

Deno.test({
  name:
    "examples/deploy.ts --proxy v1 behind HAProxy send-proxy: the health check (a PROXY line, then PING) is answered PONG, and the drain on SIGTERM ends once HAProxy has taken it out",
  ignore: !installed(HAPROXY, "haproxy"),
  async fn() {
    const port = freePort();
    await using instance = new Subprocess("deno", [
      "run",
      "--allow-net=127.0.0.1",
      EXAMPLE,
      "--port",
      String(port),
      "--proxy",
      "v1",
      "--trusted",
      "127.0.0.1",
      "--fall",
      "1",
    ], { stdin: "null" });
    await within(instance.waitFor(/^Serving on /), 30_000, "the instance to listen");
    const { balancer } = await startHaproxy({
      backend: { hostname: "127.0.0.1", port },
      send: "send-proxy",
      check: { send: "PING\\r\\n", expect: "PONG", interMs: 100, log: true },
    });
    await using haproxy = balancer;
    const [, outcome] = await haproxy.waitForLog(
      /Health check for server app\/app (succeeded|failed)[^\n]*/,
      15_000,
    );
    assert.equal(outcome, "succeeded", haproxy.log);
    const mark = haproxy.log.length;
    instance.child.kill("SIGTERM");
    const [, requests, checks] = await within(
      instance.waitFor(/^Stopped: (\d+) requests, (\d+) health checks$/),
      30_000,
      "the instance to drain and stop",
    );
    assert.equal(Number(requests), 0, "a health check was counted as a request");
    assert.ok(Number(checks) >= 1, `checks answered: ${checks}`);
    assert.match(haproxy.log.slice(mark), /Server app\/app is DOWN/);
  },
});
