/**
 * The benchmark chart: a hand-written SVG, one panel per workload, one bar
 * per server (requests/s, the spread over rounds as a whisker; RSS for the
 * idle workload), each labelled with its figure, its server CPU per request
 * and its ratio to raw Deno. No dependencies.
 *
 * @module
 */
import { type Figure, type Impl, IMPLS, type Report } from "./report.ts";

const COLORS: Record<Impl, string> = {
  c: "#111827",
  bun: "#c2410c",
  go: "#0e7490",
  deno: "#6b7280",
  node: "#3d9a48",
  lib: "#2f6fdf",
  python: "#d9a21b",
  asyncio: "#a16207",
};

const WIDTH = 1200;
const LABEL = 490; // the server names' column
const BAR = 380; // the longest bar
const ROW = 20;
const PAD = 14;

/** Escapes text for SVG. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Renders the report as an SVG document.
 *
 * @param report The run.
 * @param figures Its summary.
 * @returns The SVG text.
 */
export function renderChart(report: Report, figures: Figure[]): string {
  const body: string[] = [];
  let y = 40;
  body.push(
    `<text x="${PAD}" y="24" class="h1">@x/socketserver benchmark · ${
      escapeXml(report.date.slice(0, 16).replace("T", " "))
    } UTC · ${report.machine.cores} cores (shared) · ${report.rounds} × ${report.seconds} s runs · whiskers: min–max over rounds</text>`,
  );
  let x = PAD;
  for (const { impl, label } of IMPLS) {
    if (!report.servers.some((s) => s.impl === impl)) continue;
    body.push(`<rect x="${x}" y="${y - 10}" width="12" height="12" fill="${COLORS[impl]}"/>`);
    body.push(`<text x="${x + 17}" y="${y}" class="small">${escapeXml(label)}</text>`);
    x += 30 + label.length * 6.5;
  }
  y += 14;
  for (const w of report.workloads) {
    const rows = figures.filter((f) => f.workload === w.id);
    if (rows.length === 0) continue;
    const idle = w.mode === "idle";
    y += 26;
    body.push(
      `<text x="${PAD}" y="${y}" class="h2">${escapeXml(w.title)}${
        idle ? " — lower is better" : ""
      }</text>`,
    );
    body.push(
      `<text x="${WIDTH - PAD}" y="${y}" class="small" text-anchor="end">client: ${
        escapeXml(report.clients[w.id] ?? "")
      }</text>`,
    );
    y += 8;
    const max = Math.max(1, ...rows.map((f) => f.value?.median ?? 0));
    for (const f of rows) {
      const server = report.servers.find((s) => s.id === f.server)!;
      const top = y + 4;
      body.push(
        `<text x="${LABEL - 8}" y="${top + 13}" class="label" text-anchor="end">${
          escapeXml(server.name)
        }</text>`,
      );
      if (f.value) {
        const width = Math.max(1, (f.value.median / max) * BAR);
        let textAt = LABEL + width + 6;
        const figure = idle
          ? `${(f.value.median / 1024).toFixed(1)} MiB`
          : `${Math.round(f.value.median).toLocaleString("en")} req/s${
            f.cpu ? ` · ${f.cpu.median.toFixed(1)} µs CPU` : ""
          }`;
        const ratio = f.ratio ? ` · ${f.ratio.median.toFixed(2)}×` : "";
        body.push(
          `<rect x="${LABEL}" y="${top}" width="${width.toFixed(1)}" height="${ROW - 4}" fill="${
            COLORS[server.impl] ?? "#999"
          }"><title>${escapeXml(`${server.name}: ${figure}${ratio}`)}</title></rect>`,
        );
        if (f.value.min !== f.value.max) {
          const a = LABEL + (f.value.min / max) * BAR;
          const b = LABEL + (f.value.max / max) * BAR;
          const mid = top + (ROW - 4) / 2;
          body.push(
            `<path d="M${a.toFixed(1)} ${mid}H${b.toFixed(1)}M${a.toFixed(1)} ${mid - 4}v8M${
              b.toFixed(1)
            } ${mid - 4}v8" class="spread"/>`,
          );
          textAt = Math.max(textAt, b + 6);
        }
        body.push(
          `<text x="${textAt.toFixed(1)}" y="${top + 13}" class="value">${
            escapeXml(figure + ratio)
          }</text>`,
        );
      } else {
        body.push(
          `<text x="${LABEL}" y="${top + 13}" class="note">${
            escapeXml(f.note ?? "no figure")
          }</text>`,
        );
      }
      y += ROW;
    }
  }
  const height = y + PAD + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">`,
    "<style>.h1{font-size:15px;font-weight:600}.h2{font-size:13px;font-weight:600}.label,.value{font-size:12px}.small{font-size:11px;fill:#555}.note{font-size:11px;fill:#888;font-style:italic}.spread{stroke:#111;stroke-width:1;fill:none}</style>",
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}
