/**
 * {@linkcode localhostCert}: a throwaway self-signed certificate for tests.
 *
 * @module
 */

/**
 * A self-signed certificate for `localhost`, `127.0.0.1` and `::1` with its
 * P-256 private key, valid until 2126: **for tests and examples only.** The
 * key is public (it is printed here), so anything it protects is readable by
 * anyone; never serve real traffic with it. Clients trust it by taking the
 * certificate as their only CA (`caCerts: [localhostCert.cert]`). Like Go's
 * `net/http/httptest` test certificate.
 *
 * @example A TLS server and a client that trusts it
 * ```ts
 * import { StreamRequestHandler, TLSServer } from "@x/socketserver";
 * import { localhostCert, withServer } from "@x/socketserver/testing";
 * import assert from "node:assert/strict";
 *
 * class Hello extends StreamRequestHandler<TLSServer> {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 * await withServer(TLSServer, Hello, { serverOptions: localhostCert }, async (server) => {
 *   const conn = await Deno.connectTls({
 *     hostname: "localhost",
 *     port: server.serverAddress.port,
 *     caCerts: [localhostCert.cert],
 *   });
 *   assert.equal(await new Response(conn.readable).text(), "hello\n");
 * });
 * ```
 */
export const localhostCert: { readonly cert: string; readonly key: string } = Object.freeze({
  cert: `-----BEGIN CERTIFICATE-----
MIIB0TCCAXegAwIBAgIUTOqCF12f1VHyfHznronsjU59yxwwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNjIyNTY1N1oYDzIxMjYxMTAy
MjI1NjU3WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQCODoiUKP/AhddL4RDEloc004TiZf4l8g983VnGgbptNn+KwbhEfhK
4D2Uoao5xFvPdYl8g/p2H+R/d0rQJ77no4GkMIGhMB0GA1UdDgQWBBQEubUgYQ57
agpfMexJVnceipANlDAfBgNVHSMEGDAWgBQEubUgYQ57agpfMexJVnceipANlDAs
BgNVHREEJTAjgglsb2NhbGhvc3SHBH8AAAGHEAAAAAAAAAAAAAAAAAAAAAEwDAYD
VR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEw
CgYIKoZIzj0EAwIDSAAwRQIgKVik6gC1r6STjKGcjiojm5A08R/XwsuBp2ui+/My
31MCIQCHTsDAM8NGx6KrNxiGBfrD1uBFrCfPGOzAAOXvjzAKAw==
-----END CERTIFICATE-----
`,
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgv6mF7t/udLt/mWEn
Z72ILAZUJWro5Pakut+2RXi2ciWhRANCAAQCODoiUKP/AhddL4RDEloc004TiZf4
l8g983VnGgbptNn+KwbhEfhK4D2Uoao5xFvPdYl8g/p2H+R/d0rQJ77n
-----END PRIVATE KEY-----
`,
});
