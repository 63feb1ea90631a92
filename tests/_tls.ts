/**
 * The tests' throwaway self-signed certificate for `localhost` (tests/tls/):
 * public, for tests only.
 *
 * @module
 */

/** The certificate's path, for tools that read a file (openssl, balancers). */
export const CERT_PATH: string = new URL("./tls/localhost.crt", import.meta.url).pathname;
/** The private key's path. */
export const KEY_PATH: string = new URL("./tls/localhost.key", import.meta.url).pathname;
/** The certificate, PEM. */
export const cert: string = Deno.readTextFileSync(CERT_PATH);
/** The private key, PEM. */
export const key: string = Deno.readTextFileSync(KEY_PATH);
