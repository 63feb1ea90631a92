/**
 * `server.ready` on a forking server: the documentation's threaded example
 * ported to `ForkingTCPServer` runs its clients in the same script, once,
 * and none of them is reset.
 */
import assert from "node:assert/strict";
import { runCommand } from "./_process.ts";

const PORTED = new URL("./fixtures/forking_ready.ts", import.meta.url).pathname;

Deno.test("server.ready lets the docs' threaded example run on ForkingTCPServer as on ThreadingTCPServer: clients once, in the parent, none reset", async () => {
  const { code, stdout, stderr } = await runCommand("deno", [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=deno",
    PORTED,
    "40",
  ], { timeoutMs: 60_000 });
  assert.equal(code, 0, stderr);
  const lines = stdout.trim().split("\n");
  assert.equal(lines.length, 1, `the client code ran more than once: ${stdout}`);
  const { parent, replies } = JSON.parse(lines[0]) as { parent: number; replies: string[] };
  assert.equal(replies.length, 40);
  const servedBy = new Set<number>();
  replies.forEach((reply, i) => {
    const match = reply.match(/^(\d+): HELLO WORLD (\d+)$/);
    assert.ok(match, `client ${i} got ${JSON.stringify(reply)}`);
    assert.equal(Number(match[2]), i);
    servedBy.add(Number(match[1]));
  });
  assert.ok(!servedBy.has(parent), "the parent served a request");
});

const LIFECYCLE = new URL("./fixtures/forking_lifecycle.ts", import.meta.url).pathname;

async function lifecycle(
  mode: string,
): Promise<{ ready: string; served: string; children: number; most: number }> {
  const { code, stdout, stderr } = await runCommand("deno", [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=deno",
    LIFECYCLE,
    mode,
  ], { timeoutMs: 60_000 });
  assert.equal(code, 0, stderr);
  return JSON.parse(stdout.trim());
}

Deno.test("server.ready rejects with serveForever()'s error when a child fails to start", async () => {
  const { ready, served } = await lifecycle("mismatch");
  assert.match(served, /^threw: .*must construct the same servers in the same order/);
  assert.equal(ready, served.replace(/^threw/, "rejected"));
});

Deno.test("server.ready rejects, saying so, when shutdown() comes before every child listens", async () => {
  const { ready, served } = await lifecycle("stop");
  assert.equal(served, "returned");
  assert.match(ready, /^rejected: Server stopped before every child listened/);
});

Deno.test("shutdown() before serveForever() on a forking server makes it return at once, starting no child", async () => {
  const { ready, served, children } = await lifecycle("early-stop");
  assert.equal(served, "returned");
  assert.equal(children, 0);
  assert.match(ready, /^rejected: Server was shut down before it served/);
});

Deno.test("serviceActions() on a forking parent, async and slower than pollInterval, never runs twice at once", async () => {
  const { served, most } = await lifecycle("actions");
  assert.equal(served, "returned");
  assert.equal(most, 1);
});

const PROXIED = new URL("./fixtures/forking_proxy.ts", import.meta.url).pathname;

Deno.test("ForkingTCPServer({ proxyProtocol }): the children read the headers, clientAddress is each header's client, a half-sent header holds up nobody, and a connection without one is closed unanswered", async () => {
  const { code, stdout, stderr } = await runCommand("deno", [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=deno",
    PROXIED,
  ], { timeoutMs: 60_000 });
  assert.equal(code, 0, stderr);
  const { parent, replies, noHeader } = JSON.parse(stdout.trim()) as {
    parent: number;
    replies: string[];
    noHeader: string;
  };
  replies.forEach((reply, i) => {
    const match = reply.match(/^(\d+) (\S+) via 127\.0\.0\.1: hello (\d+)$/);
    assert.ok(match, `client ${i} got ${JSON.stringify(reply)}`);
    assert.notEqual(Number(match[1]), parent, "the parent served a request");
    assert.equal(match[2], `192.0.2.${i}:${4000 + i}`);
    assert.equal(Number(match[3]), i);
  });
  assert.equal(noHeader, "", "a connection without a header was closed before any handler ran");
});

const RESTART = new URL("./fixtures/forking_restart.ts", import.meta.url).pathname;

Deno.test("restartChildren() called twice at once runs one restart and refuses the other; shutdown() during one abandons it, and no child is left", async () => {
  const { code, stdout, stderr } = await runCommand("deno", [
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=deno",
    RESTART,
  ], { timeoutMs: 60_000 });
  assert.equal(code, 0, stderr);
  const r = JSON.parse(stdout.trim());
  assert.equal(r.first, "resolved");
  assert.match(r.second, /^rejected: restartChildren\(\) is already under way/);
  assert.equal(r.before.length, 2);
  assert.equal(r.after.length, 2);
  assert.ok(r.after.every((pid: number) => !r.before.includes(pid)), JSON.stringify(r));
  assert.match(r.third, /^rejected: restartChildren\(\) was abandoned/);
  assert.equal(r.left, 0);
});
