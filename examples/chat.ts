/**
 * A line-based chat room on `ThreadingTCPServer`: pick a nickname, then every
 * line you send goes to everyone else. `/who` lists who is here, `/nick NAME`
 * renames you, `/quit` leaves.
 *
 *     deno run -A examples/chat.ts [port]      # default 7000
 *     socat - TCP:localhost:7000               # in two terminals, or nc / telnet
 *
 * A slow client never stalls the others: a broadcast only appends the line to
 * each recipient's own bounded queue, which a per-client task drains. A client
 * whose queue outgrows `maxQueuedBytes` (it stopped reading while the room
 * kept talking) is disconnected, as IRC servers do on "SendQ exceeded".
 *
 * @module
 */
import {
  LineTooLongError,
  type ServerCloseOptions,
  StreamRequestHandler,
  ThreadingTCPServer,
} from "../mod.ts";
import { concat, isDisconnect, listenAddress, serveUntilSignal } from "./_common.ts";

const NICK = /^[\p{L}\p{N}_.-]{1,24}$/u;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The room: a `ThreadingTCPServer` that knows who is connected. */
export class ChatServer extends ThreadingTCPServer {
  /** Every connection, named or not yet. */
  readonly clients: Set<ChatHandler> = new Set();
  /** The members who have picked a nickname, by nickname. */
  readonly members: Map<string, ChatHandler> = new Map();

  /**
   * Sends `line` to every member but `from`. It never waits: each member's
   * own queue takes the line.
   *
   * @param line The text, without a newline.
   * @param from The sender, left out.
   */
  broadcast(line: string, from?: ChatHandler): void {
    const bytes = encoder.encode(line + "\n");
    for (const member of this.members.values()) if (member !== from) member.send(bytes);
  }

  /** Says goodbye to every client, then closes as every server does. */
  override async serverClose(options?: ServerCloseOptions): Promise<void> {
    const closing = super.serverClose(options); // the listener first: nobody new comes in
    // bye() fails only with the queue's task, whose error finish() reports: not twice
    const byes = [...this.clients].map((client) =>
      client.bye("* The server is shutting down").catch(() => {})
    );
    await Promise.all([closing, ...byes]);
  }
}

/** One member. Reads lines; writes through its own queue (see `send()`). */
export class ChatHandler extends StreamRequestHandler<ChatServer> {
  /** The longest line a client may send, in bytes; a longer one disconnects it. */
  override maxLineLength = 4096;
  /** How many bytes may wait for this client before it counts as stalled and
   * is disconnected. The kernel's socket buffers hold more on top of it. */
  maxQueuedBytes = 256 * 1024;
  /** How long the queue may take to drain once the client has left (or at
   * shutdown), in ms; then the connection is closed with the rest unsent. A
   * client that stopped reading and then quit or half-closed would otherwise
   * hold its handler, stuck in a write, for ever. */
  drainTimeout = 5_000;
  nick = "";

  #queue: Uint8Array[] = [];
  #queued = 0;
  #wake: (() => void) | null = null;
  #done = false;
  #pump: Promise<void> = Promise.resolve();

  /** Queues bytes for this client; never waits. Drops the client when its
   * queue is full. */
  send(bytes: Uint8Array | string): void {
    if (this.#done) return;
    if (typeof bytes === "string") bytes = encoder.encode(bytes);
    if (this.#queued + bytes.length > this.maxQueuedBytes) {
      return this.hangUp("too slow: send queue full");
    }
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    this.#wake?.();
  }

  /** Disconnects at once: closing the connection ends the pending read in
   * `handle()` and the pending write in the queue's task. */
  hangUp(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#wake?.();
    this.leave(reason);
    this.#disconnect();
  }

  /** Sends a last line, then disconnects once the queue is drained (or after
   * `drainTimeout`). */
  async bye(line: string): Promise<void> {
    this.send(line + "\n");
    this.#done = true;
    this.#wake?.();
    await this.#drained();
    this.leave("server shutdown");
    this.#disconnect();
  }

  /** Waits for the queue's task to end, closing the connection if that takes
   * more than `drainTimeout`: that ends a write the client never takes. */
  async #drained(): Promise<void> {
    const timer = setTimeout(() => this.#disconnect(), this.drainTimeout);
    try {
      await this.#pump;
    } finally {
      clearTimeout(timer);
    }
  }

  #disconnect(): void {
    try {
      this.request.close();
    } catch {
      // already closed: the handler finished, or the server closed it
    }
  }

  /** Takes this member out of the room and tells the others, once. */
  leave(reason: string): void {
    if (this.nick && this.server.members.get(this.nick) === this) {
      this.server.members.delete(this.nick);
      this.server.broadcast(`* ${this.nick} left (${reason})`);
    }
  }

  override setup(): void {
    super.setup();
    this.server.clients.add(this);
    this.#pump = this.#drain();
  }

  override async handle(): Promise<void> {
    this.send("* Welcome! Who are you? (a nickname, then chat; /who, /nick NAME, /quit)\n");
    let reason = "disconnected";
    try {
      for await (const bytes of this.rfile) {
        // control characters (escape sequences) would let one client paint others' terminals
        const line = decoder.decode(bytes).replace(/\p{Cc}/gu, ""); // the newline too
        if (line === "/quit") {
          reason = "quit";
          break;
        }
        if (!this.nick || line.startsWith("/nick ")) {
          this.#rename(line.replace(/^\/nick /, "").trim());
        } else if (line === "/who") {
          this.send(`* Here: ${[...this.server.members.keys()].join(", ")}\n`);
        } else if (line) this.server.broadcast(`<${this.nick}> ${line}`, this);
      }
      this.leave(reason);
    } catch (error) {
      if (error instanceof LineTooLongError) {
        this.send(`* Lines are at most ${this.maxLineLength} bytes; bye\n`);
        this.leave("line too long");
      } else if (isDisconnect(error)) this.leave("connection lost");
      else throw error;
    }
  }

  /** Lets the queue drain (for at most `drainTimeout`) before the server
   * closes the connection. */
  override async finish(): Promise<void> {
    this.#done = true;
    this.#wake?.();
    try {
      await this.#drained();
    } finally {
      this.server.clients.delete(this);
      await super.finish();
    }
  }

  #rename(nick: string): void {
    if (!NICK.test(nick)) return this.send("* Nicknames are 1-24 letters, digits, _ . or -\n");
    if (this.server.members.has(nick)) return this.send(`* "${nick}" is taken; try another\n`);
    const old = this.nick;
    this.server.members.delete(old);
    this.nick = nick;
    this.server.members.set(nick, this);
    if (old) return this.server.broadcast(`* ${old} is now ${nick}`);
    const others = [...this.server.members.keys()].filter((n) => n !== nick);
    this.send(`* Hello ${nick}; here: ${others.join(", ") || "nobody else yet"}\n`);
    this.server.broadcast(`* ${nick} joined`, this);
  }

  /** The queue's task: writes everything queued, in one write per batch. */
  async #drain(): Promise<void> {
    try {
      for (;;) {
        if (this.#queue.length === 0) {
          if (this.#done) return;
          await new Promise<void>((resolve) => this.#wake = resolve);
          this.#wake = null;
          continue;
        }
        const batch = this.#queue.length === 1 ? this.#queue[0] : concat(this.#queue);
        this.#queue = [];
        this.#queued = 0;
        await this.wfile.write(batch);
      }
    } catch (error) {
      if (!isDisconnect(error)) throw error;
      this.#done = true;
    }
  }
}

if (import.meta.main) {
  const server = new ChatServer(listenAddress(7000), ChatHandler);
  await serveUntilSignal(server, "Chat server");
}
