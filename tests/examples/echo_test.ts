import assert from "node:assert/strict";
import { freePort } from "../_net.ts";
import { hasCommand, runCommand, Subprocess } from "../_process.ts";
import { within } from "../_wait.ts";

const ECHO = new URL("../../examples/echo.ts", import.meta.url).pathname;
const CLIENT = new URL("../../examples/echo_client.ts", import.meta.url).pathname;
const SEED_CLIENT = new URL("../fixtures/seed_client.py", import.meta.url).pathname;
const SEED_SERVER = new URL("../fixtures/seed_server.py", import.meta.url).pathname;

/** Starts examples/echo.ts on a free port; resolves to the process and port. */
async function startEcho(): Promise<{ proc: Subprocess; port: string }> {
  const proc = new Subprocess("deno", ["run", "-A", ECHO, "0"]);
  const [, port] = await proc.waitFor(/^Serving on localhost:(\d+)/);
  return { proc, port };
}

async function stop(
  proc: Subprocess,
  signal: Deno.Signal,
): Promise<{ code: number; stdout: string }> {
  proc.child.kill(signal);
  const { status, stdout } = await proc.finish();
  return { code: status.code, stdout };
}

Deno.test("examples/echo.ts answers examples/echo_client.ts: Received: HELLO WORLD", async () => {
  const { proc, port } = await startEcho();
  try {
    const client = await runCommand("deno", ["run", "-A", CLIENT, "hello", "world"], {
      env: { PORT: port },
    });
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout, "Sent:     hello world\nReceived: HELLO WORLD\n");
    await proc.waitFor(/^hello world$/);
    assert.ok(proc.lines.includes("127.0.0.1 wrote:"), JSON.stringify(proc.lines));
  } finally {
    const { code, stdout } = await stop(proc, "SIGINT");
    assert.equal(code, 0);
    assert.match(stdout, /Server stopped/);
  }
});

Deno.test({
  name: "examples/echo.ts answers the seed's Python client: Received: HELLO WORLD",
  ignore: !hasCommand("python3"),
  async fn() {
    const { proc, port } = await startEcho();
    try {
      const client = await runCommand("python3", [SEED_CLIENT, "hello", "world"], {
        env: { PORT: port },
      });
      assert.equal(client.code, 0, client.stderr);
      assert.equal(client.stdout, "Sent:     hello world\nReceived: HELLO WORLD\n");
    } finally {
      await stop(proc, "SIGTERM");
    }
  },
});

Deno.test({
  name: "examples/echo_client.ts gets Received: HELLO WORLD from the seed's Python socketserver",
  ignore: !hasCommand("python3"),
  async fn() {
    await using server = new Subprocess("python3", ["-u", SEED_SERVER], { env: { PORT: "0" } });
    const [, port] = await server.waitFor(/^listening on (\d+)/);
    const client = await runCommand("deno", ["run", "-A", CLIENT, "hello", "world"], {
      env: { PORT: port },
    });
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout, "Sent:     hello world\nReceived: HELLO WORLD\n");
    await server.waitFor(/^b'hello world'$/);
  },
});

Deno.test("examples/echo.ts shuts down cleanly on SIGINT and on SIGTERM", async () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const { proc } = await startEcho();
    const { code, stdout } = await stop(proc, signal);
    assert.equal(code, 0, `${signal}: exit code`);
    assert.match(stdout, /Server stopped/, signal);
  }
});

Deno.test("examples/echo.ts takes its port from PORT when no argument is given", async () => {
  const proc = new Subprocess("deno", ["run", "-A", ECHO], { env: { PORT: "0" } });
  const [, port] = await proc.waitFor(/^Serving on localhost:(\d+)/);
  assert.notEqual(port, "9999");
  assert.notEqual(port, "0");
  await stop(proc, "SIGINT");
});

/** The README's "Quick start: the seed" program, as printed there. */
async function readmeSeed(): Promise<string> {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Quick start: the seed"));
  const block = /```ts\n([\s\S]*?)```/.exec(section);
  assert.ok(block, "the README has a seed code block");
  return block[1];
}

Deno.test("README.md's seed sends its reply with sendall(), Python's sendall(), not a bare write()", async () => {
  const seed = await readmeSeed();
  assert.match(seed, /await sendall\(this\.request, data\.toUpperCase\(\)\);/);
  assert.doesNotMatch(seed, /\.write\(/);
});

Deno.test({
  name: "README.md's seed, as printed, answers the seed's CPython client",
  ignore: !hasCommand("python3"),
  async fn() {
    const seed = await readmeSeed();
    const port = freePort();
    // The only change: a free port instead of 9999, which another program may hold.
    assert.equal(seed.split("port: 9999").length, 2);
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/seed.ts`, seed.replace("port: 9999", `port: ${port}`));
      const map = {
        imports: { "jsr:@x/socketserver": new URL("../../mod.ts", import.meta.url).href },
      };
      await Deno.writeTextFile(`${dir}/import_map.json`, JSON.stringify(map));
      await using server = new Subprocess("deno", [
        "run",
        `--import-map=${dir}/import_map.json`,
        `--allow-net=localhost:${port}`,
        `${dir}/seed.ts`,
      ]);
      // It prints nothing before serving: its port accepting is the event.
      await within(
        (async () => {
          for (;;) {
            try {
              return (await Deno.connect({ hostname: "localhost", port })).close();
            } catch {
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
          }
        })(),
        30_000,
        `the README seed to listen on localhost:${port}`,
      );
      const client = await runCommand("python3", [SEED_CLIENT, "hello", "world"], {
        env: { PORT: String(port) },
      });
      assert.equal(client.code, 0, client.stderr);
      assert.equal(client.stdout, "Sent:     hello world\nReceived: HELLO WORLD\n");
      await server.waitFor(/^hello world$/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
