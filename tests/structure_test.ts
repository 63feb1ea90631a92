/**
 * The shape of the house (issue 15): files and classes small enough to read,
 * an import graph without circles, a README that stays a landing page.
 * Each test prints what breaks the rule, so a failure says where to cut.
 */
import assert from "node:assert/strict";
import { runCommand } from "./_process.ts";

const ROOT = new URL("../", import.meta.url);
const MAX_FILE_LINES = 600;
const MAX_CLASS_LINES = 400;
const MAX_README_LINES = 250;

/** Every .ts file under `dir` (relative to the repository), recursively. */
function tsFiles(dir: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(new URL(dir, ROOT))) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory) found.push(...tsFiles(`${path}/`));
    else if (entry.name.endsWith(".ts")) found.push(path);
  }
  return found.sort();
}

/** Lines as `wc -l` counts them. */
function lineCount(text: string): number {
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

const REGEX_AFTER = new Set("(,=:[!&|?{};+-*%<>~^".split(""));
const REGEX_AFTER_WORD = new Set(
  "return typeof case of in yield await void delete throw new else do instanceof".split(" "),
);

/**
 * `source` with the text of comments, strings, template literals and regular
 * expressions replaced by spaces (newlines kept, so offsets and line numbers
 * hold), leaving only code: braces and keywords found in it are real.
 */
export function codeOnly(source: string): string {
  const out = source.split("");
  const blank = (from: number, to: number) => {
    for (let i = from; i < to; i++) if (out[i] !== "\n") out[i] = " ";
  };
  // what each open `{` belongs to: plain code, or a template's `${`
  const braces: ("code" | "template")[] = [];
  let i = 0;
  let last = ""; // last code token (a character or a word), to tell a regex from a division
  const scanTemplate = () => { // at the character after a backtick or a `${...}`'s `}`
    const start = i;
    while (i < source.length) {
      if (source[i] === "\\") i += 2;
      else if (source[i] === "`") {
        blank(start, i);
        i++;
        last = "`";
        return;
      } else if (source[i] === "$" && source[i + 1] === "{") {
        blank(start, i);
        braces.push("template");
        i += 2;
        last = "{";
        return;
      } else i++;
    }
    blank(start, i);
  };
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      const stop = end === -1 ? source.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? source.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < source.length && source[j] !== c && source[j] !== "\n") {
        j += source[j] === "\\" ? 2 : 1;
      }
      blank(i + 1, j);
      i = j + 1;
      last = c;
    } else if (c === "`") {
      i++;
      scanTemplate();
    } else if (
      c === "/" &&
      (last === "" || REGEX_AFTER.has(last) || REGEX_AFTER_WORD.has(last))
    ) {
      let j = i + 1;
      let inClass = false;
      while (j < source.length && source[j] !== "\n") {
        if (source[j] === "\\") j++;
        else if (source[j] === "[") inClass = true;
        else if (source[j] === "]") inClass = false;
        else if (source[j] === "/" && !inClass) break;
        j++;
      }
      blank(i + 1, j);
      i = j + 1;
      last = "/";
    } else if (c === "{") {
      braces.push("code");
      last = c;
      i++;
    } else if (c === "}") {
      if (braces.pop() === "template") {
        i++;
        scanTemplate();
      } else {
        last = c;
        i++;
      }
    } else if (/[A-Za-z0-9_$]/.test(c)) {
      const word = /^[A-Za-z0-9_$]+/.exec(source.slice(i, i + 64))![0];
      last = word;
      i += word.length;
    } else {
      if (!/\s/.test(c)) last = c;
      i++;
    }
  }
  return out.join("");
}

/** A class in a source file: its name, the first line of its JSDoc (or of
 * its declaration when it has none), and the line of its closing brace. */
export interface ClassSpan {
  name: string;
  declared: number;
  first: number;
  last: number;
}

/** Every class declaration and expression in `source`, with its span. */
export function classSpans(source: string): ClassSpan[] {
  const code = codeOnly(source);
  const lineAt = (offset: number) => source.slice(0, offset).split("\n").length;
  const spans: ClassSpan[] = [];
  for (const match of code.matchAll(/\bclass\b(\s+[A-Za-z_$][\w$]*)?/g)) {
    // the body opens at the first `{` outside the heritage clause's brackets
    let depth = 0;
    let open = -1;
    for (let j = match.index + match[0].length; j < code.length; j++) {
      const c = code[j];
      if (c === "(" || c === "[" || c === "<") depth++;
      else if (c === ")" || c === "]" || c === ">") depth--;
      else if (c === "{" && depth <= 0) {
        open = j;
        break;
      } else if (c === ";" && depth <= 0) break;
    }
    if (open === -1) continue;
    let level = 0;
    let close = -1;
    for (let j = open; j < code.length; j++) {
      if (code[j] === "{") level++;
      else if (code[j] === "}" && --level === 0) {
        close = j;
        break;
      }
    }
    assert.ok(close !== -1, `the class at line ${lineAt(match.index)} never closes`);
    // the JSDoc right above the statement that declares the class
    const lineStart = source.lastIndexOf("\n", match.index) + 1;
    const before = source.slice(0, lineStart).trimEnd();
    const doc = before.endsWith("*/") ? before.lastIndexOf("/**") : -1;
    const declared = lineAt(match.index);
    spans.push({
      name: match[1]?.trim() ?? "(anonymous)",
      declared,
      first: doc === -1 ? declared : lineAt(doc),
      last: lineAt(close),
    });
  }
  return spans;
}

Deno.test("codeOnly() and classSpans() see through comments, strings, templates and regexes", () => {
  const source = [
    "/** Doc with a { brace and `class Fake {`. */",
    "export class Real extends Mix(Base)<{ a: 1 }> {",
    '  s = "}" + \'{\' + `${"}"} ${`{${1}}`} }`;',
    "  r = /[}{/]/g; // class Comment {",
    "  d = 4 / 2 / 1;",
    "  m() { return /}/.test(`class T {`); }",
    "}",
    "const Anon = class {",
    "};",
    "",
  ].join("\n");
  assert.deepEqual(classSpans(source), [
    { name: "Real", declared: 2, first: 1, last: 7 },
    { name: "(anonymous)", declared: 8, first: 8, last: 9 },
  ]);
});

Deno.test(`src/: no file is over ${MAX_FILE_LINES} lines`, () => {
  const files = tsFiles("src/");
  assert.ok(files.length > 10, `only ${files.length} files under src/`);
  const over = files
    .map((path) => ({ path, lines: lineCount(Deno.readTextFileSync(new URL(path, ROOT))) }))
    .filter(({ lines }) => lines > MAX_FILE_LINES)
    .map(({ path, lines }) => `${path}: ${lines} lines`);
  assert.deepEqual(over, []);
});

Deno.test(`src/: no class is over ${MAX_CLASS_LINES} lines, from its declaration to its closing brace`, async () => {
  const spans = new Map<string, ClassSpan[]>();
  for (const path of tsFiles("src/")) {
    spans.set(path, classSpans(Deno.readTextFileSync(new URL(path, ROOT))));
  }
  // every class deno doc publishes is one the scanner found, on the same line
  const { code, stdout, stderr } = await runCommand("deno", [
    "doc",
    "--json",
    new URL("mod.ts", ROOT).pathname,
    new URL("testing.ts", ROOT).pathname,
  ]);
  assert.equal(code, 0, stderr);
  const doc = JSON.parse(stdout) as {
    nodes: Record<string, {
      symbols: {
        name: string;
        declarations: { kind: string; location: { filename: string; line: number } }[];
      }[];
    }>;
  };
  let published = 0;
  for (const node of Object.values(doc.nodes)) {
    for (const symbol of node.symbols) {
      for (const { kind, location } of symbol.declarations) {
        if (kind !== "class") continue;
        published++;
        const path = location.filename.slice(ROOT.href.length);
        const found = spans.get(path)?.some((span) => span.declared === location.line + 1);
        assert.ok(found, `class ${symbol.name} (${path}:${location.line + 1}) not found`);
      }
    }
  }
  assert.ok(published >= 15, `deno doc published only ${published} classes`);
  const over = [...spans].flatMap(([path, list]) =>
    // a class is its declaration to its closing brace, member JSDoc included;
    // the JSDoc above it documents the class and is not counted
    list.filter((span) => span.last - span.declared + 1 > MAX_CLASS_LINES)
      .map((span) =>
        `${path}:${span.declared}-${span.last}: class ${span.name}, ${
          span.last - span.declared + 1
        } lines`
      )
  );
  assert.deepEqual(over, []);
});

/** The import cycles among the repository's own modules reachable from
 * `entry`, type-only imports included, each as its sorted files. */
async function importCycles(entry: string): Promise<string[][]> {
  const { code, stdout, stderr } = await runCommand("deno", [
    "info",
    "--json",
    new URL(entry, ROOT).pathname,
  ]);
  assert.equal(code, 0, stderr);
  const info = JSON.parse(stdout) as {
    modules: {
      specifier: string;
      dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
    }[];
  };
  const local = (specifier?: string) => specifier?.startsWith(ROOT.href) ? specifier : undefined;
  const graph = new Map<string, string[]>();
  for (const module of info.modules) {
    if (!local(module.specifier)) continue;
    const edges = (module.dependencies ?? []).flatMap((d) => [d.code?.specifier, d.type?.specifier])
      .map(local).filter((s): s is string => s !== undefined);
    graph.set(module.specifier.slice(ROOT.href.length), [
      ...new Set(edges.map((s) => s.slice(ROOT.href.length))),
    ]);
  }
  assert.ok(graph.size > 5, `deno info found only ${graph.size} local modules`);
  // Tarjan's strongly connected components: any with two or more files is a cycle
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)?.includes(v)) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

for (const entry of ["mod.ts", "testing.ts", "otel.ts"]) {
  Deno.test(`deno info --json ${entry}: no import cycle among the repository's modules, type-only imports included`, async () => {
    assert.deepEqual(await importCycles(entry), []);
  });
}

Deno.test(`README.md: at most ${MAX_README_LINES} lines, a landing page`, () => {
  const lines = lineCount(Deno.readTextFileSync(new URL("README.md", ROOT)));
  assert.ok(lines <= MAX_README_LINES, `README.md has ${lines} lines`);
});
