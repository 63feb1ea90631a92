/**
 * A child's stdout, demultiplexed: its messages to the parent (one line
 * each, after a marker with a nonce) are taken out, and the rest, the
 * program's own output, goes on to the parent's stdout.
 *
 * @module
 */

import type { ServerStats } from "./server_stats.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a child tells its parent: it listens, why it could not, or its
 * `stats()` (every second while it serves, and once more as it stops). */
export type Message = { ready: number } | { error: string } | { stats: ServerStats };

/** The marker that starts a child's message line. */
export function messageMarker(nonce: string): string {
  return `\x1eSOCKETSERVER ${nonce} `;
}

/** Finds `needle` in `haystack` from `from`; -1 if absent. */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  outer: for (let i = haystack.indexOf(first, from); i >= 0; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return -1;
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function forward(bytes: Uint8Array): Promise<void> {
  if (bytes.length === 0) return;
  try {
    let written = 0;
    while (written < bytes.length) written += await Deno.stdout.write(bytes.subarray(written));
  } catch {
    // the parent's stdout is gone: the child's output has nowhere to go
  }
}

/** Reads a child's stdout: its messages to the parent are taken out, the
 * rest is the program's output and goes to the parent's stdout. */
export async function readChildOutput(
  stdout: ReadableStream<Uint8Array>,
  nonce: string,
  onMessage: (message: Message) => void,
): Promise<void> {
  const marker = encoder.encode(messageMarker(nonce));
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of stdout) {
    let data = concat(carry, chunk);
    carry = new Uint8Array(0);
    while (data.length > 0) {
      const at = indexOf(data, marker);
      if (at < 0) {
        // Hold back only a tail that could be the start of a marker cut in
        // two (it starts with \x1e, which programs rarely print).
        const tail = data.lastIndexOf(marker[0], data.length - 1);
        const cut = tail >= 0 && data.length - tail < marker.length &&
            marker.subarray(0, data.length - tail).every((byte, i) => data[tail + i] === byte)
          ? tail
          : data.length;
        await forward(data.subarray(0, cut));
        carry = data.slice(cut);
        break;
      }
      await forward(data.subarray(0, at));
      const end = data.indexOf(0x0a, at + marker.length);
      if (end < 0) {
        carry = data.slice(at);
        break;
      }
      try {
        onMessage(JSON.parse(decoder.decode(data.subarray(at + marker.length, end))));
      } catch {
        // not a message after all
      }
      data = data.subarray(end + 1);
    }
  }
  await forward(carry);
}
