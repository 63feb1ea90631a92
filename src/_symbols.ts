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
/** A server's requests taken and not yet closed (`_open_requests.ts`): its
 * slots of `maxConnections`, the lingering closes of `serverClose()`. */
export const kRequests: unique symbol = Symbol("socketserver.requests");
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
/** `StreamWriter`: a write timing out no longer closes the connection; see `holdOpen()`. */
export const kHoldOpen: unique symbol = Symbol("socketserver.holdOpen");
/** `StreamWriter`: refuses the writes not yet started; see `stopWrites()`. */
export const kStopWrites: unique symbol = Symbol("socketserver.stopWrites");
/** `BufferedReader`: the read a timeout left pending, if any. */
export const kPendingRead: unique symbol = Symbol("socketserver.pendingRead");
/** `StreamWriter`: the end of the writes in flight, if any. */
export const kInFlight: unique symbol = Symbol("socketserver.inFlight");
/** `BufferedReader` and `StreamWriter`: the server counters their bytes go to
 * (`_counters.ts`); a handler's `setup()` sets its server's. */
export const kCounters: unique symbol = Symbol("socketserver.counters");
/** `StreamServer`: throws when the transport cannot read a PROXY header. */
export const kCheckProxy: unique symbol = Symbol("socketserver.checkProxy");
/** `BufferedReader`: `read1()` for `rfile.readable`, given up when the stream is cancelled. */
export const kStreamRead: unique symbol = Symbol("socketserver.streamRead");
/** `StreamWriter`: `finish()`'s flush, which reports the failure of writes the handler left in flight. */
export const kFinishWrites: unique symbol = Symbol("socketserver.finishWrites");

/** A `DatagramRequestHandler`'s reply, sent: the send's promise, or `undefined` (nothing to send). */
export const kSendReply: unique symbol = Symbol("socketserver.sendReply");

/** A `DatagramRequestHandler`'s reply went out: its bytes are counted. */
export const kSent: unique symbol = Symbol("socketserver.sent");

/** A `DatagramRequestHandler`'s failed send, told apart: a drop reported, or the error to throw. */
export const kSendFailed: unique symbol = Symbol("socketserver.sendFailed");

/** `BaseServer`: its fused request flow (`_fused_flow.ts`), for the tests
 * that prove which requests and hooks take it. */
export const kFusedFlow: unique symbol = Symbol("socketserver.fusedFlow");
