/**
 * The fused request flow (`src/_fused_flow.ts`): a server whose hooks are
 * all the library's takes it for every request, and a hook overridden — in a
 * subclass, on the instance after construction, or between two requests —
 * is called in its place, in Python's order, the other hooks staying fused.
 * Which requests took it and which hooks it calls rather than inlines are read
 * through the private `kFusedFlow`; `stats()` counts the same either way.
 */
import assert from "node:assert/strict";
import {
  type AnyServer,
  BaseRequestHandler,
  DatagramRequestHandler,
  type ServerStats,
  StreamRequestHandler,
  TCPServer,
  UDPServer,
} from "../mod.ts";
import { kFusedFlow, kRequests } from "../src/_symbols.ts";
import { decoder, encoder, readAllText, writeAll } from "./_net.ts";
import { until, within } from "./_wait.ts";

/** What a test reads of the server's fused flow. */
interface FusedFlowView {
  /** Requests the fused flow took (the others took the loop's own). */
  fused: number;
  /** The hooks it calls rather than runs inline. */
  fullPathHooks(): string[];
}

// deno-lint-ignore no-explicit-any
type AnyFunction = (this: any, ...args: any[]) => any;
// deno-lint-ignore no-explicit-any
type HandlerClass = new (request: any, clientAddress: any, server: any) => object;
type ServerClass = new (address: [string, number], Handler: HandlerClass) => AnyServer;

const SERVER_HOOKS = [
  "getRequest",
  "verifyRequest",
  "processRequest",
  "finishRequest",
  "shutdownRequest",
  "closeRequest",
  "handleError",
] as const;
const HANDLER_HOOKS = ["setup", "finish"] as const;
type Hook = typeof SERVER_HOOKS[number] | typeof HANDLER_HOOKS[number];

/** Python's order for one request: `_handle_request_noblock()`, the handler's
 * `__init__`, and `handle_error()` when `handle()` raised. */
const PYTHON_ORDER = [
  "getRequest",
  "verifyRequest",
  "processRequest",
  "finishRequest",
  "setup",
  "handle",
  "finish",
  "shutdownRequest",
  "closeRequest",
];
const PYTHON_ORDER_FAILING = [...PYTHON_ORDER.slice(0, 7), "handleError", ...PYTHON_ORDER.slice(7)];

/**
 * How the hook is overridden: in a subclass (handlers: a subclass of the
 * handler), assigned on the instance after construction (handlers: in the
 * constructor, after `super()`), or on the server between the two requests.
 */
type How = "subclass" | "instance" | "between requests";

/** A replacement of `original` that records `hook`, then calls it (getRequest:
 * records once it returns); `handleError` records only, off stderr. */
function recording(hook: Hook, original: AnyFunction, calls: string[]): AnyFunction {
  if (hook === "handleError") return () => void calls.push(hook);
  if (hook === "getRequest") {
    return async function (this: unknown) {
      const pair = await original.call(this);
      calls.push(hook);
      return pair;
    };
  }
  return function (this: unknown, ...args: unknown[]) {
    calls.push(hook);
    return original.apply(this, args);
  };
}

interface Kind {
  name: string;
  Server: ServerClass;
  /** The handler: records `handle` and echoes upper-cased; "fail" throws. */
  Handler: (calls: string[]) => HandlerClass;
  /** The bytes `stats()` counts for a request of `text` (and its reply). */
  bytes(text: string): number;
  /** A client for one case: `ask(text)` resolves to the reply ("" for "fail"). */
  client(server: AnyServer): { ask(text: string): Promise<string>; close(): void };
}

/** A line-per-connection client. */
function lineClient(server: AnyServer) {
  return {
    async ask(text: string) {
      const conn = await Deno.connect(server.serverAddress as Deno.ConnectOptions);
      try {
        await writeAll(conn, encoder.encode(`${text}\n`));
        return (await readAllText(conn)).trim();
      } finally {
        conn.close();
      }
    },
    close() {},
  };
}

const KINDS: Kind[] = [
  {
    name: "TCPServer",
    Server: TCPServer as unknown as ServerClass,
    Handler: (calls) =>
      class Upper extends StreamRequestHandler<AnyServer> {
        override async handle() {
          calls.push("handle");
          const line = decoder.decode(await this.rfile.readline());
          if (line === "fail\n") throw new Error("handle() failed on purpose");
          await this.wfile.write(line.toUpperCase());
        }
      },
    bytes: (text) => text.length + 1,
    client: lineClient,
  },
  {
    // setup() and finish() of BaseRequestHandler itself, which the fused flow skips
    name: "TCPServer with a BaseRequestHandler",
    Server: TCPServer as unknown as ServerClass,
    Handler: (calls) =>
      class UpperRaw extends BaseRequestHandler<AnyServer> {
        override async handle() {
          calls.push("handle");
          const conn = this.request as Deno.Conn;
          const buffer = new Uint8Array(64);
          let line = "";
          while (!line.endsWith("\n")) {
            const n = await conn.read(buffer.subarray(0));
            if (n === null) break;
            line += decoder.decode(buffer.subarray(0, n));
          }
          if (line === "fail\n") throw new Error("handle() failed on purpose");
          await writeAll(conn, encoder.encode(line.toUpperCase()));
        }
      },
    bytes: () => 0, // rfile and wfile count bytes; this handler uses neither
    client: lineClient,
  },
  {
    name: "UDPServer",
    Server: UDPServer as unknown as ServerClass,
    Handler: (calls) =>
      class UpperDatagram extends DatagramRequestHandler<AnyServer> {
        override async handle() {
          calls.push("handle");
          const text = decoder.decode(this.packet);
          if (text === "fail") throw new Error("handle() failed on purpose");
          await this.wfile.write(text.toUpperCase());
        }
      },
    client: (server) => {
      const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      return {
        async ask(text) {
          await socket.send(encoder.encode(text), server.serverAddress as Deno.NetAddr);
          if (text === "fail") return "";
          const [reply] = await within(socket.receive(), 10_000, `the reply to "${text}"`);
          return decoder.decode(reply);
        },
        close: () => socket.close(),
      };
    },
    bytes: (text) => text.length,
  },
];

/** The server of one case, the hook overridden as `how` says once `from`
 * requests were served; the calls it records. */
function makeCase(kind: Kind, hook: Hook | null, how: How) {
  const calls: string[] = [];
  const isHandlerHook = (HANDLER_HOOKS as readonly string[]).includes(hook ?? "");
  let Handler = kind.Handler(calls);
  if (hook !== null && isHandlerHook) {
    const Base = Handler;
    const original = (Base.prototype as Record<string, AnyFunction>)[hook];
    if (how === "subclass") {
      Handler = class extends Base {};
      Object.defineProperty(Handler.prototype, hook, {
        value: recording(hook, original, calls),
        configurable: true,
        writable: true,
      });
    } else {
      const assigned = hook;
      Handler = class extends Base {
        // deno-lint-ignore no-explicit-any
        constructor(...args: [any, any, any]) {
          super(...args);
          (this as unknown as Record<string, AnyFunction>)[assigned] = recording(
            assigned,
            original,
            calls,
          );
        }
      };
    }
  }
  let Server = kind.Server;
  const original = hook === null || isHandlerHook
    ? null
    : (kind.Server.prototype as unknown as Record<string, AnyFunction>)[hook];
  if (original !== null && how === "subclass") {
    Server = class extends kind.Server {};
    Object.defineProperty(Server.prototype, hook!, {
      value: recording(hook!, original, calls),
      configurable: true,
      writable: true,
    });
  }
  const server = new Server(["127.0.0.1", 0], Handler) as AnyServer;
  const override = () => {
    (server as unknown as Record<string, AnyFunction>)[hook!] = recording(hook!, original!, calls);
  };
  if (original !== null && how === "instance") override();
  return {
    server,
    calls,
    override: original !== null && how === "between requests" ? override : null,
  };
}

function flowOf(server: AnyServer): FusedFlowView {
  return (server as unknown as Record<typeof kFusedFlow, FusedFlowView>)[kFusedFlow];
}

/** `stats()` without the drops, which must all be 0. */
function counted(stats: ServerStats) {
  const { dropped, ...rest } = stats;
  assert.deepEqual(Object.entries(dropped).filter(([, n]) => n !== 0), []);
  return rest;
}

/**
 * Serves two requests ("one", then "two" or "fail" when `handleError` is
 * the hook), then checks the replies, the calls recorded against Python's
 * order, the requests the fused flow took, the hooks it reports calling and
 * `stats()`.
 */
async function check(kind: Kind, hook: Hook | null, how: How): Promise<void> {
  const what = `${kind.name}, ${hook ?? "no hook"} overridden${hook === null ? "" : ` (${how})`}`;
  const { server, calls, override } = makeCase(kind, hook, how);
  const texts = ["one", hook === "handleError" ? "fail" : "two"];
  const from = override === null ? 0 : 1;
  const serving = server.serveForever();
  const client = kind.client(server);
  try {
    for (const [i, text] of texts.entries()) {
      if (i === from) override?.();
      assert.equal(await client.ask(text), text === "fail" ? "" : text.toUpperCase(), what);
      // the request has ended (closeRequest() ran) before the next one
      await until(() => server.stats().active === 0 && server.stats().accepted === i + 1, what);
    }
    const expected = texts.flatMap((text, i) =>
      (text === "fail" ? PYTHON_ORDER_FAILING : PYTHON_ORDER).filter((call) =>
        call === "handle" || (call === hook && i >= from)
      )
    );
    assert.deepEqual(calls, expected, `${what}: the calls, in Python's order`);
    // verifyRequest() and processRequest() overridden: the loop's own flow
    // calls them; any other hook: the fused flow calls it in its place
    const full = hook === "verifyRequest" || hook === "processRequest";
    const flow = flowOf(server);
    assert.equal(flow.fused, full ? from : texts.length, `${what}: requests the fused flow took`);
    const reported = hook === null || (how === "instance" && HANDLER_HOOKS.includes(hook as never))
      ? [] // a handler's own instance is checked per request, out of the server's sight
      : [(HANDLER_HOOKS as readonly string[]).includes(hook) ? `handler.${hook}` : hook];
    assert.deepEqual(flow.fullPathHooks(), reported, `${what}: the hooks called in place`);
    const bytes = kind.bytes;
    assert.deepEqual(counted(server.stats()), {
      accepted: 2,
      refused: 0,
      completed: texts.filter((text) => text !== "fail").length,
      errors: texts.filter((text) => text === "fail").length,
      bytesRead: texts.reduce((sum, text) => sum + bytes(text), 0),
      bytesWritten: texts.filter((text) => text !== "fail").reduce(
        (sum, text) => sum + bytes(text),
        0,
      ),
      active: 0,
    }, `${what}: stats()`);
  } finally {
    client.close();
    await server.shutdown();
    await server.serverClose();
    await serving;
  }
}

for (const kind of KINDS) {
  Deno.test(`serveForever() of a ${kind.name} with a request observer attached (instrument()'s) takes the fused flow, which runs each request inside the observer's request() and reports its outcome and end`, async () => {
    const calls: string[] = [];
    const server = new kind.Server(["127.0.0.1", 0], kind.Handler(calls));
    server[kRequests].observer = {
      request: (_request, _address, handle) => {
        calls.push("request");
        const handled = handle();
        calls.push("request returned");
        return handled;
      },
      admitted: () => calls.push("admitted"),
      reported: (_request, outcome) => calls.push(`reported ${outcome}`),
      ended: (_request, outcome) => calls.push(`ended ${outcome}`),
    };
    // off stderr; a handleError() of its own leaves the rest of the flow fused
    server.handleError = () => void calls.push("handleError");
    const serving = server.serveForever();
    const client = kind.client(server);
    try {
      assert.equal(await client.ask("one"), "ONE");
      await until(() => server.stats().active === 0 && server.stats().accepted === 1, "the first");
      assert.equal(await client.ask("fail"), "");
      await until(() => server.stats().active === 0 && server.stats().accepted === 2, "the second");
      // handle() starts inside request(): where an observer makes its context current
      assert.deepEqual(calls, [
        "request",
        "handle",
        "request returned",
        "ended completed",
        "request",
        "handle",
        "request returned",
        "reported error",
        "handleError",
        "ended error",
      ]);
      assert.equal(flowOf(server).fused, 2);
    } finally {
      client.close();
      await server.shutdown();
      await server.serverClose();
      await serving;
    }
  });

  Deno.test(`serveForever() of a ${kind.name} whose hooks are all the library's takes the fused flow for every request and calls none of them in place`, async () => {
    await check(kind, null, "subclass");
  });

  for (const hook of [...SERVER_HOOKS, ...HANDLER_HOOKS]) {
    const isHandlerHook = (HANDLER_HOOKS as readonly string[]).includes(hook);
    // a getRequest() assigned between requests would miss the second: the
    // loop has already called the first's for it
    const ways: How[] = isHandlerHook || hook === "getRequest"
      ? ["subclass", "instance"]
      : ["subclass", "instance", "between requests"];
    Deno.test(
      `serveForever() of a ${kind.name} calls ${hook}() overridden ${
        ways.length === 3
          ? "in a subclass, on the instance or between requests"
          : isHandlerHook
          ? "in a handler subclass or on the handler instance"
          : "in a subclass or on the instance"
      } in Python's order, and counts stats() as the fused flow does`,
      async () => {
        for (const how of ways) await check(kind, hook, how);
      },
    );
  }
}
