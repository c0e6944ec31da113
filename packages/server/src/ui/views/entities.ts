import { type Html, href, html, layout, type Viewer } from './layout.js'

export interface Entity {
  type: 'user' | 'agent' | 'run'
  id: string
  count: number
}

const groups = [
  { type: 'user', title: 'Users', param: 'user_id' },
  { type: 'agent', title: 'Agents', param: 'agent_id' },
  { type: 'run', title: 'Runs', param: 'run_id' },
] as const

/** Users, agents and runs of the tenant with their memory counts; each links to its memories and a search. */
export function entitiesPage(viewer: Viewer, entities: Entity[]): Html {
  return layout(
    { title: 'Entities', section: 'entities', viewer },
    html`<h1>Entities</h1>
${entities.length === 0 ? html`<p class="card muted">No memories yet in tenant ${viewer.principal.tenantId}.</p>` : ''}
<div class="columns">
${groups.map((group) => {
  const members = entities.filter((e) => e.type === group.type)
  return html`<section>
  <h2>${group.title} <span class="muted">(${members.length})</span></h2>
  <table>
    <thead><tr><th>${group.type} id</th><th class="num">memories</th><th></th></tr></thead>
    <tbody>
    ${members.map(
      (e) => html`<tr>
      <td class="text"><a href="${href('/ui/memories', { [group.param]: e.id })}">${e.id}</a></td>
      <td class="num">${e.count}</td>
      <td class="num"><a href="${href('/ui/search', { [group.param]: e.id })}">search</a></td>
    </tr>`,
    )}
    ${members.length === 0 ? html`<tr><td colspan="3" class="muted">none</td></tr>` : ''}
    </tbody>
  </table>
</section>`
})}
</div>`,
  )
}
