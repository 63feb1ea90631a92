import assert from "node:assert/strict";
import { localhostCert } from "@x/socketserver/testing";

Deno.test("localhostCert is the same pair as tests/tls/localhost.crt and localhost.key", async () => {
  const dir = new URL("./tls/", import.meta.url);
  assert.equal(localhostCert.cert, await Deno.readTextFile(new URL("localhost.crt", dir)));
  assert.equal(localhostCert.key, await Deno.readTextFile(new URL("localhost.key", dir)));
  assert.ok(Object.isFrozen(localhostCert));
});
