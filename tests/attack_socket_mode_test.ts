/**
 * Unix socket files under umask games. A `UnixStreamServer` binds inside a
 * private directory made with `Deno.makeTempDirSync()`, whose mode 0700 the
 * umask narrows: under `umask 0177` (systemd's `UMask=0177`, for services
 * whose files must be 0600) the directory is 0600, nobody may search it,
 * and the bind fails — with a message saying the user may not create files
 * in a directory it can write to — where Python's bind, and Deno's, work.
 * The servers run as root without the capabilities that bypass file modes
 * (what any other user is), so that the modes count.
 */
import assert from "node:assert/strict";
import { runCommand } from "./_process.ts";

const MOD = new URL("../mod.ts", import.meta.url).href;

/** Whether the tests can drop root's file-mode override: root with setpriv. */
function canDropOverride(): boolean {
  const { stdout } = new Deno.Command("sh", {
    args: ["-c", 'test "$(id -u)" = 0 && command -v setpriv >/dev/null && echo yes'],
  }).outputSync();
  if (new TextDecoder().decode(stdout).trim() === "yes") return true;
  console.error("not root with setpriv: the umask tests are skipped");
  return false;
}

/** Runs `program` under `umask`, as root without CAP_DAC_OVERRIDE and
 * CAP_DAC_READ_SEARCH. */
async function underUmask(umask: string, program: string) {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, program);
    return await runCommand("sh", [
      "-c",
      `umask ${umask} && exec setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search deno run --no-prompt --unstable-net -A "$0" "$1"`,
      file,
      await Deno.makeTempDir(),
    ]);
  } finally {
    await Deno.remove(file);
  }
}

const BIND = (server: string, options: string) => `
import { BaseRequestHandler, DatagramRequestHandler, ${server} } from "${MOD}";
const dir = Deno.args[0];
const path = dir + "/app.sock";
const Handler = "${server}" === "UnixStreamServer" ? BaseRequestHandler : DatagramRequestHandler;
try {
  const server = new ${server}(path, Handler as never, ${options});
  console.log("bound " + (Deno.lstatSync(path).mode! & 0o777).toString(8));
  await server.serverClose();
} catch (error) {
  console.log("failed: " + (error instanceof Error ? error.message : String(error)));
}
await Deno.remove(dir, { recursive: true });
`;

Deno.test("UnixStreamServer binds under umask 0177, as Python's bind does (its private directory became 0600 and the bind failed)", async () => {
  if (!canDropOverride()) return;
  // the reference: a plain bind at the path (a UnixDatagramServer's) works,
  // and the socket file is 0600, as Python's would be
  const plain = await underUmask("0177", BIND("UnixDatagramServer", "{}"));
  assert.equal(plain.stdout.trim(), "bound 600", plain.stderr);
  const { stdout, stderr } = await underUmask("0177", BIND("UnixStreamServer", "{}"));
  assert.equal(stdout.trim(), "bound 600", stderr);
});

for (const server of ["UnixStreamServer", "UnixDatagramServer"]) {
  Deno.test(`${server} with socketMode 0o660 binds under umask 0277 and gives the file mode 0660`, async () => {
    if (!canDropOverride()) return;
    const { stdout, stderr } = await underUmask("0277", BIND(server, "{ socketMode: 0o660 }"));
    assert.equal(stdout.trim(), "bound 660", stderr);
  });
}
