/**
 * A Redis-protocol (RESP2) key-value server: PING, ECHO, SET (EX/PX, NX/XX),
 * GET, DEL, EXISTS, INCR, DBSIZE, FLUSHALL, QUIT, CONFIG GET/SET and INFO,
 * with Redis's own error replies, inline commands and pipelining, and
 * bounded memory: a `maxmemory` cap (writes get Redis's OOM error past it),
 * a cap on one command's size and a deadline for finishing it.
 * `redis-cli` and `redis-benchmark` talk to it.
 *
 *     deno run -A examples/resp_server.ts [port]      # default 6379
 *     MAXMEMORY=256mb deno run -A examples/resp_server.ts   # default 64mb; 0: no cap
 *     redis-cli -p 6379 SET greeting hello EX 60
 *     redis-cli -p 6379 CONFIG SET maxmemory 1gb
 *
 * @module
 */
import {
  BufferedReader,
  DEFAULT_BUFFER_SIZE,
  LineTooLongError,
  StreamRequestHandler,
  StreamWriter,
  ThreadingTCPServer,
} from "../mod.ts";
import { listenAddress, serveUntilSignal } from "./_common.ts";

/** An error reply (`-ERR ...`), with Redis's wording. */
export class RedisError extends Error {}
/** A malformed request: answered with an error, then the connection closes, as Redis does. */
class ProtocolError extends RedisError {
  constructor(what: string) {
    super(`ERR Protocol error: ${what}`);
  }
}

/** A command not whole within the handler's `commandTimeout`. A `TimedOut`,
 * so the server counts it a routine drop (`handleDrop()`, silent) and closes
 * the connection, freeing what the command held. */
export class CommandTimeoutError extends Deno.errors.TimedOut {
  constructor(timeout: number) {
    super(
      `The command was not whole within ${timeout} ms of its first byte: raise the handler's "commandTimeout" or set it to null`,
    );
    this.name = "CommandTimeoutError";
  }
}

/** What a command returns: `+simple`, `:integer`, `$bulk`, `$-1` (null), `-error` or `*array`. */
export type Reply = string | number | bigint | Uint8Array | null | RedisError | Reply[];

const INT64 = /^(?:0|-?[1-9][0-9]{0,18})$/; // as Redis's string2ll: no "+", leading 0 or space
const MAX = 2n ** 63n - 1n;
const MIN = -(2n ** 63n);
const NOT_INT = new RedisError("ERR value is not an integer or out of range");
const SYNTAX = new RedisError("ERR syntax error");
/** Redis's reply to a write past `maxmemory` (`maxmemory-policy noeviction`), word for word. */
const OOM = new RedisError("OOM command not allowed when used memory > 'maxmemory'.");

/** Bytes to a string, one char per byte: binary-safe keys and names. */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}
const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const int64 = (b: Uint8Array | undefined) => {
  const s = b && b.length <= 20 ? latin1(b) : "";
  const n = INT64.test(s) ? BigInt(s) : null;
  return n !== null && n >= MIN && n <= MAX ? n : null;
};
const arity = (name: string) =>
  new RedisError(`ERR wrong number of arguments for '${name}' command`);

/** A stored value and its expiry time (ms since the epoch; Infinity for none). */
export type Entry = { value: Uint8Array; expiresAt: number };

/** What one key costs beyond its key and value bytes: the Map's slot, the entry
 * object and the value's own ArrayBuffer. Measured; see docs/protocols.md. */
export const ENTRY_OVERHEAD = 600;

/** The keyspace: a Map that keeps `bytes`, the memory its entries take by
 * {@linkcode ENTRY_OVERHEAD}'s estimate, up to date through every change. */
export class Keyspace extends Map<string, Entry> {
  /** The estimated bytes of all entries. */
  bytes = 0;

  override set(key: string, entry: Entry): this {
    const old = super.get(key);
    if (old) this.bytes -= key.length + old.value.length + ENTRY_OVERHEAD;
    this.bytes += key.length + entry.value.length + ENTRY_OVERHEAD;
    return super.set(key, entry);
  }

  override delete(key: string): boolean {
    const old = super.get(key);
    if (old) this.bytes -= key.length + old.value.length + ENTRY_OVERHEAD;
    return super.delete(key);
  }

  override clear(): void {
    this.bytes = 0;
    super.clear();
  }
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2 };
Object.assign(UNITS, { g: 1e9, gb: 1024 ** 3 });

/**
 * A memory size as Redis's configuration writes it: digits and an optional
 * unit, `k`/`m`/`g` (powers of 1000) or `kb`/`mb`/`gb` (of 1024), any case.
 *
 * @param text Such as `"64mb"`, `"1G"` or `"1000000"`.
 * @returns The bytes, or null when `text` is not one.
 */
export function parseMemory(text: string): number | null {
  const match = /^([0-9]+)([a-z]*)$/i.exec(text);
  const unit = match && Object.hasOwn(UNITS, match[2].toLowerCase()) &&
    UNITS[match[2].toLowerCase()];
  return unit ? Number(match[1]) * unit : null;
}

/** Bytes as Redis's INFO writes them for people: `1.50M`. */
const human = (n: number) => {
  const [unit, size] = n >= 1024 ** 3
    ? ["G", 1024 ** 3]
    : n >= 1024 ** 2
    ? ["M", 1024 ** 2]
    : n >= 1024
    ? ["K", 1024]
    : ["B", 1];
  return `${(n / size).toFixed(2)}${unit}`;
};

/** The server: a `ThreadingTCPServer` that owns the keyspace. Expired keys go
 * when touched, and in `serviceActions()`, which the server runs after each
 * connection it accepts and every `pollInterval` while idle. */
export class RespServer extends ThreadingTCPServer {
  /** The keyspace. Values are copies, never views of a connection's buffer. */
  readonly data: Keyspace = new Keyspace();
  /** Redis's `maxmemory`, in bytes: past it, commands that add data (SET, INCR)
   * get Redis's OOM error, as with `maxmemory-policy noeviction`; reads, DEL and
   * FLUSHALL still run. 0 for no cap (Redis's default; here it would let
   * clients grow the process without bound). `CONFIG SET maxmemory` changes it. */
  maxMemory = 64 * 1024 * 1024;
  /** The bytes of the commands being read now, not yet run: counted in
   * `usedMemory`, as Redis counts its clients' query buffers. */
  queryBytes = 0;
  /** The most bytes the commands being read on all connections may hold
   * together (Redis 7: maxmemory-clients, off by default): an argument that
   * would pass it closes its client, so many clients each just under
   * `maxQueryLength` cannot add up without bound. 0 for no limit. */
  maxClientsMemory = 64 * 1024 * 1024;
  /** How many keys one `serviceActions()` looks at, at most. */
  sweepBatch = 1000;
  /** Where the sweep goes on: a live iterator, which sees keys added and
   * deleted after it was made. */
  #sweep: MapIterator<[string, Entry]> = this.data.entries();

  /** Redis's `used_memory`: the keyspace's estimated bytes and the commands
   * being read. */
  get usedMemory(): number {
    return this.data.bytes + this.queryBytes;
  }

  /** Whether a command that adds data must be refused: Redis's check. */
  get outOfMemory(): boolean {
    return this.maxMemory > 0 && this.usedMemory > this.maxMemory;
  }

  /** The live entry for `key`, dropping it if it has expired. */
  lookup(key: Uint8Array): Entry | void {
    const entry = this.data.get(latin1(key));
    if (!entry || entry.expiresAt > Date.now()) return entry;
    this.data.delete(latin1(key));
  }

  /** Drops the expired keys among the next `sweepBatch` of the keyspace, going
   * round it over successive calls: bounded work however many keys there are. */
  override serviceActions(): void {
    const now = Date.now();
    for (let i = 0; i < this.sweepBatch; i++) {
      const next = this.#sweep.next();
      if (next.done) {
        this.#sweep = this.data.entries(); // round again next time
        return;
      }
      const [key, entry] = next.value;
      if (entry.expiresAt <= now) this.data.delete(key);
    }
  }
}

/** What `CONFIG GET` reports besides `maxmemory` (redis-benchmark asks for the
 * first two): nothing is ever persisted, and nothing is evicted. */
const CONFIG = { save: "", appendonly: "no", "maxmemory-policy": "noeviction" };

type Command = (db: RespServer, args: Uint8Array[]) => Reply;
/** The commands Redis flags `denyoom`: refused while `outOfMemory`. */
const DENY_OOM = new Set(["set", "incr"]);
/** Name → [arity, implementation]; arity as Redis counts it: N exactly, -N at least N. */
export const COMMANDS: Record<string, [number, Command]> = {
  ping: [-1, (_, a) => a.length > 2 ? arity("ping") : a[1] ?? "PONG"],
  echo: [2, (_, a) => a[1]],
  get: [2, (db, [, key]) => db.lookup(key)?.value ?? null],
  set: [-3, set],
  del: [
    -2,
    (db, [, ...keys]) => keys.filter((k) => db.lookup(k) && db.data.delete(latin1(k))).length,
  ],
  exists: [-2, (db, [, ...keys]) => keys.filter((k) => db.lookup(k)).length],
  incr: [2, (db, [, key]) => {
    const entry = db.lookup(key);
    const n = entry ? int64(entry.value) : 0n;
    if (n === null) return NOT_INT;
    if (n === MAX) return new RedisError("ERR increment or decrement would overflow");
    db.data.set(latin1(key), {
      value: bytes(String(n + 1n)),
      expiresAt: entry?.expiresAt ?? Infinity,
    });
    return n + 1n;
  }],
  config: [-2, (db, [, sub, ...names]) => {
    const subcommand = latin1(sub).toLowerCase();
    if (subcommand === "set") return configSet(db, names);
    if (subcommand !== "get") {
      return new RedisError(`ERR unknown subcommand '${latin1(sub)}'. Try CONFIG HELP.`);
    }
    if (names.length === 0) return arity("config|get");
    const wanted = names.map((name) => latin1(name).toLowerCase());
    const config = { ...CONFIG, maxmemory: String(db.maxMemory) };
    return Object.entries(config).filter(([k]) => wanted.includes(k)).flat().map(bytes);
  }],
  info: [-1, (db, [, ...sections]) => {
    const wanted = sections.map((s) => latin1(s).toLowerCase());
    const all = wanted.length === 0 || wanted.some((s) => /^(default|all|everything)$/.test(s));
    if (!all && !wanted.includes("memory")) return bytes("");
    const used = db.usedMemory;
    const rss = Deno.memoryUsage().rss; // what the process really holds, as Redis reports it
    return bytes(
      `# Memory\r\nused_memory:${used}\r\nused_memory_human:${human(used)}\r\n` +
        `used_memory_rss:${rss}\r\nused_memory_rss_human:${human(rss)}\r\n` +
        `used_memory_dataset:${db.data.bytes}\r\nmaxmemory:${db.maxMemory}\r\n` +
        `maxmemory_human:${human(db.maxMemory)}\r\nmaxmemory_policy:noeviction\r\n`,
    );
  }],
  dbsize: [1, (db) => db.data.size], // expired keys not yet swept count, as in Redis
  flushall: [-1, (db, a) => {
    if (a.length > 2 || (a[1] && !/^(a?sync)$/i.test(latin1(a[1])))) return SYNTAX;
    db.data.clear();
    return "OK";
  }],
};

/** `SET key value [NX | XX] [EX seconds | PX milliseconds]`, checked in Redis's order. */
function set(db: RespServer, [, key, value, ...options]: Uint8Array[]): Reply {
  let ttl: Uint8Array | undefined, unit = 0, nx = false, xx = false;
  for (let i = 0; i < options.length; i++) {
    const option = latin1(options[i]).toUpperCase();
    if (option === "NX" && !xx) nx = true;
    else if (option === "XX" && !nx) xx = true;
    else if ((option === "EX" || option === "PX") && !unit && i + 1 < options.length) {
      unit = option === "EX" ? 1000 : 1;
      ttl = options[++i];
    } else return SYNTAX;
  }
  let expiresAt = Infinity;
  if (unit) {
    const n = int64(ttl);
    if (n === null) return NOT_INT;
    const at = n * BigInt(unit) + BigInt(Date.now());
    if (n <= 0n || (unit === 1000 && n > MAX / 1000n) || at > MAX) {
      return new RedisError("ERR invalid expire time in 'set' command");
    }
    expiresAt = Number(at);
  }
  if ((nx && db.lookup(key)) || (xx && !db.lookup(key))) return null;
  // a copy: `value` is a view of the connection's read buffer, which it would pin
  db.data.set(latin1(key), { value: value.slice(), expiresAt });
  return "OK";
}

/** `CONFIG SET name value [name value ...]`: only `maxmemory` can be set. */
function configSet(db: RespServer, pairs: Uint8Array[]): Reply {
  if (pairs.length < 2) return arity("config|set");
  if (pairs.length % 2) return SYNTAX;
  let maxMemory: number | null = null;
  for (let i = 0; i < pairs.length; i += 2) {
    const name = latin1(pairs[i]);
    if (name.toLowerCase() !== "maxmemory") {
      return new RedisError(`ERR Unknown option or number of arguments for CONFIG SET - '${name}'`);
    }
    const failed = `ERR CONFIG SET failed (possibly related to argument '${name}') - `;
    if (maxMemory !== null) return new RedisError(failed + "duplicate parameter");
    maxMemory = parseMemory(latin1(pairs[i + 1]));
    if (maxMemory === null) return new RedisError(failed + "argument must be a memory value");
  }
  db.maxMemory = maxMemory!;
  return "OK";
}

/** Runs one command: Redis's errors for unknown names and wrong arity, and
 * its OOM error for a command that adds data past `maxmemory`. */
export function execute(db: RespServer, args: Uint8Array[]): Reply {
  const name = latin1(args[0]);
  const command = Object.hasOwn(COMMANDS, name.toLowerCase()) && COMMANDS[name.toLowerCase()];
  if (!command) {
    let rest = "";
    for (let i = 1; i < args.length && rest.length < 128; i++) {
      rest += `'${latin1(args[i]).slice(0, 128 - rest.length)}' `;
    }
    const message = `ERR unknown command '${name.slice(0, 128)}', with args beginning with: `;
    return new RedisError(message + rest);
  }
  const [n, run] = command;
  if (n > 0 ? args.length !== n : args.length < -n) return arity(name.toLowerCase());
  if (db.outOfMemory && DENY_OOM.has(name.toLowerCase())) return OOM;
  return run(db, args);
}

const isSpace = (c: string | undefined) => c !== undefined && " \t\n\v\f\r".includes(c);
const ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", b: "\b", a: "\x07" };
const HEX2 = /^[0-9a-fA-F]{2}$/;

/**
 * Splits an inline command (`SET k "a b"`, as typed into telnet) as Redis's
 * `sdssplitargs()` does: words between spaces; `"..."` with `\n`, `\r`,
 * `\t`, `\b`, `\a`, `\xHH` and `\<char>` escapes; `'...'` with only `\'`.
 * A quote may open inside a word (`a"b c"` is `ab c`), but a closing quote
 * must end the word.
 *
 * @param line The line, without its line ending, one char per byte.
 * @returns The arguments, or null for unbalanced quotes.
 */
export function splitInline(line: string): Uint8Array[] | null {
  const args: Uint8Array[] = [];
  let i = 0;
  for (;;) {
    while (isSpace(line[i])) i++;
    if (i === line.length) return args;
    let arg = "";
    let quote = ""; // the quote we are inside, if any
    for (;; i++) {
      const c: string | undefined = line[i];
      if (!quote) {
        if (c === undefined || " \t\n\r".includes(c)) break; // not \v, \f: those are the word's
        if (c === '"' || c === "'") quote = c;
        else arg += c;
      } else if (c === undefined) {
        return null; // unterminated quotes
      } else if (c === quote) {
        if (i + 1 < line.length && !isSpace(line[i + 1])) return null; // `"a"b`
        i++;
        break;
      } else if (quote === "'") {
        arg += c === "\\" && line[i + 1] === "'" ? line[++i] : c;
      } else if (c === "\\" && line[i + 1] === "x" && HEX2.test(line.slice(i + 2, i + 4))) {
        arg += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
        i += 3;
      } else if (c === "\\" && i + 1 < line.length) {
        i++;
        arg += ESCAPES[line[i]] ?? line[i];
      } else arg += c;
    }
    args.push(bytes(arg));
  }
}

/** One connection: reads commands, runs them in order, replies in order. Replies
 * collect in `wfile` and go out together just before `rfile` has to wait on
 * the socket for more input, so a pipeline of N commands costs one write, not
 * N, and no reply is held back while the client waits for it. */
export class RespHandler extends StreamRequestHandler<RespServer> {
  /** The longest bulk string accepted, in bytes (Redis: proto-max-bulk-len, 512 MB):
   * a longer one gets Redis's `invalid bulk length` on its length line. */
  maxBulkLength = 1024 * 1024;
  /** The most arguments a command may have (Redis: 1024 * 1024). */
  maxArrayLength = 1024;
  /** The most bytes one command's arguments may take (Redis:
   * client-query-buffer-limit, 1 GB): past it the connection closes, as
   * Redis closes it, before the argument that would cross it is read. So
   * does an argument that would take all the commands being read, on every
   * connection, past the server's `maxClientsMemory`. */
  maxQueryLength = 4 * 1024 * 1024;
  /** How long a command may take to arrive, in ms, from its first byte to its
   * last, however the bytes trickle; then the connection closes (a routine
   * drop). An idle connection, between commands, has no limit, as in Redis
   * (`timeout 0`). `null` for none. Redis has no such limit. */
  commandTimeout: number | null = 10_000;
  /** The longest inline command or length line (Redis: 64 KiB). */
  override maxLineLength = 64 * 1024;
  override wbufsize = 64 * 1024;
  /** How long one write may wait for a client that reads nothing, in ms; then
   * the connection closes (a routine drop). */
  override writeTimeout: number | null = 30_000;

  /** While a command is read: when its first byte came (`performance.now()`),
   * or -1 before it. null between commands. */
  #began: number | null = null;
  /** The bytes the command being read holds, counted in the server's `queryBytes`. */
  #held = 0;

  /** Makes `rfile` flush `wfile` before each read of the socket, and bounds the
   * reads of a command begun by `commandTimeout`. */
  override setup(): void {
    super.setup();
    const conn = this.request;
    const wfile = new StreamWriter(conn, {
      bufferSize: this.wbufsize,
      timeout: this.writeTimeout,
    });
    const read = (p: Uint8Array) =>
      wfile.buffered === 0 ? conn.read(p) : wfile.flush().then(() => conn.read(p));
    const source = {
      read: (p: Uint8Array): Promise<number | null> => {
        const timeout = this.commandTimeout;
        if (this.#began === null || timeout === null) return read(p);
        if (this.#began >= 0) {
          return this.#within(read(p), this.#began + timeout - performance.now(), timeout);
        }
        return read(p).then((n) => {
          if (n && this.#began === -1) this.#began = performance.now(); // its first byte
          return n;
        });
      },
    };
    this.wfile = wfile;
    this.rfile = new BufferedReader(source, {
      bufferSize: this.rbufsize > 0 ? this.rbufsize : DEFAULT_BUFFER_SIZE,
      maxLineLength: this.maxLineLength,
      timeout: this.timeout,
      idleTimeout: this.idleTimeout,
      requestTimeout: this.requestTimeout,
    });
  }

  /** `read`, or a CommandTimeoutError once `ms` have passed. */
  #within(read: Promise<number | null>, ms: number, timeout: number): Promise<number | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CommandTimeoutError(timeout)), Math.max(0, ms));
    });
    return Promise.race([read, expired]).finally(() => clearTimeout(timer));
  }

  #hold(bytes: number): void {
    this.#held += bytes;
    this.server.queryBytes += bytes;
  }

  // A client that resets or vanishes ends handle() with an error the server
  // counts as a routine drop (handleDrop(), silent): nothing to catch here.
  // finish() sends the replies still in wfile.
  override async handle(): Promise<void> {
    for (;;) {
      let args: Uint8Array[] | null;
      try {
        args = await this.readCommand();
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        return await this.reply(error);
      }
      if (args === null) return;
      if (args.length === 0) continue;
      if (latin1(args[0]).toLowerCase() === "quit") return await this.reply("OK");
      await this.reply(execute(this.server, args));
    }
  }

  /** Reads one command: `*N` then N `$len` bulk strings, or an inline line. Resolves
   * to null at EOF (a command cut short by EOF is not run), to `[]` for an
   * empty one. Bulk strings are views of `rfile`'s buffer: copy one to keep it. */
  async readCommand(): Promise<Uint8Array[] | null> {
    // The command begins with its first byte: buffered already, or when a read brings it.
    this.#began = this.rfile.buffered > 0 ? performance.now() : -1;
    try {
      return await this.#readCommand();
    } finally {
      this.#began = null;
      this.#hold(-this.#held);
    }
  }

  async #readCommand(): Promise<Uint8Array[] | null> {
    const line = await this.#line("too big inline request");
    if (line === null) return null;
    if (!line.startsWith("*")) {
      const args = splitInline(line);
      if (!args) throw new ProtocolError("unbalanced quotes in request");
      return args;
    }
    const count = this.#length(line, this.maxArrayLength, "invalid multibulk length");
    const args: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const header = await this.#line("too big bulk count string");
      if (header === null) return null;
      if (!header.startsWith("$")) {
        const got = header[0] ?? "\r"; // an empty line: Redis reports its "\r"
        throw new ProtocolError(`expected '$', got '${got}'`);
      }
      const n = this.#length(header, this.maxBulkLength, "invalid bulk length");
      const { maxClientsMemory, queryBytes } = this.server;
      const why = this.#held + n + 2 > this.maxQueryLength
        ? `reached max query length (${this.maxQueryLength} bytes)`
        : maxClientsMemory > 0 && queryBytes + n + 2 > maxClientsMemory
        ? `would take the commands being read past maxmemory-clients (${maxClientsMemory} bytes)`
        : null;
      if (why !== null) {
        // Redis closes such a client without a reply (past maxmemory-clients, Redis 7
        // evicts the largest client instead), and logs it
        console.error(
          `Closing client ${this.clientAddress.hostname}:${this.clientAddress.port} that ${why}`,
        );
        return null;
      }
      this.#hold(n + 2);
      const data = await this.rfile.read(n + 2); // the string and its CRLF
      if (data.length < n + 2) return null;
      args.push(data.subarray(0, n));
    }
    return args;
  }

  /** Sends one reply (into `wfile`'s buffer). */
  async reply(reply: Reply): Promise<void> {
    const w = this.wfile;
    if (reply instanceof Uint8Array) {
      await w.write(`$${reply.length}\r\n`);
      await w.write(reply);
      await w.write("\r\n");
    } else if (Array.isArray(reply)) {
      await w.write(`*${reply.length}\r\n`);
      for (const item of reply) await this.reply(item);
    } else if (reply === null) await w.write("$-1\r\n");
    else if (reply instanceof RedisError) {
      await w.write(bytes(`-${reply.message.replace(/[\r\n]/g, " ")}\r\n`)); // as Redis does
    } else await w.write(typeof reply === "string" ? `+${reply}\r\n` : `:${reply}\r\n`);
  }

  /** The next line without its line ending; null at EOF, and for a last line
   * that EOF cut short: Redis never runs a line without its newline. */
  async #line(tooLong: string): Promise<string | null> {
    try {
      const line = await this.rfile.readline();
      return line.at(-1) !== 0x0a ? null : latin1(line).replace(/\r?\n$/, "");
    } catch (error) {
      if (!(error instanceof LineTooLongError)) throw error;
      const first = latin1(await this.rfile.read(1));
      throw new ProtocolError(first === "*" ? "too big mbulk count string" : tooLong);
    }
  }

  #length(line: string, max: number, invalid: string): number {
    const n = /^[*$](0|-?[1-9][0-9]{0,18})$/.exec(line)?.[1];
    const length = n === undefined ? NaN : Number(n);
    if (line[0] === "*" && length <= 0) return 0; // *0 and *-1: nothing to run
    if (!(length >= 0 && length <= max)) throw new ProtocolError(invalid);
    return length;
  }
}

if (import.meta.main) {
  const maxMemory = Deno.env.get("MAXMEMORY") ?? "64mb";
  const bytes = parseMemory(maxMemory);
  if (bytes === null) {
    throw new RangeError(
      `MAXMEMORY must be a memory size such as "64mb", "1gb" or "0" (no cap), got "${maxMemory}"`,
    );
  }
  const server = new RespServer(listenAddress(6379), RespHandler);
  server.maxMemory = bytes;
  await serveUntilSignal(server, "RESP server");
}
