/**
 * The bytes `rfile` and a datagram handler hand out are typed
 * `Uint8Array<ArrayBuffer>`, so that the Web APIs taking a `BufferSource`
 * or a `BlobPart` accept them: this file does not type-check otherwise
 * (`deno test` and `deno check` type-check it), and at run time each use
 * gives the bytes back.
 */
import assert from "node:assert/strict";
import { BufferedReader, type DatagramRequest, DatagramRequestHandler, UDPServer } from "../mod.ts";
import { decoder, encoder } from "./_net.ts";

async function sha256(bytes: BufferSource): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const HELLO_SHA256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"; // "hello\n"

Deno.test("readline(), read(), read1() and iteration give Uint8Array<ArrayBuffer>, which crypto.subtle.digest(), Blob and Response take", async () => {
  const reader = new BufferedReader({
    read: (() => {
      const chunks = [encoder.encode("hello\nhello\nhello\nhello\nrest")];
      return (p: Uint8Array) => {
        const chunk = chunks.shift();
        if (chunk === undefined) return Promise.resolve(null);
        p.set(chunk);
        return Promise.resolve(chunk.length);
      };
    })(),
  });
  const line: Uint8Array<ArrayBuffer> = await reader.readline();
  assert.equal(await sha256(line), HELLO_SHA256);
  const cut: Uint8Array<ArrayBuffer> = await reader.readline(6);
  assert.equal(await new Blob([cut]).text(), "hello\n");
  const some: Uint8Array<ArrayBuffer> = await reader.read(6);
  assert.equal(await new Response(some).text(), "hello\n");
  const one: Uint8Array<ArrayBuffer> = await reader.read1(6);
  assert.equal(await sha256(one), HELLO_SHA256);
  for await (const rest of reader) {
    const bytes: Uint8Array<ArrayBuffer> = rest;
    assert.equal(await new Blob([bytes]).text(), "rest");
  }
});

Deno.test("DatagramRequestHandler.packet and request[0] are Uint8Array<ArrayBuffer>, which crypto.subtle.digest() takes", async () => {
  const digests: string[] = [];
  class Digest extends DatagramRequestHandler {
    override async handle() {
      const packet: Uint8Array<ArrayBuffer> = this.packet;
      const [first]: DatagramRequest = this.request;
      const same: Uint8Array<ArrayBuffer> = first;
      digests.push(await sha256(packet), await sha256(same));
      const line: Uint8Array<ArrayBuffer> = await this.rfile.readline();
      await this.wfile.write(await new Blob([line]).bytes());
    }
  }
  await using server = new UDPServer({ hostname: "127.0.0.1", port: 0 }, Digest);
  server.serveForever();
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await client.send(encoder.encode("hello\n"), server.serverAddress);
    const [reply] = await client.receive();
    assert.equal(decoder.decode(reply), "hello\n");
  } finally {
    client.close();
  }
  assert.deepEqual(digests, [HELLO_SHA256, HELLO_SHA256]);
});
