/**
 * The seed's client: sends its arguments as one line and prints the reply.
 *
 *     deno run -A examples/echo_client.ts hello world   # HOST, PORT override localhost:9999
 *
 * @module
 */
import { sendall } from "../mod.ts";

if (import.meta.main) {
  const HOST = Deno.env.get("HOST") ?? "localhost";
  const PORT = Number(Deno.env.get("PORT") ?? 9999);
  const data = Deno.args.join(" ");

  // Connect to the server and send the data
  const conn = await Deno.connect({ hostname: HOST, port: PORT });
  let received: string;
  try {
    await sendall(conn, data + "\n");
    // Receive data from the server and shut down
    const buffer = new Uint8Array(1024);
    const n = await conn.read(buffer) ?? 0;
    received = new TextDecoder().decode(buffer.subarray(0, n));
  } finally {
    conn.close();
  }

  console.log(`Sent:     ${data}`);
  console.log(`Received: ${received}`);
}
