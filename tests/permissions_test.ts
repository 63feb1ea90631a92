import assert from "node:assert/strict";
import { runDenoSource } from "./_process.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

/** Runs a snippet that binds `address` under the given permission flags and
 * prints either "bound" or the error's class and message. */
async function bindUnder(flags: string[], address: string): Promise<string> {
  const script = `
    import { BaseRequestHandler, TCPServer } from "${MOD}";
    try {
      const server = new TCPServer(${address}, BaseRequestHandler);
      await server.serverClose();
      console.log("bound");
    } catch (error) {
      console.log(error.constructor.name + ": " + error.message);
    }
  `;
  const { code, stdout, stderr } = await runDenoSource(script, flags);
  assert.equal(code, 0, stderr);
  return stdout.trim();
}

Deno.test("TCPServer without --allow-net throws NotCapable naming the exact flag to add", async () => {
  assert.equal(
    await bindUnder([], `{ hostname: "127.0.0.1", port: 9999 }`),
    'NotCapable: Binding "127.0.0.1:9999" needs network permission: run with --allow-net=127.0.0.1:9999',
  );
});

Deno.test("TCPServer on a port the --allow-net list does not cover names that host and port", async () => {
  assert.equal(
    await bindUnder(["--allow-net=127.0.0.1:1"], `{ hostname: "127.0.0.1", port: 0 }`),
    'NotCapable: Binding "127.0.0.1:0" needs network permission: run with --allow-net=127.0.0.1:0',
  );
  assert.equal(
    await bindUnder(["--allow-net=127.0.0.1"], `{ hostname: "::1", port: 0 }`),
    'NotCapable: Binding "[::1]:0" needs network permission: run with --allow-net=[::1]:0',
  );
});

Deno.test("TCPServer binds with the flag the message named", async () => {
  assert.equal(
    await bindUnder(["--allow-net=127.0.0.1:0"], `{ hostname: "127.0.0.1", port: 0 }`),
    "bound",
  );
  assert.equal(await bindUnder(["--allow-net=[::1]"], `{ hostname: "::1", port: 0 }`), "bound");
});
