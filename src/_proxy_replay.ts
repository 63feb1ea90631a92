/**
 * {@linkcode replayFirst}: gives a connection back the payload read with its PROXY header. Deno
 * cannot peek and a balancer often sends the header and the first bytes in one segment; the
 * handler must still read them first, from the same connection object the server tracks.
 *
 * @module
 */

/** The bytes still to hand out, on the connection itself. */
const kFirst: unique symbol = Symbol("socketserver.replay");
/** The stream `readable` made, once asked for. */
const kStream: unique symbol = Symbol("socketserver.replayStream");

interface Replaying {
  [kFirst]: Uint8Array | null;
  [kStream]?: ReadableStream<Uint8Array>;
}

/** A connection class's own `read` and `readable` getter, found once per class. */
interface Own {
  read: (this: object, p: Uint8Array) => Promise<number | null>;
  readable: ((this: object) => ReadableStream<Uint8Array>) | undefined;
}
const owns = new Map<object, Own>();

function ownOf(conn: object): Own {
  const proto = Object.getPrototypeOf(conn);
  let own = owns.get(proto);
  if (own === undefined) {
    let readable: Own["readable"];
    for (let o = proto; o !== null && readable === undefined; o = Object.getPrototypeOf(o)) {
      readable = Object.getOwnPropertyDescriptor(o, "readable")?.get;
    }
    own = { read: proto.read, readable };
    owns.set(proto, own);
  }
  return own;
}

// Shared by every connection (`this` is the connection): nothing is
// allocated per connection but its bytes.
function replayRead(this: Replaying, p: Uint8Array): Promise<number | null> {
  const first = this[kFirst];
  if (first === null) return ownOf(this).read.call(this, p);
  const n = Math.min(p.length, first.length);
  p.set(first.subarray(0, n));
  this[kFirst] = n === first.length ? null : first.subarray(n);
  return Promise.resolve(n);
}

function replayReadable(this: Replaying): ReadableStream<Uint8Array> | undefined {
  if (this[kStream] !== undefined) return this[kStream];
  const rest = ownOf(this).readable?.call(this);
  const head = this[kFirst];
  if (rest === undefined || head === null) return this[kStream] = rest;
  this[kFirst] = null;
  const reader = rest.getReader();
  return this[kStream] = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(head);
    },
    async pull(controller) {
      const { value, done } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Makes `conn.read()` and `conn.readable` return `first` before the rest: own properties of this
 * connection shadowing its class's, which they call once `first` is consumed. */
export function replayFirst(conn: Deno.Conn, first: Uint8Array): void {
  if (first.length === 0) return;
  const target = conn as unknown as Replaying & { read: typeof replayRead };
  target[kFirst] = first;
  target.read = replayRead;
  Object.defineProperty(conn, "readable", { configurable: true, get: replayReadable });
}
