import { searchModes } from '@agentmem/memory'
import type { z } from '@hono/zod-openapi'
import type { searchHit } from '../../http/schemas.js'
import { errorBox, type Html, html, layout, shorten, type Viewer } from './layout.js'
import { scopeInputs, scopeLabel } from './memories.js'

export type SearchHitJson = z.infer<typeof searchHit>

export interface SearchInput {
  query?: string | undefined
  user_id?: string | undefined
  agent_id?: string | undefined
  run_id?: string | undefined
  filters?: string | undefined
  top_k?: string | undefined
  mode?: string | undefined
  include_superseded?: string | undefined
}

const score = (value: number | null | undefined) => (value === null || value === undefined || Number.isNaN(value) ? '–' : value.toFixed(3))

/** A search with every signal the engine explains: fused score, cosine similarity, each ranking's score and rank. */
export function searchPage(viewer: Viewer, options: { input: SearchInput; results?: SearchHitJson[]; error?: string }): Html {
  const { input, results } = options
  return layout(
    { title: 'Search', section: 'search', viewer },
    html`<h1>Search</h1>
<form class="card filters" method="get" action="/ui/search">
  <label class="wide">query<input name="query" value="${input.query ?? ''}" autocomplete="off" autofocus></label>
  ${scopeInputs(input)}
  <label>mode<select name="mode">${searchModes.map((m) => html`<option${m === (input.mode ?? 'hybrid') ? html` selected` : ''}>${m}</option>`)}</select>
  </label>
  <label>top k<input name="top_k" type="number" min="1" value="${input.top_k ?? '10'}"></label>
  <label class="wide">filters (JSON, as in the API)<textarea class="code" name="filters" rows="2" placeholder='{"metadata.topic": "home"}'>
${input.filters ?? ''}</textarea>
  </label>
  <div class="wide actions">
    <label class="check"><input type="checkbox" name="include_superseded" value="true"${input.include_superseded === 'true' ? html` checked` : ''}> include superseded</label>
    <button>Search</button>
  </div>
</form>
${errorBox(options.error)}
${results ? resultTable(results) : ''}`,
  )
}

function resultTable(results: SearchHitJson[]): Html {
  if (results.length === 0) return html`<p class="card muted">Nothing found.</p>`
  return html`<table>
  <thead><tr>
    <th class="num">#</th><th>memory</th><th>scope</th>
    <th class="num">score</th><th class="num">similarity</th><th class="num">vector rank</th><th class="num">keyword (BM25)</th><th class="num">keyword rank</th><th class="num">fused</th><th>context</th>
  </tr></thead>
  <tbody>
  ${results.map(
    (hit, i) => html`<tr>
    <td class="num">${i + 1}</td>
    <td class="text"><a href="/ui/memories/${hit.id}">${shorten(hit.memory, 240)}</a>${hit.valid_to ? html` <span class="badge warn">superseded</span>` : ''}</td>
    <td>${scopeLabel(hit)}</td>
    <td class="num"><strong>${score(hit.score)}</strong></td>
    <td class="num">${score(hit.similarity)}</td>
    <td class="num">${hit.explain?.vector.rank ?? '–'}</td>
    <td class="num">${score(hit.explain?.keyword?.score)}</td>
    <td class="num">${hit.explain?.keyword?.rank ?? '–'}</td>
    <td class="num">${score(hit.explain?.fused)}</td>
    <td class="context">${contextCell(hit, results)}</td>
  </tr>`,
  )}
  </tbody>
</table>
<p class="muted">score orders the results: in hybrid mode 0.7 · BM25 / best BM25 + 0.3 · similarity, plus feedback (it holds words of the best results the query lacks) and context (a share of the score of the memory next to it in its conversation that matched); in vector mode the similarity; in keyword mode BM25. Ranks are each signal's own order (– when the memory was not among its candidates).</p>`
}

/** What conversation context added, and from which memory: its place among the results, or a link when it is not shown. */
function contextCell(hit: SearchHitJson, results: SearchHitJson[]): Html | string {
  const context = hit.explain?.context
  if (!context) return '–'
  const at = results.findIndex((other) => other.id === context.from)
  return html`+${score(context.score)} from <a href="/ui/memories/${context.from}">${at >= 0 ? `#${at + 1}` : 'a memory not shown'}</a>`
}
