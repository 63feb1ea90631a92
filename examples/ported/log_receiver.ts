/**
 * The logging cookbook's socket receiver ("Sending and receiving logging
 * events across a network"), ported: a `ThreadingTCPServer` whose handler
 * reads log records, each a 4-byte big-endian length and then the record,
 * and logs them with the receiver's own format. The records are JSON here,
 * not pickle: a sender subclasses `logging.handlers.SocketHandler` and
 * overrides `makePickle()` to send `json.dumps(record_dict)` behind the same
 * length prefix (see tests/fixtures/log_sender.py).
 *
 *     deno run --allow-net=localhost,127.0.0.1 examples/ported/log_receiver.ts [port]   # 9020
 *
 * Where the lines differ (Python → TypeScript):
 *
 * | Python                                                          | TypeScript                                                        |
 * | --------------------------------------------------------------- | ----------------------------------------------------------------- |
 * | `chunk = self.connection.recv(4)`, `if len(chunk) < 4: break`, `struct.unpack('>L', chunk)[0]`, then `recv(slen)` until whole | `const chunk = await this.rfile.readFrame({ maxFrameLength })`, `if (chunk === null) break`: the 4-byte big-endian length is the frame's default layout; the loop is built in |
 * | (the length is trusted: a sender saying 4 GiB gets 4 GiB read into memory) | a record longer than `MAX_RECORD_LENGTH` is refused before any of it is read (`FrameTooLongError`, a drop) |
 * | (a sender closing mid-record leaves the original spinning on `recv()` returning `b''`) | `IncompleteReadError`, a drop: the connection ends |
 * | `pickle.loads(data)`                                            | `JSON.parse(new TextDecoder().decode(data))`                      |
 * | `logging.makeLogRecord(obj)`, `logger.handle(record)`           | the few lines of `logging` below: Deno has no such module         |
 * | `allow_reuse_address = 1`                                       | `static override allowReuseAddress = true` (Deno's default)       |
 * | `ThreadingTCPServer.__init__(self, (host, port), handler)`      | `super([host, port], handler)`                                    |
 * | `self.timeout = 1`                                              | `this.timeout = 1000`: milliseconds                               |
 * | `select.select([self.socket.fileno()], [], [], self.timeout)`, then `handle_request()` | `await this.handleRequest()`: it waits at most `timeout` for a connection (Deno has no `fileno()`) |
 * | `DEFAULT_TCP_LOGGING_PORT`                                      | 9020, or the first argument                                       |
 *
 * @module
 */
import { StreamRequestHandler, ThreadingTCPServer } from "../../mod.ts";

/** Python's `logging.handlers.DEFAULT_TCP_LOGGING_PORT`. */
export const DEFAULT_TCP_LOGGING_PORT = 9020;

/** The longest record the receiver reads, in bytes: a sender announcing a
 * longer one is dropped before any of it is read. */
export const MAX_RECORD_LENGTH = 1024 * 1024;

/** A record as `SocketHandler` sends it: `LogRecord.__dict__`, `msg` already
 * merged with its `args`. */
export interface LogRecord {
  name: string;
  msg: string;
  args: unknown;
  levelname: string;
  relativeCreated: number;
  [attribute: string]: unknown;
}

/** As much of Python's `logging` as the receiver uses: `basicConfig(format=)`,
 * `getLogger(name).handle(record)` (to stderr, as `basicConfig`'s handler
 * writes) and `makeLogRecord(obj)`. */
export const logging = {
  format: "%(levelname)s:%(name)s:%(message)s",
  basicConfig({ format }: { format: string }): void {
    logging.format = format;
  },
  makeLogRecord(obj: Record<string, unknown>): LogRecord {
    return obj as LogRecord;
  },
  getLogger(name: string): { handle(record: LogRecord): void } {
    return {
      handle(record: LogRecord): void {
        const fields: Record<string, unknown> = { ...record, name, message: record.msg };
        // %(name)s, %(name)-15s, %(name)5d: Python's %-formatting of the record's attributes
        console.error(logging.format.replace(
          /%\((\w+)\)(-?)(\d*)([sd])/g,
          (_, key: string, left: string, width: string, type: string) => {
            const value = type === "d"
              ? String(Math.trunc(Number(fields[key])))
              : String(fields[key]);
            return left ? value.padEnd(Number(width)) : value.padStart(Number(width));
          },
        ));
      },
    };
  },
};

/** Handler for a streaming logging request.
 *
 * This basically logs the record using whatever logging policy is
 * configured locally. */
export class LogRecordStreamHandler extends StreamRequestHandler<LogRecordSocketReceiver> {
  /** Handle multiple requests - each expected to be a 4-byte length,
   * followed by the LogRecord in JSON format. Logs the record
   * according to whatever policy is configured locally. */
  override async handle() {
    for (;;) {
      const chunk = await this.rfile.readFrame({ maxFrameLength: MAX_RECORD_LENGTH });
      if (chunk === null) break;
      const obj = this.unPickle(chunk);
      const record = logging.makeLogRecord(obj);
      this.handleLogRecord(record);
    }
  }

  unPickle(data: Uint8Array): Record<string, unknown> {
    return JSON.parse(new TextDecoder().decode(data));
  }

  handleLogRecord(record: LogRecord): void {
    // if a name is specified, we use the named logger rather than the one
    // implied by the record.
    const name = this.server.logname !== null ? this.server.logname : record.name;
    const logger = logging.getLogger(name);
    // N.B. EVERY record gets logged. This is because Logger.handle
    // is normally called AFTER logger-level filtering. If you want
    // to do filtering, do it at the client end to save wasting
    // cycles and network bandwidth!
    logger.handle(record);
  }
}

/** Simple TCP socket-based logging receiver suitable for testing. */
export class LogRecordSocketReceiver extends ThreadingTCPServer {
  static override allowReuseAddress = true;

  abort: number;
  logname: string | null;

  constructor(
    host = "localhost",
    port = DEFAULT_TCP_LOGGING_PORT,
    handler = LogRecordStreamHandler,
  ) {
    super([host, port], handler);
    this.abort = 0;
    this.timeout = 1000;
    this.logname = null;
  }

  async serveUntilStopped(): Promise<void> {
    let abort = 0;
    while (!abort) {
      await this.handleRequest();
      abort = this.abort;
    }
  }
}

async function main() {
  logging.basicConfig({
    format: "%(relativeCreated)5d %(name)-15s %(levelname)-8s %(message)s",
  });
  const port = Number(Deno.args[0] ?? DEFAULT_TCP_LOGGING_PORT);
  const tcpserver = new LogRecordSocketReceiver(undefined, port);
  console.log("About to start TCP server...");
  await tcpserver.serveUntilStopped();
}

if (import.meta.main) {
  await main();
}
