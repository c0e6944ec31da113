/**
 * Charts: Vega-Lite specs rendered to SVG in Node, no browser. Output is deterministic (same spec,
 * same bytes) so committed charts diff cleanly: text widths are estimated rather than measured
 * with a canvas (no font lookup), and clip and gradient ids restart at every render.
 */
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'

export type Chart = TopLevelSpec

// Exported by vega but missing from its typings. Without it, a `canvas` package installed anywhere in
// the workspace would measure text with this machine's fonts.
;(vega as unknown as { textMetrics: { canvas(use: boolean): void } }).textMetrics.canvas(false)

/** The look every chart shares: white background (readable in dark viewers), one font, one palette. */
const config = {
  background: 'white',
  font: 'Helvetica, Arial, sans-serif',
  padding: 8,
  view: { stroke: '#ddd' },
  range: { category: ['#2563eb', '#f59e0b', '#94a3b8', '#dc2626', '#16a34a', '#7c3aed'] },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee', labelLimit: 0 },
  // No label limits: text widths are estimated, and truncated labels were unreadable.
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 0 },
  title: { fontSize: 14, anchor: 'start', offset: 10 },
  header: { labelFontSize: 12, titleFontSize: 12, labelLimit: 0 },
  // ARIA labels repeat every datum at full precision: large files and noisy diffs for no reader of a static image.
  aria: false,
} as const

export async function renderSvg(chart: Chart): Promise<string> {
  vega.resetSVGDefIds()
  const view = new vega.View(vega.parse(compile({ ...chart, config: { ...config, ...chart.config } } as TopLevelSpec).spec), { renderer: 'none' })
  try {
    const svg = await view.toSVG()
    // `pnpm lint` checks docs/ with Biome's a11y rules: an SVG needs a <title>, and vega's ARIA roles on
    // plain groups fail them (with `aria: false` they describe nothing anyway).
    const title = escapeXml(titleText(chart))
    return `${svg.replace(/ (role|aria-roledescription)="[^"]*"/g, '').replace(/^(<svg[^>]*>)/, `$1<title>${title}</title>`)}\n`
  } finally {
    view.finalize()
  }
}

/** A chart's title as plain text (its alt text in reports). */
export function titleText(chart: Chart): string {
  const title = chart.title
  const text = typeof title === 'object' && title !== null && 'text' in title ? title.text : title
  return Array.isArray(text) ? text.join(' ') : String(text ?? 'chart')
}

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
