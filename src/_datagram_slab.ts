/**
 * The buffers datagrams are received into and replies are copied into: one
 * shared slab, handed out in regions that are never reused, so a packet is a
 * view that nothing overwrites. Why, and what it saved: bench/README.md.
 *
 * @module
 */

import type { ByteSink } from "./stream_writer.ts";
import { kWriteSync } from "./_symbols.ts";

/** How large a slab is. */
const SLAB_SIZE = 64 * 1024;
/** Copies up to this long go to the slab; longer ones get their own buffer. */
const SLAB_COPY_MAX = 4 * 1024;
let slab = new Uint8Array(new ArrayBuffer(0));
let slabUsed = 0;

/** `n` bytes no one else has been given: a view of the current slab (a new
 * slab when it is full; the old one is freed with its last view). */
export function reserve(n: number): Uint8Array<ArrayBuffer> {
  if (slab.length - slabUsed < n) {
    slab = new Uint8Array(Math.max(SLAB_SIZE, 4 * n));
    slabUsed = 0;
  }
  // a view by the constructor, not subarray(): no species lookup, and no second builtin per datagram
  const region = new Uint8Array(slab.buffer, slabUsed, n);
  slabUsed += n;
  return region;
}

/** Gives the unused end of `region` (after its first `used` bytes) back to
 * the slab, when nothing was reserved after it meanwhile. */
export function release(region: Uint8Array, used: number): void {
  if (region.buffer === slab.buffer && region.byteOffset + region.length === slabUsed) {
    slabUsed = region.byteOffset + ((used + 7) & ~7);
  }
}

/** A copy of `bytes` that nothing else references. */
function copy(bytes: Uint8Array): Uint8Array {
  if (bytes.length > SLAB_COPY_MAX) return bytes.slice();
  const out = reserve(bytes.length);
  out.set(bytes);
  return out;
}

/** Collects a datagram handler's reply: every write is kept, in order. */
export class ReplyBuffer implements ByteSink {
  /** The first write; most replies are one. */
  #first: Uint8Array | null = null;
  /** Every write, once there are two or more. */
  #chunks: Uint8Array[] | null = null;
  #size = 0;

  write(p: Uint8Array): Promise<number> {
    return Promise.resolve(this[kWriteSync](p));
  }

  [kWriteSync](p: Uint8Array): number {
    if (p.length > 0) {
      const kept = copy(p);
      if (this.#first === null) this.#first = kept;
      else (this.#chunks ??= [this.#first]).push(kept);
      this.#size += p.length;
    }
    return p.length;
  }

  /** The reply as one datagram, or `null` when no byte was written. */
  take(): Uint8Array | null {
    const first = this.#first;
    const chunks = this.#chunks;
    const size = this.#size;
    this.#first = this.#chunks = null;
    this.#size = 0;
    if (first === null) return null;
    if (chunks === null) return first;
    const out = size > SLAB_COPY_MAX ? new Uint8Array(size) : reserve(size);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}
