import type { LlmUsage } from '@agentmem/memory'
import type { z } from '@hono/zod-openapi'
import type { inferenceJob } from '../../http/schemas.js'
import { errorBox, type Html, html, json, layout, time, type Viewer } from './layout.js'

export type JobJson = z.infer<typeof inferenceJob>

/**
 * Inference: whether an LLM is configured, its running totals (admin keys), and one job looked up by id (the
 * engine keeps jobs by id; memories stored raw by a pending job link here through their metadata).
 */
export function jobsPage(
  viewer: Viewer,
  options: { enabled: boolean; usage: LlmUsage | undefined; id?: string | undefined; job?: JobJson | null; error?: string },
): Html {
  const { usage, job } = options
  return layout(
    { title: 'Inference jobs', section: 'jobs', viewer },
    html`<h1>Inference jobs</h1>
<div class="card">
  ${
    options.enabled
      ? html`<p>Inference is <span class="badge ok">on</span>: adds with <code>infer: true</code> extract facts with the configured LLM.</p>`
      : html`<p>Inference is <span class="badge">off</span>: no LLM is configured (<code>AGENTMEM_LLM_BASE_URL</code>, <code>AGENTMEM_LLM_MODEL</code>).</p>`
  }
  ${
    usage
      ? html`<div class="grid">
    ${[
      ['LLM calls', usage.calls],
      ['retries', usage.retries],
      ['failures', usage.failures],
      ['prompt tokens', usage.promptTokens],
      ['completion tokens', usage.completionTokens],
    ].map(([label, value]) => html`<div class="stat"><div class="value">${value}</div><div class="label">${label} since start, all tenants</div></div>`)}
  </div>`
      : ''
  }
</div>
<form class="card filters" method="get" action="/ui/jobs">
  <label class="wide"><span>job id (from an add's <code>job.id</code>, or a raw memory's <code>metadata.inference_job</code>)</span><input name="id" value="${options.id ?? ''}" class="mono" autocomplete="off"></label>
  <div class="wide actions"><button>Look up</button></div>
</form>
${errorBox(options.error)}
${job === null ? html`<p class="card muted">No job ${options.id} in tenant ${viewer.principal.tenantId}.</p>` : job ? jobCard(job) : ''}`,
  )
}

function jobCard(job: JobJson): Html {
  return html`<div class="card">
  <dl class="facts">
    <dt>id</dt><dd class="mono">${job.id}</dd>
    <dt>status</dt><dd><span class="badge${job.status === 'done' ? ' ok' : job.status === 'failed' ? ' danger' : ' warn'}">${job.status}</span></dd>
    <dt>attempts</dt><dd>${job.attempts}</dd>
    ${job.facts !== undefined ? html`<dt>facts</dt><dd>${job.facts}</dd>` : ''}
    ${job.next_attempt_at ? html`<dt>next attempt</dt><dd>${time(job.next_attempt_at)}</dd>` : ''}
    <dt>created</dt><dd>${time(job.created_at)}</dd>
    <dt>updated</dt><dd>${time(job.updated_at)}</dd>
    ${job.error ? html`<dt>error</dt><dd><pre>${json(job.error)}</pre></dd>` : ''}
    ${job.rejected?.length ? html`<dt>rejected</dt><dd><pre>${json(job.rejected)}</pre></dd>` : ''}
  </dl>
  ${
    job.results?.length
      ? html`<h2>Results</h2><table><thead><tr><th>event</th><th>memory</th></tr></thead><tbody>
    ${job.results.map((r) => html`<tr><td><span class="badge">${r.event}</span></td><td class="text"><a href="/ui/memories/${r.id}">${r.memory}</a></td></tr>`)}
  </tbody></table>`
      : ''
  }
</div>`
}
