/**
 * The symbol keys of the members the package's modules share but users never
 * see (`@ignore` on each member; none is exported from `mod.ts`).
 *
 * @module
 */

/** Reads or sets a server attribute. */
export const kAttribute: unique symbol = Symbol("socketserver.attribute");
/** Closes the server's socket once. */
export const kCloseSocket: unique symbol = Symbol("socketserver.closeSocket");
/** `handleError()` or `handleDrop()`, guarded against throwing. */
export const kReportError: unique symbol = Symbol("socketserver.reportError");
/** Whether `serverClose()` waits for requests in flight. */
export const kBlockOnClose: unique symbol = Symbol("socketserver.blockOnClose");
/** Whether `serverClose()` owns a request for its lingering close, which the
 * ordinary close path must then leave open. */
export const kLingering: unique symbol = Symbol("socketserver.lingering");
/** Keeps a slot of `maxConnections` taken until a descriptor an ended request
 * still holds is released. */
export const kHoldSlot: unique symbol = Symbol("socketserver.holdSlot");
/** Opens the listener for `TCPServerBase.serverBind()`; `TLSServer` overrides it. */
export const kListen: unique symbol = Symbol("socketserver.listen");
/** A sink that takes every write whole and at once (a datagram's reply buffer)
 * has a method under this key, `(p) => p.length`: a writer over it skips the
 * promise chain of a real send, most of its cost per datagram. */
export const kWriteSync: unique symbol = Symbol("socketserver.writeSync");
/** A handler's `wfile` has a function under this key that reports to the
 * server a write's failure no caller observed (a write the handler did not
 * await): `handleDrop()` for a reset. */
export const kReportLost: unique symbol = Symbol("socketserver.reportLost");
/** `StreamWriter`: refuses the writes not yet started; see `stopWrites()`. */
export const kStopWrites: unique symbol = Symbol("socketserver.stopWrites");
/** `BufferedReader`: the read a timeout left pending, if any. */
export const kPendingRead: unique symbol = Symbol("socketserver.pendingRead");
/** `StreamWriter`: the end of the writes in flight, if any. */
export const kInFlight: unique symbol = Symbol("socketserver.inFlight");
