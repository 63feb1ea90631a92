/**
 * The crash-loop back-off of a forking server applies to children that die
 * before they listen, not to ones killed while serving: a serving child
 * killed again and again is replaced at once every time.
 */
import assert from "node:assert/strict";
import { ask } from "./_net.ts";
import { Fixture } from "./_process.ts";

const APP = new URL("./fixtures/forking_crashloop.ts", import.meta.url).pathname;

async function kill(pid: number): Promise<void> {
  const { code } = await new Deno.Command("kill", { args: ["-KILL", String(pid)] }).output();
  assert.equal(code, 0);
}

function app(marker: string): Fixture {
  return new Fixture([
    "run",
    "--allow-net=127.0.0.1",
    "--allow-run=deno",
    "--allow-read=/tmp",
    "--allow-write=/tmp",
    APP,
    marker,
  ]);
}

Deno.test("ForkingTCPServer replaces a child killed while serving at once, even the 12th time in a row", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using fixture = app(`${dir}/broken`);
    const { port } = await fixture.next((e) => e.event === "listening");
    let started = await fixture.next((e) => e.event === "started");
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      const from = fixture.events.length;
      assert.equal(await ask(port, "pid"), String(started.pid)); // it serves
      await kill(started.pid);
      const died = await fixture.next((e) => e.event === "died" && e.pid === started.pid);
      assert.equal(died.listening, true);
      delays.push(died.replacementInMs);
      started = await fixture.next((e) => e.event === "started", 20_000, from);
    }
    assert.deepEqual(delays, new Array(12).fill(0), `replacement delays: ${delays}`);
    await fixture.send("close");
    await fixture.next((e) => e.event === "closed");
    assert.equal((await fixture.exited()).code, 0, fixture.output.join(""));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ForkingTCPServer backs off replacing children that die before they listen, and recovers at once when they start again", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using fixture = app(`${dir}/broken`);
    const { port } = await fixture.next((e) => e.event === "listening");
    const first = await fixture.next((e) => e.event === "started");
    await fixture.send("break");
    await kill(first.pid);
    const killed = await fixture.next((e) => e.event === "died" && e.pid === first.pid);
    assert.equal(killed.replacementInMs, 0);
    // the replacements now exit before they listen: a crash loop
    const delays: number[] = [];
    for (let from = fixture.events.length; delays.length < 3;) {
      const died = await fixture.next((e) => e.event === "died", 20_000, from);
      from = fixture.events.indexOf(died) + 1;
      assert.equal(died.listening, false);
      assert.equal(died.code, 4);
      delays.push(died.replacementInMs);
    }
    assert.deepEqual(delays, [0, 100, 200]);
    await fixture.send("mend");
    const from = fixture.events.length;
    const recovered = await fixture.next((e) => e.event === "started", 20_000, from);
    assert.equal(await ask(port, "pid"), String(recovered.pid));
    await fixture.send("close");
    await fixture.next((e) => e.event === "closed");
    assert.equal((await fixture.exited()).code, 0, fixture.output.join(""));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
