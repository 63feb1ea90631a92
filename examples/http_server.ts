/**
 * A small HTTP/1.1 server on `StreamRequestHandler`, the way Python's
 * `http.server` stands on `socketserver`: the request line and headers parsed
 * with limits, `Content-Length` bodies, keep-alive, `HEAD`, and the error
 * answers a server owes (400, 404, 405, 413, 414, 431, 501, 505).
 *
 * Routes: `GET /` a hello page; `/echo` (GET, HEAD, POST, PUT) the request as
 * received, as `message/http`.
 *
 *     deno run -A examples/http_server.ts [port]      # default 8000
 *     curl -i localhost:8000/ localhost:8000/echo
 *
 * @module
 */
import { LineTooLongError, StreamRequestHandler, ThreadingTCPServer } from "../mod.ts";
import { concat, isDisconnect, listenAddress, serveUntilSignal } from "./_common.ts";

/** The hello page. */
export const HELLO: Uint8Array<ArrayBuffer> = new TextEncoder().encode(
  "<!doctype html>\n<title>Hello</title>\n<h1>Hello, world!</h1>\n",
);
/** Path → the methods it answers. */
const ROUTES: Record<string, string[]> = {
  "/": ["GET", "HEAD"],
  "/echo": ["GET", "HEAD", "POST", "PUT"],
};
const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Content Too Large",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  505: "HTTP Version Not Supported",
};
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) (HTTP\/\d\.\d)\r?\n$/;
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*\r?\n$/;
/** RFC 3986's `host [ ":" port ]`: an IP literal in brackets, or a reg-name / IPv4 address
 * (unreserved, sub-delims, %-escapes); empty is valid (RFC 9112 §3.2). */
const HOST_VALUE =
  /^(?:\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[\w\-.~!$&'()*+,;=:]+)\]|(?:[\w\-.~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;
/** Bytes to text, one char per byte (`TextDecoder("latin1")` is really windows-1252). */
const latin1 = (b: Uint8Array) => String.fromCharCode.apply(null, b as unknown as number[]);
const isBlank = (line: Uint8Array) =>
  (line.length === 1 && line[0] === 0x0a) ||
  (line.length === 2 && line[0] === 0x0d && line[1] === 0x0a);
const encoder = new TextEncoder();

/** An answer that ends the request early: status and a short reason for the body. */
class HTTPError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** One connection: requests in a loop while the client keeps the connection alive.
 * Names follow Python's `BaseHTTPRequestHandler` (`command`, `path`,
 * `requestVersion`, `headers`, `closeConnection`, `handleOneRequest()`). */
export class HTTPRequestHandler extends StreamRequestHandler {
  /** How long one read may wait, in ms: the idle keep-alive timeout too. */
  override timeout: number | null = 10_000;
  /** The longest request line (else 414) or header line (else 431), CRLF included. */
  override maxLineLength = 8 * 1024;
  /** The most header lines a request may have (else 431). Python's limit too. */
  maxHeaders = 100;
  /** The largest `Content-Length` accepted (else 413). */
  maxBodyLength = 1024 * 1024;
  /** How long one write may wait for a client that reads nothing, in ms; then
   * the connection closes (a routine drop). */
  override writeTimeout: number | null = 10_000;
  /** How long `lingeringClose()` may read and discard input, in ms. */
  lingerTimeout = 2_000;
  /** The `Server` header. */
  serverVersion = "socketserver-deno/0.1";

  command = "";
  path = "";
  requestVersion = "";
  headers: Headers = new Headers();
  body: Uint8Array = new Uint8Array();
  closeConnection = true;
  /** The request line and header lines as received, for `/echo`. */
  #head: Uint8Array[] = [];

  // A client gone, or idle past `timeout`, ends handle() with an error the
  // server counts as a routine drop (handleDrop(), silent): nothing to answer.
  override async handle(): Promise<void> {
    do await this.handleOneRequest(); while (!this.closeConnection);
  }

  /** Reads one request and answers it; sets `closeConnection`. */
  async handleOneRequest(): Promise<void> {
    this.closeConnection = true;
    try {
      if (!await this.parseRequest()) return; // EOF: the client is done
    } catch (error) {
      if (!(error instanceof HTTPError)) throw error;
      this.closeConnection = true; // after a malformed request the stream cannot be trusted
      await this.sendError(error.status, error.message);
      return await this.lingeringClose();
    }
    const path = this.path.replace(/^https?:\/\/[^/]*/, "").split("?")[0] || "/";
    const allowed = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined;
    if (!allowed) return await this.sendError(404, `Nothing at "${path}"`);
    if (!allowed.includes(this.command)) {
      return await this.sendError(405, `${path} answers ${allowed.join(", ")}`, {
        Allow: allowed.join(", "),
      });
    }
    if (path === "/") {
      return await this.send(200, HELLO, { "Content-Type": "text/html; charset=utf-8" });
    }
    const echo = [...this.#head, encoder.encode("\r\n"), this.body];
    await this.send(200, concat(echo), { "Content-Type": "message/http" });
  }

  /** Reads the request line, the headers and the body. Resolves to false at
   * EOF before a request; throws {@linkcode HTTPError} for a bad one. */
  async parseRequest(): Promise<boolean> {
    this.command = this.requestVersion = "";
    let line = await this.#readline(414, "Request line too long");
    if (isBlank(line)) {
      line = await this.#readline(414, "Request line too long"); // one stray CRLF is allowed
    }
    if (line.length === 0) return false;
    const match = REQUEST_LINE.exec(latin1(line));
    if (!match || !/^(\/|https?:\/\/)/.test(match[2])) throw new HTTPError(400, "Bad request line");
    [, this.command, this.path, this.requestVersion] = match;
    if (!/^HTTP\/1\.[01]$/.test(this.requestVersion)) {
      throw new HTTPError(505, `${this.requestVersion} is not supported: use HTTP/1.1`);
    }
    this.#head = [line];
    this.headers = new Headers();
    for (;;) {
      const line = await this.#readline(431, "Header line too long");
      if (line.length === 0) return false;
      if (isBlank(line)) break;
      if (this.#head.length > this.maxHeaders) throw new HTTPError(431, "Too many headers");
      const header = HEADER_LINE.exec(latin1(line)); // no space before the colon (RFC 9112 §5.1)
      if (!header) throw new HTTPError(400, "Bad header line");
      if (header[1].toLowerCase() === "host" && this.headers.has("host")) {
        throw new HTTPError(400, "More than one Host header"); // RFC 9112 §3.2: a MUST
      }
      try {
        this.headers.append(header[1], header[2]);
      } catch {
        throw new HTTPError(400, "Bad header value"); // a control character
      }
      this.#head.push(line);
    }
    const version = this.requestVersion;
    const host = this.headers.get("host");
    if (version === "HTTP/1.1" && host === null) throw new HTTPError(400, "Missing Host header");
    if (host !== null && !HOST_VALUE.test(host)) throw new HTTPError(400, "Bad Host header");
    const connection = this.headers.get("connection")?.toLowerCase().split(/\s*,\s*/) ?? [];
    this.closeConnection = connection.includes("close") ||
      (version === "HTTP/1.0" && !connection.includes("keep-alive"));
    return await this.#readBody();
  }

  async #readBody(): Promise<boolean> {
    const codings = this.headers.get("transfer-encoding");
    if (codings !== null) {
      // RFC 9112 §6.1, §6.3: a body whose length cannot be told (chunked not last, or an
      // HTTP/1.0 request) must get 400; chunked would be readable, but is not implemented here.
      const last = codings.split(",").at(-1)!.trim().toLowerCase();
      if (last !== "chunked" || this.requestVersion === "HTTP/1.0") {
        throw new HTTPError(400, "Bad Transfer-Encoding: the body's length cannot be told");
      }
      throw new HTTPError(501, "Transfer-Encoding is not supported: send a Content-Length");
    }
    const length = this.headers.get("content-length") ?? "0";
    if (!/^[0-9]{1,15}$/.test(length)) throw new HTTPError(400, "Bad Content-Length");
    if (Number(length) > this.maxBodyLength) {
      throw new HTTPError(413, `The body may have at most ${this.maxBodyLength} bytes`);
    }
    if (
      this.headers.get("expect")?.toLowerCase() === "100-continue" &&
      this.requestVersion === "HTTP/1.1"
    ) {
      await this.wfile.write("HTTP/1.1 100 Continue\r\n\r\n");
    }
    this.body = await this.rfile.read(Number(length));
    return this.body.length === Number(length);
  }

  /** Sends a complete response in one write; `HEAD` gets the headers only. */
  async send(
    status: number,
    body: Uint8Array,
    headers: Record<string, string> = {},
  ): Promise<void> {
    let head = `HTTP/1.1 ${status} ${REASONS[status]}\r\nServer: ${this.serverVersion}\r\n` +
      `Date: ${new Date().toUTCString()}\r\nContent-Length: ${body.length}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    if (this.closeConnection) head += "Connection: close\r\n";
    else if (this.requestVersion === "HTTP/1.0") head += "Connection: keep-alive\r\n";
    const bytes = encoder.encode(head + "\r\n");
    await this.wfile.write(this.command === "HEAD" ? bytes : concat([bytes, body]));
  }

  /** Sends an error page: the status and why, as text. */
  sendError(status: number, message: string, headers: Record<string, string> = {}): Promise<void> {
    const body = encoder.encode(`${status} ${REASONS[status]}: ${message}\n`);
    return this.send(status, body, { "Content-Type": "text/plain; charset=utf-8", ...headers });
  }

  /**
   * Ends a connection whose request was answered but perhaps not read to its
   * end (a body sent without waiting for `100 Continue`, pipelined requests):
   * shuts the write side, so the client gets the answer and then EOF, and
   * discards what it still sends until it closes, for at most
   * `lingerTimeout`. A connection closed with unread input is reset, and the
   * reset can reach the client before it has read the answer.
   */
  async lingeringClose(): Promise<void> {
    const rfile = this.rfile;
    rfile.idleTimeout = rfile.requestTimeout = null;
    const deadline = performance.now() + this.lingerTimeout;
    try {
      await this.request.closeWrite();
      for (let left = this.lingerTimeout; left > 0; left = deadline - performance.now()) {
        rfile.timeout = left;
        if ((await rfile.read1()).length === 0) return; // EOF: the client has closed
      }
    } catch (error) {
      if (!isDisconnect(error)) throw error; // a timeout is one too
    }
  }

  /** A line, or an HTTPError with `status` when it is longer than `maxLineLength`. */
  async #readline(status: number, message: string): Promise<Uint8Array> {
    try {
      return await this.rfile.readline();
    } catch (error) {
      if (error instanceof LineTooLongError) throw new HTTPError(status, message);
      throw error;
    }
  }
}

if (import.meta.main) {
  const server = new ThreadingTCPServer(listenAddress(8000), HTTPRequestHandler);
  await serveUntilSignal(server, "HTTP server");
}
