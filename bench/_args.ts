/**
 * The command line of the A/B scripts (`otel_server.ts`, `otel_instructions.ts`):
 * `--name value` options and the positional arguments around them.
 *
 * @module
 */

/** The value after `--name`, if given. */
export function option(name: string, args: string[] = Deno.args): string | undefined {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
}

/** The arguments that are neither an option nor an option's value. */
export function positionals(args: string[] = Deno.args): string[] {
  return args.filter((arg, i) => !arg.startsWith("--") && !args[i - 1]?.startsWith("--"));
}
