/**
 * Every relative link in README.md, the guides (docs/*.md), bench/README.md
 * and the examples' comments resolves: the file exists and a `#anchor` lands
 * on a heading, with GitHub's anchor for it. Files the guides name in code
 * spans (`tests/heap_test.ts`) exist too, so moving one breaks a test, not a
 * reader's trust.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** The Markdown files whose links are checked. */
const MARKDOWN = [
  "README.md",
  "bench/README.md",
  ...[...Deno.readDirSync(new URL("docs/", ROOT))]
    .filter((entry) => entry.name.endsWith(".md")).map((entry) => `docs/${entry.name}`).sort(),
];

/** The examples, whose comments point readers at the guides. */
function exampleFiles(dir = "examples/"): string[] {
  return [...Deno.readDirSync(new URL(dir, ROOT))].flatMap((entry) =>
    entry.isDirectory
      ? exampleFiles(`${dir}${entry.name}/`)
      : entry.name.endsWith(".ts")
      ? [`${dir}${entry.name}`]
      : []
  ).sort();
}

/** GitHub's anchor for a heading: links and code marks reduced to their
 * text, lower case, punctuation dropped, spaces as dashes. */
export function slug(heading: string): string {
  return heading.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").trim().toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

/** The anchors of a Markdown file's headings; a repeated heading gets
 * `-1`, `-2`... as on GitHub. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Whether `path` (relative to the repository) exists. */
function exists(path: string): boolean {
  try {
    Deno.statSync(new URL(path, ROOT));
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Why the link `target` from `file` does not resolve, or null when it does. */
function brokenLink(file: string, target: string): string | null {
  const [path, anchor] = target.split("#", 2) as [string, string | undefined];
  const dir = file.slice(0, file.lastIndexOf("/") + 1);
  const resolved = path === ""
    ? file
    : new URL(path, new URL(dir, ROOT)).href.slice(ROOT.href.length).replace(/\/$/, "");
  if (!new URL(resolved, ROOT).href.startsWith(ROOT.href) || resolved.startsWith("..")) {
    return `${file}: ${target} leaves the repository`;
  }
  if (!exists(resolved)) return `${file}: ${target} (no file ${resolved})`;
  if (anchor === undefined) return null;
  if (/^L\d+(-L\d+)?$/.test(anchor)) return null; // a line of a source file
  if (!resolved.endsWith(".md")) {
    return `${file}: ${target} (an anchor in a file that is not Markdown)`;
  }
  const anchors = anchorsOf(Deno.readTextFileSync(new URL(resolved, ROOT)));
  return anchors.has(anchor) ? null : `${file}: ${target} (no heading #${anchor} in ${resolved})`;
}

/** Markdown text without its fenced code blocks (their brackets are code). */
function prose(text: string): string {
  return text.replace(/^```[^\n]*\n[\s\S]*?^```/gm, (block) => block.replace(/[^\n]/g, " "));
}

/** The relative targets of a text's Markdown links (inline and reference style). */
function linkTargets(text: string): string[] {
  const targets = [
    ...[...text.matchAll(/\]\(<?([^)\s>]+)>?(?:\s+"[^"]*")?\)/g)].map((m) => m[1]),
    ...[...text.matchAll(/^\s*\[[^\]]+\]:\s+(\S+)/gm)].map((m) => m[1]),
  ];
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith("//"));
}

Deno.test("README.md, docs/*.md and bench/README.md: every relative link reaches a file, and every #anchor a heading", () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of MARKDOWN) {
    for (const target of linkTargets(prose(Deno.readTextFileSync(new URL(file, ROOT))))) {
      checked++;
      const why = brokenLink(file, target);
      if (why) broken.push(why);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked >= 60, `only ${checked} links checked`);
});

/** Paths of the repository as prose names them: `docs/x.md#y`,
 * `tests/fixtures/bind.ts`, `README.md`. */
const REPO_PATH =
  /(?<![\w./-])((?:\.\.\/)*(?:docs|bench|tests|examples|src)\/[\w./-]*\w(?:\.(?:md|ts|py|json|c|go|mjs|sh))?|README\.md)(#[\w-]+)?(?![\w*<{/])/g;

Deno.test("examples/: every guide, file and #anchor their comments name exists", () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of exampleFiles()) {
    const text = Deno.readTextFileSync(new URL(file, ROOT));
    const comments = [...text.matchAll(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g)].map((m) => m[0]).join("\n");
    for (const target of linkTargets(comments)) {
      checked++;
      const why = brokenLink(file, target);
      if (why) broken.push(why);
    }
    for (const [, path, anchor = ""] of comments.matchAll(REPO_PATH)) {
      checked++;
      // written from the repository's root, as a reader at a clone's root types it
      const why = brokenLink(path.startsWith("../") ? file : "README.md", path + anchor);
      if (why) broken.push(why.replace(/^README\.md:/, `${file}:`));
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked >= 1, "no reference checked in examples/");
});

Deno.test("README.md, docs/*.md and bench/README.md: every repository file they name exists", () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of MARKDOWN) {
    // a generated record of a past run names the files of that run
    const text = Deno.readTextFileSync(new URL(file, ROOT))
      .replace(/<!-- figures:start[\s\S]*?figures:end -->/g, "");
    for (const [, path] of text.matchAll(REPO_PATH)) {
      if (path.startsWith("bench/.build")) continue; // built by deno task bench:build
      checked++;
      if (!exists(path.replace(/^(\.\.\/)+/, ""))) broken.push(`${file}: ${path}`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked >= 10, `only ${checked} paths checked`);
});

Deno.test("README.md links every guide in docs/", () => {
  const readme = Deno.readTextFileSync(new URL("README.md", ROOT));
  const linked = new Set(linkTargets(prose(readme)).map((target) => target.split("#")[0]));
  const unlinked = MARKDOWN.filter((file) => file.startsWith("docs/") && !linked.has(file));
  assert.deepEqual(unlinked, []);
});

Deno.test("slug() and anchorsOf() give GitHub's anchors: code marks and punctuation dropped, repeats numbered", () => {
  assert.equal(slug("`readline(size)` cuts the line"), "readlinesize-cuts-the-line");
  assert.equal(slug("allowReusePort needs --unstable-net"), "allowreuseport-needs---unstable-net");
  assert.equal(slug("See [the guide](docs/x.md)"), "see-the-guide");
  assert.deepEqual(
    [...anchorsOf("# A\n## Figures\n```\n# not a heading\n```\n### Figures\n")],
    ["a", "figures", "figures-1"],
  );
});

Deno.test("README.md, docs/*.md and bench/README.md: no section is a placeholder an edit left behind (a line that starts with COST_PLACEHOLDER, TODO, TBD or the like)", () => {
  const left: string[] = [];
  for (const file of MARKDOWN) {
    const lines = Deno.readTextFileSync(new URL(file, ROOT)).split("\n");
    lines.forEach((line, i) => {
      if (/^\s*([A-Z_]*PLACEHOLDER[A-Z_]*|TODO|TBD|FIXME)\b.*$/.test(line)) {
        left.push(`${file}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  assert.deepEqual(left, []);
});
