/**
 * CRC32C (Castagnoli), the checksum of the PROXY protocol's `PP2_TYPE_CRC32C`
 * TLV (RFC 4960, appendix B). Not exported from the package.
 *
 * @module
 */

/** The reflected Castagnoli polynomial 0x1EDC6F41. */
const POLY = 0x82f63b78;

let table: Uint32Array | null = null;

/** Built on first use, so that importing costs nothing until a header
 * carries a checksum. */
function crcTable(): Uint32Array {
  if (table !== null) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/**
 * Continues a CRC32C over `bytes`: start with `crc32cInit()`, feed the parts
 * in order, finish with `crc32cFinish()`.
 */
export function crc32cUpdate(state: number, bytes: Uint8Array): number {
  const t = crcTable();
  let c = state;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c;
}

/** The state before any byte. */
export function crc32cInit(): number {
  return 0xffffffff;
}

/** The checksum of everything fed, as an unsigned 32-bit number. */
export function crc32cFinish(state: number): number {
  return (state ^ 0xffffffff) >>> 0;
}

/** The CRC32C of `bytes`. */
export function crc32c(bytes: Uint8Array): number {
  return crc32cFinish(crc32cUpdate(crc32cInit(), bytes));
}
