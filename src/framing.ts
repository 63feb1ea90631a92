/**
 * Length-prefixed frames: {@linkcode FrameOptions}, shared by
 * `rfile.readFrame()`, `rfile.frames()` and `wfile.writeFrame()`, and
 * {@linkcode DEFAULT_MAX_FRAME_LENGTH}.
 *
 * @module
 */

/**
 * The default largest frame payload {@linkcode BufferedReader.readFrame}
 * accepts, and the default limit of {@linkcode BufferedReader.readExactly},
 * in bytes: 1 MiB. A bigger announced length is refused before any byte of
 * it is read or allocated.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_FRAME_LENGTH, type FrameOptions } from "@x/socketserver";
 *
 * const big: FrameOptions = { maxFrameLength: 16 * DEFAULT_MAX_FRAME_LENGTH }; // 16 MiB
 * ```
 */
export const DEFAULT_MAX_FRAME_LENGTH = 1024 * 1024;

/**
 * How a frame is laid out: a length field of `lengthBytes` bytes, then the
 * payload. The defaults read what Python's `struct.pack(">L", len(data)) +
 * data` writes, as `logging.handlers.SocketHandler` sends its records.
 *
 * @example A 2-byte little-endian length that counts itself
 * ```ts
 * import { BufferedReader, type FrameOptions } from "@x/socketserver";
 * import assert from "node:assert/strict";
 *
 * const options: FrameOptions = { lengthBytes: 2, littleEndian: true, lengthAdjustment: -2 };
 * const reader = BufferedReader.from(new Uint8Array([5, 0, 104, 105, 33]));
 * assert.equal(new TextDecoder().decode((await reader.readFrame(options))!), "hi!");
 * ```
 */
export interface FrameOptions {
  /** The size of the length field in bytes: 1, 2, 4 or 8.
   * @default {4} */
  lengthBytes?: 1 | 2 | 4 | 8;
  /** Whether the length field is little-endian; big-endian (network order,
   * Python's `">L"`) by default.
   * @default {false} */
  littleEndian?: boolean;
  /** Added to the length field's value to give the payload's length, as in
   * Netty's `LengthFieldBasedFrameDecoder`: e.g. `-4` when a 4-byte field
   * counts itself. `writeFrame()` subtracts it.
   * @default {0} */
  lengthAdjustment?: number;
  /** The largest payload accepted, in bytes: a longer announced length throws
   * {@linkcode FrameTooLongError} before anything is read or allocated.
   * @default {DEFAULT_MAX_FRAME_LENGTH} */
  maxFrameLength?: number;
}
