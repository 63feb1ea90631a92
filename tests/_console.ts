/**
 * What a test's code prints to `console.error`, captured instead of printed.
 *
 * @module
 */

/** Runs `fn` with `console.error` collecting what it prints: each call's arguments as strings,
 * joined by a space; the calls joined by newlines. */
export async function capturingStderr(fn: () => Promise<void>): Promise<string> {
  const printed: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void printed.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.error = original;
  }
  return printed.join("\n");
}
