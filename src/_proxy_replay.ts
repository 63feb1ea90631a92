/**
 * {@linkcode replayFirst}: gives a connection back the payload bytes that
 * were read with its PROXY protocol header. A balancer often sends the
 * header and the client's first bytes in one segment, and Deno cannot peek,
 * so the header's read may take some payload; the handler must still read
 * it first, from the same connection object (the request the server tracks).
 *
 * @module
 */

/** The getter of `readable` on `conn`'s prototype chain. */
function readableGetter(conn: object): (() => ReadableStream<Uint8Array>) | undefined {
  for (let o: object | null = conn; o !== null; o = Object.getPrototypeOf(o)) {
    const getter = Object.getOwnPropertyDescriptor(o, "readable")?.get;
    if (getter !== undefined) return getter as () => ReadableStream<Uint8Array>;
  }
  return undefined;
}

/**
 * Makes `conn.read()` and `conn.readable` return `first` before anything
 * still unread on the connection: own properties of this one connection,
 * shadowing its class's; `read` goes back to the class's once `first` is
 * consumed. Nothing is done when `first` is empty.
 */
export function replayFirst(conn: Deno.Conn, first: Uint8Array): void {
  if (first.length === 0) return;
  let left: Uint8Array | null = first;
  const target = conn as unknown as Record<string, unknown>;
  const read = conn.read;
  const ownRead = (p: Uint8Array): Promise<number | null> => {
    if (left === null) return read.call(conn, p);
    const n = Math.min(p.length, left.length);
    p.set(left.subarray(0, n));
    left = n === left.length ? null : left.subarray(n);
    if (left === null && target.read === ownRead) delete target.read;
    return Promise.resolve(n);
  };
  const getReadable = readableGetter(conn);
  let stream: ReadableStream<Uint8Array> | undefined;
  Object.defineProperties(conn, {
    read: { value: ownRead, configurable: true, writable: true },
    readable: {
      configurable: true,
      get(): ReadableStream<Uint8Array> | undefined {
        if (stream !== undefined) return stream;
        const rest = getReadable?.call(conn);
        if (rest === undefined || left === null) return stream = rest;
        const head = left;
        left = null;
        const reader = rest.getReader();
        return stream = new ReadableStream<Uint8Array>({
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
      },
    },
  });
}
