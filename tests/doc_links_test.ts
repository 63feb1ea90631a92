/**
 * The README's and the guides' links to a section of a guide
 * (`docs/porting.md#anchor`) land on a heading that exists, with GitHub's
 * anchor for it.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function anchorsOf(path: string): Set<string> {
  const text = Deno.readTextFileSync(new URL(path, ROOT));
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (heading) anchors.add(slug(heading[1]));
  }
  return anchors;
}

Deno.test("README.md and docs/*.md: every link to a section of a guide lands on a heading", () => {
  const broken: string[] = [];
  const files = [
    "README.md",
    ...[...Deno.readDirSync(new URL("docs/", ROOT))]
      .filter((entry) => entry.name.endsWith(".md")).map((entry) => `docs/${entry.name}`),
  ];
  let checked = 0;
  for (const file of files) {
    const text = Deno.readTextFileSync(new URL(file, ROOT));
    const dir = file.includes("/") ? file.slice(0, file.lastIndexOf("/") + 1) : "";
    for (const [, target, anchor] of text.matchAll(/\]\(([^)#\s]*\.md)?#([^)\s]+)\)/g)) {
      const path = target === undefined ? file : new URL(target, new URL(dir, ROOT)).href
        .slice(ROOT.href.length);
      checked++;
      if (!anchorsOf(path).has(anchor)) broken.push(`${file}: ${target ?? ""}#${anchor}`);
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked >= 20, `only ${checked} links checked`);
});
