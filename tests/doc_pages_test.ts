/**
 * The generated documentation (`deno doc`, as JSR renders it) shows every
 * public method on each server's own page — a page lists only what the
 * class or interface itself declares — and nothing internal.
 */
import assert from "node:assert/strict";
import { runCommand } from "./_process.ts";

interface Member {
  name: string;
  kind?: string;
}
interface Declaration {
  kind: string;
  def?: { methods?: Member[]; properties?: Member[] };
}
interface DocSymbol {
  name: string;
  declarations: Declaration[];
}

async function docSymbols(): Promise<Map<string, DocSymbol>> {
  const mod = new URL("../mod.ts", import.meta.url);
  const { code, stdout, stderr } = await runCommand("deno", ["doc", "--json", mod.pathname], {
    timeoutMs: 60_000,
  });
  assert.equal(code, 0, stderr);
  const doc = JSON.parse(stdout) as { nodes: Record<string, { symbols: DocSymbol[] }> };
  return new Map(Object.values(doc.nodes)[0].symbols.map((symbol) => [symbol.name, symbol]));
}

/** The methods a page shows: those its declarations (class, interface) declare. */
function methodsOn(symbol: DocSymbol): Set<string> {
  const names = new Set<string>();
  for (const declaration of symbol.declarations) {
    for (const member of declaration.def?.methods ?? []) {
      if (member.kind === "method") names.add(member.name);
    }
  }
  return names;
}

const isInternal = (name: string) => /^\[k[A-Z]/.test(name);

/** Where each page's methods come from: its own class and its ancestors. */
const CHAINS: Record<string, string[]> = {
  TCPServer: ["BaseServer", "StreamServer", "TCPServerBase", "TCPServer"],
  TLSServer: ["BaseServer", "StreamServer", "TCPServerBase", "TLSServer"],
  UnixStreamServer: ["BaseServer", "StreamServer", "UnixStreamServer"],
  UDPServer: ["BaseServer", "DatagramServer", "UDPServer"],
  UnixDatagramServer: ["BaseServer", "DatagramServer", "UnixDatagramServer"],
};
const PAGES: Record<string, string[]> = {
  ...CHAINS,
  ThreadingTCPServer: [...CHAINS.TCPServer, "ThreadingServer"],
  ThreadingTLSServer: [...CHAINS.TLSServer, "ThreadingServer"],
  ThreadingUnixStreamServer: [...CHAINS.UnixStreamServer, "ThreadingServer"],
  ThreadingUDPServer: [...CHAINS.UDPServer, "ThreadingServer"],
  ThreadingUnixDatagramServer: [...CHAINS.UnixDatagramServer, "ThreadingServer"],
  ForkingTCPServer: [...CHAINS.TCPServer, "ThreadingServer", "ForkingServer"],
  ForkingTLSServer: [...CHAINS.TLSServer, "ThreadingServer", "ForkingServer"],
};

Deno.test("deno doc lists every public method on the TCPServer and ThreadingTCPServer pages, and on every other server's", async () => {
  const symbols = await docSymbols();
  const missing: string[] = [];
  for (const [page, sources] of Object.entries(PAGES)) {
    const shown = methodsOn(symbols.get(page)!);
    for (const source of sources) {
      for (const method of methodsOn(symbols.get(source)!)) {
        if (!isInternal(method) && !shown.has(method)) missing.push(`${page}: ${method}`);
      }
    }
  }
  assert.deepEqual(missing, []);
  assert.ok(methodsOn(symbols.get("ThreadingTCPServer")!).has("serveForever"));
  assert.ok(methodsOn(symbols.get("ForkingTCPServer")!).has("childDied"));
});

Deno.test("deno doc shows nothing internal: no symbol-keyed member such as [kAttribute] on any page", async () => {
  const symbols = await docSymbols();
  const shown: string[] = [];
  for (const symbol of symbols.values()) {
    for (const declaration of symbol.declarations) {
      const members = [...declaration.def?.methods ?? [], ...declaration.def?.properties ?? []];
      for (const member of members) {
        if (isInternal(member.name)) shown.push(`${symbol.name}.${member.name}`);
      }
    }
  }
  assert.deepEqual(shown, []);
  assert.ok(symbols.has("BaseServer"));
});
