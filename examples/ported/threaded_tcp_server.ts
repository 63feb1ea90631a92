/**
 * The `socketserver` documentation's "Asynchronous Mixins" example, ported
 * line by line: a `ThreadingMixIn` server, and three clients in the same
 * script that each send a line and print the reply.
 *
 *     deno run --allow-net=localhost,127.0.0.1 examples/ported/threaded_tcp_server.ts
 *
 * Where the lines differ (Python → TypeScript):
 *
 * | Python                                                   | TypeScript                                                       |
 * | -------------------------------------------------------- | ---------------------------------------------------------------- |
 * | `str(self.request.recv(1024), 'ascii')`                  | `this.request.read(buffer)`, then `TextDecoder` (UTF-8)          |
 * | `threading.current_thread().name` (`Thread-2`)           | a number per request task (`Task-1`): JavaScript tasks have no names |
 * | `self.request.sendall(response)`                         | `await sendall(this.request, response)`                          |
 * | `class ThreadedTCPServer(ThreadingMixIn, TCPServer)`     | `class ThreadedTCPServer extends ThreadingMixIn(TCPServer)`      |
 * | `with socket.socket(AF_INET, SOCK_STREAM) as sock:`      | `using sock = await Deno.connect({ hostname: ip, port })`        |
 * | `server = ...; with server:`                             | `await using server = ...`                                       |
 * | `ip, port = server.server_address`                       | `const { hostname: ip, port } = server.serverAddress`            |
 * | `threading.Thread(target=server.serve_forever).start()`  | `const serving = server.serveForever()`: a task, not awaited yet |
 * | `server_thread.daemon = True`                            | — (nothing to keep the process alive once `serving` ends)        |
 * | `server.shutdown()`                                      | `await server.shutdown()`, then `await serving`                  |
 *
 * @module
 */
import { BaseRequestHandler, sendall, TCPServer, ThreadingMixIn } from "../../mod.ts";

export class ThreadedTCPRequestHandler extends BaseRequestHandler {
  /** How many requests have had a task: Python's thread counter, for `Task-N`. */
  static tasks = 0;

  override async handle() {
    const buffer = new Uint8Array(1024);
    const n = await this.request.read(buffer) ?? 0;
    const data = new TextDecoder().decode(buffer.subarray(0, n));
    const curTask = `Task-${++ThreadedTCPRequestHandler.tasks}`;
    const response = `${curTask}: ${data}`;
    await sendall(this.request, response);
  }
}

export class ThreadedTCPServer extends ThreadingMixIn(TCPServer) {}

export async function client(ip: string, port: number, message: string): Promise<void> {
  using sock = await Deno.connect({ hostname: ip, port });
  await sendall(sock, message);
  const buffer = new Uint8Array(1024);
  const n = await sock.read(buffer) ?? 0;
  const response = new TextDecoder().decode(buffer.subarray(0, n));
  console.log(`Received: ${response}`);
}

if (import.meta.main) {
  // Port 0 means to select an arbitrary unused port
  const [HOST, PORT] = ["localhost", 0];

  await using server = new ThreadedTCPServer([HOST, PORT], ThreadedTCPRequestHandler);
  const { hostname: ip, port } = server.serverAddress;

  // Start a task with the server -- that task will then start one
  // more task for each request
  const serving = server.serveForever();
  console.log("Server loop running in task:", "serveForever()");

  await client(ip, port, "Hello World 1");
  await client(ip, port, "Hello World 2");
  await client(ip, port, "Hello World 3");

  await server.shutdown();
  await serving;
}
