/**
 * Python's `http.server` ported, as far as a small server needs it:
 * `HTTPServer` (whose `serverBind()` stores `serverName` and `serverPort`),
 * `ThreadingHTTPServer`, and `BaseHTTPRequestHandler` with its request-line
 * parsing (`readline(65537)`, 414 past 65,536 bytes), headers, error pages
 * and access log; then a user's handler with `do_GET`, and a server whose
 * `handleError()` logs one line instead of a traceback.
 *
 *     deno run --allow-net examples/ported/http_server.ts [-b ADDRESS] [port]   # all interfaces, 8000
 *     curl -i localhost:8000/
 *
 * Where the lines differ (Python → TypeScript):
 *
 * | Python                                                  | TypeScript                                                           |
 * | ------------------------------------------------------- | -------------------------------------------------------------------- |
 * | `self.server_name = ...` in `server_bind()`             | `declare serverName: string`: a field would reset it after the bind  |
 * | `socket.getfqdn(host)`                                  | `host`, or `Deno.hostname()` for all interfaces: no DNS lookup here  |
 * | `host, port = httpd.socket.getsockname()[:2]`           | `httpd.serverName`, `httpd.serverPort`, which `serverBind()` set     |
 * | `allow_reuse_address = 1`                               | `static override allowReuseAddress = true` (Deno's default)          |
 * | `daemon_threads = True`                                 | `static override daemonThreads = true`                               |
 * | `handle_error(self, request, client_address)`           | `handleError(request, clientAddress, error)`: no `sys.exc_info()`    |
 * | `http.client.parse_headers(self.rfile)`                 | `Headers`, read with the same `readline(65537)` and 100-header limit |
 * | `mname = 'do_' + self.command; getattr(self, mname)`    | the same, on `this`; `do_GET` keeps its name, and may be async       |
 * | `self.log_message(format, *args)`                       | `this.logMessage(message)`, with a template literal                  |
 * | `except TimeoutError`                                   | `error instanceof Deno.errors.TimedOut`                              |
 * | `except KeyboardInterrupt:`                             | a SIGINT listener that aborts the server's `signal`                  |
 * | `test(HandlerClass, ServerClass, protocol, port, bind)` | no `protocol`: a subclass sets `protocolVersion`                     |
 *
 * @module
 */
import { StreamRequestHandler, TCPServer, ThreadingMixIn } from "../../mod.ts";

/** Default error message template (CPython's). */
export function defaultErrorMessage(code: number, message: string, explain: string): string {
  return `<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: ${code}</p>
        <p>Message: ${message}.</p>
        <p>Error code explanation: ${code} - ${explain}.</p>
    </body>
</html>
`;
}

/** Bytes to text, one char per byte: Python's iso-8859-1 (`TextDecoder`'s "latin1" is windows-1252). */
const latin1 = (bytes: Uint8Array) => {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
};
const escape = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => String(n).padStart(2, "0");

/** The current time formatted for logging: `07/Dec/2025 01:23:45`, local time. */
export function logDateTimeString(): string {
  const d = new Date();
  return `${two(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export class HTTPServer extends TCPServer {
  static override allowReuseAddress = true; // Seems to make sense in testing environment

  declare serverName: string;
  declare serverPort: number;

  /** Override serverBind to store the server name. */
  override serverBind(): void {
    super.serverBind();
    const { hostname: host, port } = this.serverAddress;
    this.serverName = host === "0.0.0.0" || host === "::" ? Deno.hostname() : host;
    this.serverPort = port;
  }

  /** One line in the access log's format, where socketserver prints a
   * traceback between two lines of dashes; the server goes on serving. */
  override handleError(_request: Deno.TcpConn, clientAddress: Deno.NetAddr, error: unknown): void {
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    console.error(`${clientAddress.hostname} - - [${logDateTimeString()}] error: ${why}`);
  }
}

export class ThreadingHTTPServer extends ThreadingMixIn(HTTPServer) {
  static override daemonThreads = true;
}

/** HTTP request handler base class: parses the request, then calls
 * `do_<command>()`, which a subclass defines (`do_GET`, `do_POST`, ...). */
export class BaseHTTPRequestHandler extends StreamRequestHandler<HTTPServer> {
  /** Status code → [short message, long message]: the ones this server sends. */
  static responses: Record<number, [string, string]> = {
    100: ["Continue", "Request received, please continue"],
    200: ["OK", "Request fulfilled, document follows"],
    400: ["Bad Request", "Bad request syntax or unsupported method"],
    404: ["Not Found", "Nothing matches the given URI"],
    414: ["URI Too Long", "URI is too long"],
    431: [
      "Request Header Fields Too Large",
      "The server refused this request because the request header fields are too large",
    ],
    501: ["Not Implemented", "Server does not support this operation"],
    505: ["HTTP Version Not Supported", "Cannot fulfill request"],
  };

  /** The runtime's version, as Python's `sys_version`. */
  sysVersion = `Deno/${Deno.version.deno}`;
  /** The server software version. You may want to override this. */
  serverVersion = "BaseHTTP/0.6";
  errorContentType = "text/html;charset=utf-8";
  /** The default request version: what a malformed request line is answered in. */
  defaultRequestVersion = "HTTP/0.9";
  /** The version this server speaks: HTTP/1.0 closes after each response. */
  protocolVersion = "HTTP/1.0";

  rawRequestline: Uint8Array = new Uint8Array();
  requestline = "";
  command: string | null = null;
  path = "";
  requestVersion = "";
  headers: Headers = new Headers();
  closeConnection = true;
  #headersBuffer: string[] = [];

  /** Parses `rawRequestline` and the headers. Resolves to true for success;
   * on failure an error is sent back and it resolves to false. */
  async parseRequest(): Promise<boolean> {
    this.command = null; // set in case of error on the first line
    let version = this.requestVersion = this.defaultRequestVersion;
    this.closeConnection = true;
    let requestline = latin1(this.rawRequestline);
    requestline = requestline.replace(/[\r\n]+$/, "");
    this.requestline = requestline;
    const words = requestline.split(/\s+/).filter((w) => w !== "");
    if (words.length === 0) return false;

    if (words.length >= 3) { // Enough to determine protocol version
      version = words.at(-1)!;
      const number = /^HTTP\/(\d{1,10})\.(\d{1,10})$/.exec(version);
      if (!number) {
        await this.sendError(400, `Bad request version ('${version}')`);
        return false;
      }
      const [major, minor] = [Number(number[1]), Number(number[2])];
      if ((major > 1 || (major === 1 && minor >= 1)) && this.protocolVersion >= "HTTP/1.1") {
        this.closeConnection = false;
      }
      if (major >= 2) {
        await this.sendError(505, `Invalid HTTP version (${number[1]}.${number[2]})`);
        return false;
      }
      this.requestVersion = version;
    }

    if (!(2 <= words.length && words.length <= 3)) {
      await this.sendError(400, `Bad request syntax ('${requestline}')`);
      return false;
    }
    const [command, path] = words;
    if (words.length === 2) {
      this.closeConnection = true;
      if (command !== "GET") {
        await this.sendError(400, `Bad HTTP/0.9 request type ('${command}')`);
        return false;
      }
    }
    this.command = command;
    this.path = path.startsWith("//") ? "/" + path.replace(/^\/+/, "") : path;

    // Examine the headers and look for a Connection directive.
    this.headers = new Headers();
    for (let count = 0;; count++) {
      const line = await this.rfile.readline(65537);
      if (line.length > 65536) {
        await this.sendError(431, "Line too long", "header line");
        return false;
      }
      if (count >= 100) {
        await this.sendError(431, "Too many headers", "got more than 100 headers");
        return false;
      }
      const text = latin1(line).replace(/\r?\n$/, "");
      if (text === "") break; // the blank line, or EOF
      const colon = text.indexOf(":");
      try {
        this.headers.append(text.slice(0, colon), text.slice(colon + 1).trim());
      } catch {
        // a line that is no header: Python's email parser records a defect and goes on
      }
    }

    const conntype = this.headers.get("Connection") ?? "";
    if (conntype.toLowerCase() === "close") {
      this.closeConnection = true;
    } else if (conntype.toLowerCase() === "keep-alive" && this.protocolVersion >= "HTTP/1.1") {
      this.closeConnection = false;
    }
    // Examine the headers and look for an Expect directive
    const expect = this.headers.get("Expect") ?? "";
    if (
      expect.toLowerCase() === "100-continue" && this.protocolVersion >= "HTTP/1.1" &&
      this.requestVersion >= "HTTP/1.1"
    ) {
      if (!await this.handleExpect100()) return false;
    }
    return true;
  }

  /** Answers "Expect: 100-continue" with 100 Continue; override to refuse. */
  async handleExpect100(): Promise<boolean> {
    this.sendResponseOnly(100);
    await this.endHeaders();
    return true;
  }

  /** Handles a single HTTP request. */
  async handleOneRequest(): Promise<void> {
    try {
      this.rawRequestline = await this.rfile.readline(65537);
      if (this.rawRequestline.length > 65536) {
        this.requestline = "";
        this.requestVersion = "";
        this.command = "";
        await this.sendError(414);
        return;
      }
      if (this.rawRequestline.length === 0) {
        this.closeConnection = true;
        return;
      }
      if (!await this.parseRequest()) {
        // An error code has been sent, just exit
        return;
      }
      const mname = "do_" + this.command;
      const method = (this as unknown as Record<string, unknown>)[mname];
      if (typeof method !== "function") {
        await this.sendError(501, `Unsupported method ('${this.command}')`);
        return;
      }
      await method.call(this);
      await this.wfile.flush(); // actually send the response if not already done.
    } catch (error) {
      if (!(error instanceof Deno.errors.TimedOut)) throw error;
      // a read or a write timed out.  Discard this connection
      this.logError(`Request timed out: ${error.message}`);
      this.closeConnection = true;
    }
  }

  /** Handles multiple requests if necessary. */
  override async handle(): Promise<void> {
    this.closeConnection = true;
    await this.handleOneRequest();
    while (!this.closeConnection) await this.handleOneRequest();
  }

  /** Sends and logs an error reply, with a page explaining it. */
  async sendError(code: number, message?: string, explain?: string): Promise<void> {
    const [shortmsg, longmsg] = BaseHTTPRequestHandler.responses[code] ?? ["???", "???"];
    message ??= shortmsg;
    explain ??= longmsg;
    this.logError(`code ${code}, message ${message}`);
    this.sendResponse(code, message);
    this.sendHeader("Connection", "close");

    let body: Uint8Array | null = null;
    if (code >= 200 && ![204, 205, 304].includes(code)) {
      const content = defaultErrorMessage(code, escape(message), escape(explain));
      body = new TextEncoder().encode(content);
      this.sendHeader("Content-Type", this.errorContentType);
      this.sendHeader("Content-Length", String(body.length));
    }
    await this.endHeaders();
    if (this.command !== "HEAD" && body) await this.wfile.write(body);
  }

  /** Adds the response line to the headers buffer and logs the response
   * code; adds the `Server` and `Date` headers. */
  sendResponse(code: number, message?: string): void {
    this.logRequest(code);
    this.sendResponseOnly(code, message);
    this.sendHeader("Server", this.versionString());
    this.sendHeader("Date", this.dateTimeString());
  }

  /** Adds the response line only. */
  sendResponseOnly(code: number, message?: string): void {
    message ??= BaseHTTPRequestHandler.responses[code]?.[0] ?? "";
    if (this.requestVersion !== "HTTP/0.9") {
      this.#headersBuffer.push(`${this.protocolVersion} ${code} ${message}\r\n`);
    }
  }

  /** Adds a header to the headers buffer. */
  sendHeader(keyword: string, value: string): void {
    if (this.requestVersion !== "HTTP/0.9") this.#headersBuffer.push(`${keyword}: ${value}\r\n`);
    if (keyword.toLowerCase() === "connection") {
      if (value.toLowerCase() === "close") this.closeConnection = true;
      else if (value.toLowerCase() === "keep-alive") this.closeConnection = false;
    }
  }

  /** Adds the blank line ending the headers, and sends them. */
  async endHeaders(): Promise<void> {
    if (this.requestVersion !== "HTTP/0.9") {
      this.#headersBuffer.push("\r\n");
      await this.flushHeaders();
    }
  }

  async flushHeaders(): Promise<void> {
    const head = this.#headersBuffer.join("");
    this.#headersBuffer = [];
    if (head) await this.wfile.write(Uint8Array.from(head, (c) => c.charCodeAt(0))); // latin-1
  }

  /** Logs an accepted request; called by sendResponse(). */
  logRequest(code: number | string = "-", size: number | string = "-"): void {
    this.logMessage(`"${this.requestline}" ${code} ${size}`);
  }

  /** Logs an error: by default, as any other message. */
  logError(message: string): void {
    this.logMessage(message);
  }

  /** Logs a message to stderr, with the client's address and the time;
   * control characters are escaped, as Python does. */
  logMessage(message: string): void {
    // deno-lint-ignore no-control-regex
    const safe = message.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
      return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
    });
    console.error(`${this.addressString()} - - [${logDateTimeString()}] ${safe}`);
  }

  /** The server software version string. */
  versionString(): string {
    return `${this.serverVersion} ${this.sysVersion}`;
  }

  /** The current date and time formatted for a message header. */
  dateTimeString(): string {
    return new Date().toUTCString();
  }

  /** The client's address. */
  addressString(): string {
    return this.clientAddress.hostname;
  }
}

/** A user's handler: a page saying where the server listens, and a path
 * whose `do_GET` throws, to show `handleError()`. */
export class HelloHandler extends BaseHTTPRequestHandler {
  override serverVersion = "HelloHTTP/0.1";

  async do_GET(): Promise<void> {
    if (this.path === "/fail") throw new Error("do_GET failed on purpose");
    if (this.path !== "/") return await this.sendError(404, "File not found");
    const { serverName, serverPort } = this.server;
    const body = new TextEncoder().encode(`Hello from ${serverName} port ${serverPort}\n`);
    this.sendResponse(200);
    this.sendHeader("Content-Type", "text/plain; charset=utf-8");
    this.sendHeader("Content-Length", String(body.length));
    await this.endHeaders();
    await this.wfile.write(body);
  }
}

/** http.server's `test()`: serves `HandlerClass` on `bind`:`port` until Ctrl-C. */
export async function test(
  HandlerClass = HelloHandler,
  ServerClass = ThreadingHTTPServer,
  port = 8000,
  bind = "",
): Promise<void> {
  const interrupt = new AbortController();
  const interrupted = () => {
    console.log("\nKeyboard interrupt received, exiting.");
    interrupt.abort();
  };
  Deno.addSignalListener("SIGINT", interrupted);
  try {
    await using httpd = new ServerClass([bind, port], HandlerClass, { signal: interrupt.signal });
    const [host, boundPort] = [httpd.serverName, httpd.serverPort];
    const urlHost = host.includes(":") ? `[${host}]` : host;
    console.log(`Serving HTTP on ${host} port ${boundPort} (http://${urlHost}:${boundPort}/) ...`);
    await httpd.serveForever();
  } finally {
    Deno.removeSignalListener("SIGINT", interrupted);
  }
}

if (import.meta.main) {
  // python -m http.server [-b ADDRESS] [port]
  const args = [...Deno.args];
  const b = args.findIndex((arg) => arg === "-b" || arg === "--bind");
  const bind = b >= 0 ? args.splice(b, 2)[1] : "";
  await test(HelloHandler, ThreadingHTTPServer, Number(args[0] ?? 8000), bind);
}
