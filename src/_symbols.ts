/**
 * The symbol keys of members the modules share but users never see (`@ignore`d; not in `mod.ts`).
 *
 * @module
 */

/** Marks a request over in the server's books, as `closeRequest()` does: `shutdownRequest()` calls
 * it after `closeRequest()`, for an override ported from Python that does not call `super`. */
export const kReleaseRequest: unique symbol = Symbol("socketserver.releaseRequest");
/** `StreamWriter`: settles once the writes waiting their turn fall to `BACKLOG_LIMIT`; null if they
 * are within it. */
export const kBacklog: unique symbol = Symbol("socketserver.backlog");
/** `BufferedReader`: what each read from the source waits for first (`wfile`'s `kBacklog`). */
export const kReadGate: unique symbol = Symbol("socketserver.readGate");
/** Reads or sets a server attribute. */
export const kAttribute: unique symbol = Symbol("socketserver.attribute");
/** Closes the server's socket once. */
export const kCloseSocket: unique symbol = Symbol("socketserver.closeSocket");
/** Whether the socket's close waits for the requests in flight (a datagram server's replies). */
export const kCloseDeferred: unique symbol = Symbol("socketserver.closeDeferred");
/** `handleError()` or `handleDrop()`, guarded against throwing. */
export const kReportError: unique symbol = Symbol("socketserver.reportError");
/** Whether `serverClose()` waits for requests in flight. */
export const kBlockOnClose: unique symbol = Symbol("socketserver.blockOnClose");
/** A server's requests taken and not yet closed (`_open_requests.ts`). */
export const kRequests: unique symbol = Symbol("socketserver.requests");
/** Opens the listener for `TCPServerBase.serverBind()`; `TLSServer` overrides it. */
export const kListen: unique symbol = Symbol("socketserver.listen");
/** `(p) => p.length` on a sink that takes every write whole at once (a datagram's reply): a writer
 * over it skips a real send's promise chain, most of its cost per datagram. */
export const kWriteSync: unique symbol = Symbol("socketserver.writeSync");
/** A handler's `wfile`: reports to the server the failure of a write nobody awaited. */
export const kReportLost: unique symbol = Symbol("socketserver.reportLost");
/** `StreamWriter`: a write timing out no longer closes the connection; see `holdOpen()`. */
export const kHoldOpen: unique symbol = Symbol("socketserver.holdOpen");
/** `StreamWriter`: refuses the writes not yet started; see `stopWrites()`. */
export const kStopWrites: unique symbol = Symbol("socketserver.stopWrites");
/** `BufferedReader`: the read a timeout left pending, if any. */
export const kPendingRead: unique symbol = Symbol("socketserver.pendingRead");
/** `StreamWriter`: the end of the writes in flight, if any. */
export const kInFlight: unique symbol = Symbol("socketserver.inFlight");
/** `BufferedReader` and `StreamWriter`: the server counters their bytes go to (`_counters.ts`). */
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

/** `BaseServer`: its fused request flow (`_fused_flow.ts`), for the tests that prove who takes it. */
export const kFusedFlow: unique symbol = Symbol("socketserver.fusedFlow");
