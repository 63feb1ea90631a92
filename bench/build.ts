/**
 * `deno task bench:build`: builds the benchmark's native parts into
 * `bench/.build/` (git-ignored) — the load generator and the C server with
 * `cc -O2`, the Go server with `go build` — and says which peers (Node, Bun,
 * Go, CPython) are missing and how to install them. Each binary is rebuilt
 * when it is missing or older than its source; `deno task bench` and the
 * other bench scripts call the same functions, so building first is never
 * required.
 *
 * @module
 */

const BENCH = new URL(".", import.meta.url).pathname;
/** Where the binaries go (git-ignored). */
export const BUILD_DIR = `${BENCH}.build/`;

/** A native part of the benchmark: its source, its binary, its compiler. */
interface Part {
  source: string;
  binary: string;
  compiler: string;
  args: (out: string) => string[];
  install: string;
}

const PARTS = {
  loadgen: {
    source: `${BENCH}loadgen/loadgen.c`,
    binary: `${BUILD_DIR}loadgen`,
    compiler: "cc",
    args: (out: string) => ["-O2", "-o", out, `${BENCH}loadgen/loadgen.c`],
    install: "apt-get install gcc",
  },
  c: {
    source: `${BENCH}servers/c_epoll.c`,
    binary: `${BUILD_DIR}c_epoll`,
    compiler: "cc",
    args: (out: string) => ["-O2", "-o", out, `${BENCH}servers/c_epoll.c`],
    install: "apt-get install gcc",
  },
  go: {
    source: `${BENCH}servers/go_net.go`,
    binary: `${BUILD_DIR}go_net`,
    compiler: "go",
    args: (out: string) => ["build", "-o", out, `${BENCH}servers/go_net.go`],
    install: "apt-get install golang-go",
  },
} satisfies Record<string, Part>;

/** The parts {@linkcode build} knows. */
export type PartName = keyof typeof PARTS;

/** Why a part could not be built: the message says what to do. */
export class BuildError extends Error {
  override name = "BuildError";
}

function mtime(path: string): number | null {
  try {
    return Deno.statSync(path).mtime?.getTime() ?? 0;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/**
 * Builds one part when its binary is missing or older than its source.
 *
 * @param name The part.
 * @returns The binary's path.
 * @throws {BuildError} When the compiler is missing or fails; the message
 * names the command to install it, or the compiler's output.
 */
export async function build(name: PartName): Promise<string> {
  const part: Part = PARTS[name];
  const built = mtime(part.binary);
  if (built !== null && built >= (mtime(part.source) ?? 0)) return part.binary;
  await Deno.mkdir(BUILD_DIR, { recursive: true });
  // The compiler writes the binary itself: the linkers replace the file
  // rather than rewrite it, so a run using the old one is not disturbed (and
  // Deno may not write a path it is allowed to run, as the tests are).
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(part.compiler, {
      args: part.args(part.binary),
      cwd: BUILD_DIR,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new BuildError(`"${part.compiler}" is not installed: ${part.install}`);
  }
  if (!output.success) {
    const said = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join(" / ");
    throw new BuildError(`"${part.compiler} ${part.args(part.binary).join(" ")}" failed: ${said}`);
  }
  return part.binary;
}

/** The load generator's path, built first when needed: what every bench
 * script drives its servers with. */
export function loadgen(): Promise<string> {
  return build("loadgen");
}

/** The first line `command --version` prints (`go version` for Go), or null
 * when the command is not installed. */
export async function version(command: string): Promise<string | null> {
  try {
    const args = command === "go" ? ["version"] : ["--version"];
    const { success, stdout } = await new Deno.Command(command, {
      args,
      stdout: "piped",
      stderr: "null",
    }).output();
    return success ? new TextDecoder().decode(stdout).trim().split("\n")[0] : null;
  } catch {
    return null;
  }
}

/** The peers beside Deno, and how to install each. */
export const PEERS: { command: string; install: string }[] = [
  { command: "node", install: "apt-get install nodejs" },
  { command: "bun", install: "npm install -g bun" },
  { command: "go", install: "apt-get install golang-go" },
  { command: "python3", install: "apt-get install python3" },
];

if (import.meta.main) {
  let failed = false;
  for (const name of Object.keys(PARTS) as PartName[]) {
    try {
      console.log(`${name.padEnd(8)} ${await build(name)}`);
    } catch (error) {
      if (!(error instanceof BuildError)) throw error;
      console.log(`${name.padEnd(8)} not built: ${error.message}`);
      if (name !== "go") failed = true;
    }
  }
  for (const peer of PEERS) {
    const v = await version(peer.command);
    console.log(
      `${peer.command.padEnd(8)} ${v ?? `not installed (skipped by the bench): ${peer.install}`}`,
    );
  }
  if (failed) Deno.exit(1);
}
