/**
 * `server.ready` with children that die before they serve. A child reports
 * itself ready when its constructor binds, not when it starts accepting, so
 * a child whose script fails between the constructor and `serveForever()`
 * (a database that does not answer, a bad setting) counts as listening:
 * `ready` resolves, the parent closes its own listener, and the clients the
 * docs tell to start after `ready` land in a queue that nobody accepts and
 * are reset when the child dies. The docs promise that after `ready` "no
 * connection can land in a queue that nobody accepts", and that `ready`
 * rejects when starting fails.
 */
import assert from "node:assert/strict";
import { runCommand } from "./_process.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

const SCRIPT = `
import { ForkingTCPServer, isForkingChild, StreamRequestHandler } from "${MOD}";
class Hello extends StreamRequestHandler {
  override async handle() {
    await this.wfile.write("hello\\n");
  }
}
await using server = new ForkingTCPServer(["127.0.0.1", 0], Hello, { maxChildren: 2 });
if (isForkingChild()) {
  // setup after the bind that takes a moment and fails (a database that does not answer)
  await new Promise((resolve) => setTimeout(resolve, 300));
  throw new Error("the child's setup failed before it served");
} else {
  const serving = server.serveForever().then(() => "returned", (error) => "threw: " + error.message);
  const ready = await server.ready.then(() => "resolved", (error) => "rejected: " + error.message);
  let client = "not run";
  if (ready === "resolved") {
    // what the docs say a script does once ready resolves
    try {
      const conn = await Deno.connect(server.serverAddress);
      client = await new Response(conn.readable).text();
    } catch (error) {
      client = "failed: " + error.name;
    }
  }
  await server.shutdown();
  console.log(JSON.stringify({ ready, client, served: await serving }));
}
`;

Deno.test("server.ready rejects when the children die before they serve, instead of resolving on their bind and leaving clients to be reset", async () => {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, SCRIPT);
    const { code, stdout, stderr } = await runCommand("deno", [
      "run",
      "--unstable-net",
      "--allow-net=127.0.0.1",
      "--allow-run=deno",
      file,
    ], { timeoutMs: 60_000 });
    assert.equal(code, 0, stderr);
    const { ready, client } = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.ok(
      ready.startsWith("rejected") || client === "hello\n",
      `ready ${ready}, and the client connecting after it: ${JSON.stringify(client)}`,
    );
  } finally {
    await Deno.remove(file);
  }
});
