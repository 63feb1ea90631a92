/**
 * A rolling deploy behind HAProxy: three instances of examples/deploy.ts
 * (`--proxy v2 --fall 1`) behind one HAProxy (`send-proxy-v2`, a health
 * check every 100 ms with `fall 1 rise 1`, `retries 3` and `option
 * redispatch`), under 50 closed-loop clients of 4 requests per connection
 * through the balancer (bench/loadgen, which never resends a request). Each
 * instance in turn is stopped gracefully — SIGTERM: it fails its health
 * checks until HAProxy has taken it out, then closes its listener and
 * finishes its connections — and started again, and the next waits until
 * HAProxy has it up again. No client request may fail. Needs haproxy and a
 * C compiler (for the load generator); skipped with the reason otherwise.
 */
import assert from "node:assert/strict";
import { build } from "../bench/build.ts";
import { HAPROXY, installed, startHaproxy } from "./_balancers.ts";
import { freePort } from "./_net.ts";
import { hasCommand, Subprocess } from "./_process.ts";
import { within } from "./_wait.ts";

const EXAMPLE = new URL("../examples/deploy.ts", import.meta.url).pathname;
const ready = installed(HAPROXY, "haproxy") && hasCommand("cc");

function instance(port: number): Subprocess {
  return new Subprocess("deno", [
    "run",
    "--allow-net=127.0.0.1",
    EXAMPLE,
    "--port",
    String(port),
    "--proxy",
    "v2",
    "--trusted",
    "127.0.0.1",
    "--fall",
    "1",
  ], { stdin: "null" });
}

/** Sends SIGTERM, waits for the instance's last line and its exit. */
async function stop(running: Subprocess): Promise<{ requests: number; checks: number }> {
  running.child.kill("SIGTERM");
  const [, requests, checks] = await within(
    running.waitFor(/^Stopped: (\d+) requests, (\d+) health checks$/),
    30_000,
    "the instance to drain and stop",
  );
  const { status } = await within(running.finish(), 10_000, "the instance to exit");
  assert.equal(status.code, 0);
  return { requests: Number(requests), checks: Number(checks) };
}

Deno.test({
  name:
    "examples/deploy.ts behind HAProxy: a rolling deploy of three instances, each stopped gracefully and started again under 50 clients, fails no client request",
  ignore: !ready,
  async fn() {
    const ports = [freePort(), freePort(), freePort()];
    const instances = ports.map(instance);
    const load: { child: Deno.ChildProcess | null } = { child: null };
    try {
      await Promise.all(
        instances.map((i) => within(i.waitFor(/^Serving on /), 30_000, "an instance")),
      );
      const started = await startHaproxy({
        backend: ports.map((port) => ({ hostname: "127.0.0.1", port })),
        send: "send-proxy-v2",
        check: { send: "PING\\r\\n", expect: "PONG", interMs: 100 },
        redispatch: true,
      });
      await using haproxy = started.balancer;
      load.child = new Deno.Command(await build("loadgen"), {
        args: ["-p", String(started.ports.ipv4), "-m", "persist", "-c", "50", "-n", "4", "-s", "64"]
          .concat(["-d", "3600"]), // ended by SIGTERM once the deploy is done
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // the load reaches every instance before the deploy starts
      for (let i = 1; i <= ports.length; i++) await haproxy.waitForLog(new RegExp(` app/s${i} `));
      const served: { requests: number; checks: number }[] = [];
      for (const [i, port] of ports.entries()) {
        const name = `app/s${i + 1}`;
        const mark = haproxy.log.length;
        served.push(await stop(instances[i]));
        // it closed only once HAProxy had taken it out
        assert.match(haproxy.log.slice(mark), new RegExp(`Server ${name} is DOWN`));
        instances[i] = instance(port);
        await within(instances[i].waitFor(/^Serving on /), 30_000, "the instance again");
        await haproxy.waitForLog(new RegExp(`Server ${name} is UP`), 30_000, mark);
      }
      load.child.kill("SIGTERM");
      const output = await within(load.child.output(), 30_000, "the load generator's result");
      load.child = null;
      const result = JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
      console.log(
        `through HAProxy, 3 instances restarted one by one: ${result.errors} of ${
          result.requests + result.errors
        } requests failed (refused ${result.refused}, reset ${result.reset}, eof ${result.eof}); the stopped instances had served ${
          served.map((s) => s.requests).join(", ")
        } requests and answered ${served.map((s) => s.checks).join(", ")} health checks`,
      );
      assert.equal(result.errors, 0, `${JSON.stringify(result)}\nHAProxy log:\n${haproxy.log}`);
      assert.equal(result.mismatches, 0, JSON.stringify(result));
      assert.ok(served.every((s) => s.requests > 0), JSON.stringify(served));
    } finally {
      if (load.child !== null) {
        load.child.kill("SIGKILL");
        await load.child.output();
      }
      for (const running of instances) await running[Symbol.asyncDispose]();
    }
  },
});
