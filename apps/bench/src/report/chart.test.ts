import { Resvg } from '@resvg/resvg-js'
import { describe, expect, it } from 'vitest'
import { type Chart, renderSvg } from './chart.js'

const bars: Chart = {
  title: 'Requests & <errors>',
  data: {
    values: [
      { contender: 'AgentMem', ms: 3.5 },
      { contender: 'Mem0', ms: 160.2 },
    ],
  },
  mark: 'bar',
  encoding: { x: { field: 'contender', type: 'nominal' }, y: { field: 'ms', type: 'quantitative' } },
}
// Clipped marks get numbered clip-path ids: the numbering must restart with every chart.
const facets: Chart = {
  data: { values: [1, 2, 3].map((i) => ({ panel: `p${i % 2}`, x: i, y: i * i })) },
  facet: { column: { field: 'panel', type: 'nominal' } },
  spec: { layer: [{ mark: { type: 'line', clip: true }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } } }] },
  resolve: { scale: { y: 'independent' } },
}

describe('renderSvg', () => {
  it('renders the same chart to the same bytes, whatever was rendered before', async () => {
    const first = await renderSvg(facets)
    await renderSvg(bars)
    expect(await renderSvg(facets)).toBe(first)
  })

  it('writes a titled SVG without ARIA roles (Biome lints docs/)', async () => {
    const svg = await renderSvg(bars)
    expect(svg).toMatch(/^<svg [^>]*><title>Requests &amp; &lt;errors&gt;<\/title>/)
    expect(svg).not.toMatch(/ role=/)
  })

  it('draws an image an SVG renderer reads, at the size it says', async () => {
    const svg = await renderSvg(bars)
    const [, width, height] = /width="(\d+)" height="(\d+)"/.exec(svg) ?? []
    const image = new Resvg(svg).render()
    expect([image.width, image.height]).toEqual([Number(width), Number(height)])
    // Not blank: some pixels are neither white nor grey (the bars).
    const pixels = image.pixels
    let coloured = 0
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i] !== pixels[i + 2]) coloured++
    expect(coloured).toBeGreaterThan(1000)
  })
})
