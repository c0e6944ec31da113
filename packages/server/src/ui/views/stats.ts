import type { Memory } from '@agentmem/memory'
import { type Html, html, layout, type Viewer } from './layout.js'

export interface StatsView {
  model: string
  dimensions: number
  /** This tenant's users, agents and runs. */
  entities: { user: number; agent: number; run: number }
  /** Store-wide numbers, for admin keys only: they describe every tenant. */
  store?: { memories: number; diskBytes: number; pendingWrites: number; resident: ReturnType<Memory['stats']>['resident'] }
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  const [value, unit] = bytes < 1024 ** 2 ? [bytes / 1024, 'KiB'] : bytes < 1024 ** 3 ? [bytes / 1024 ** 2, 'MiB'] : [bytes / 1024 ** 3, 'GiB']
  return `${value.toFixed(1)} ${unit}`
}

function tiles(items: Array<[label: string, value: string | number]>): Html {
  return html`<div class="grid">${items.map(([label, value]) => html`<div class="stat"><div class="value">${value}</div><div class="label">${label}</div></div>`)}</div>`
}

export function statsPage(viewer: Viewer, stats: StatsView): Html {
  const { store } = stats
  return layout(
    { title: 'Stats', section: 'stats', viewer },
    html`<h1>Stats</h1>
<h2>Embedding model</h2>
${tiles([
  ['model', stats.model],
  ['dimensions', stats.dimensions],
])}
<h2>Tenant ${viewer.principal.tenantId}</h2>
${tiles([
  ['users', stats.entities.user],
  ['agents', stats.entities.agent],
  ['runs', stats.entities.run],
])}
${
  store
    ? html`<h2>Store (all tenants)</h2>
${tiles([
  ['memories', store.memories],
  ['on disk', size(store.diskBytes)],
  ['writes not yet in the vector store', store.pendingWrites],
])}
<h2>Resident search index</h2>
${tiles([
  ['heap used / budget', `${size(store.resident.usedBytes)} / ${size(store.resident.budgetBytes)}`],
  ['resident scopes', store.resident.scopes],
  ['resident memories', store.resident.rows],
  ['keyword statistics', size(store.resident.statsBytes)],
  ['hits', store.resident.hits],
  ['store searches', store.resident.storeSearches],
  ['loads', store.resident.loads],
  ['evictions', store.resident.evictions],
])}`
    : html`<p class="muted">Store-wide numbers (size on disk, cache use) are shown to admin keys.</p>`
}`,
  )
}
