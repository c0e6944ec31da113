import { inferenceJobStatuses, type LlmUsage } from '@agentmem/memory'
import type { z } from '@hono/zod-openapi'
import type { inferenceJob } from '../../http/schemas.js'
import { errorBox, type Html, href, html, json, layout, pager, time, type Viewer } from './layout.js'

export type JobJson = z.infer<typeof inferenceJob>

/** The page's inputs as the user gave them, to fill the forms back in. */
export interface JobsInput {
  id?: string | undefined
  status?: string | undefined
  limit?: number | string | undefined
  cursor?: string | undefined
}

/**
 * Inference: whether an LLM is configured, its running totals (admin keys), and the tenant's jobs
 * newest first, by status, a page at a time; or one job by id (memories stored raw by a pending job
 * link here through their metadata).
 */
export function jobsPage(
  viewer: Viewer,
  options: {
    enabled: boolean
    usage: LlmUsage | undefined
    input: JobsInput
    page?: { results: JobJson[]; next_cursor: string | null }
    job?: JobJson | null
    error?: string
  },
): Html {
  const { usage, job, input, page } = options
  const limit = Number(input.limit) || 100
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
<div class="card">
  <form class="filters" method="get" action="/ui/jobs">
    <label>status<select name="status"><option value="">any</option>${inferenceJobStatuses.map((s) => html`<option${s === input.status ? html` selected` : ''}>${s}</option>`)}</select></label>
    <label>per page<select name="limit">${[20, 50, 100, 500].map((n) => html`<option${n === limit ? html` selected` : ''}>${n}</option>`)}</select></label>
    <div class="actions"><button>List</button></div>
  </form>
  <form class="filters" method="get" action="/ui/jobs">
    <label class="span3"><span>job id (from an add's <code>job.id</code>, or a raw memory's <code>metadata.inference_job</code>)</span><input name="id" value="${input.id ?? ''}" class="mono" autocomplete="off"></label>
    <div class="actions"><button>Look up</button></div>
  </form>
</div>
${errorBox(options.error)}
${job === null ? html`<p class="card muted">No job ${input.id} in tenant ${viewer.principal.tenantId}.</p>` : job ? jobCard(job) : ''}
${page ? html`${jobTable(page.results, input.status, viewer)}${pager('/ui/jobs', { status: input.status, limit }, { cursor: input.cursor, next_cursor: page.next_cursor })}` : ''}`,
  )
}

function badge(status: JobJson['status']): Html {
  return html`<span class="badge${status === 'done' ? ' ok' : status === 'failed' ? ' danger' : ' warn'}">${status}</span>`
}

function jobTable(jobs: JobJson[], status: string | undefined, viewer: Viewer): Html {
  if (jobs.length === 0) return html`<p class="card muted">No ${status ? `${status} ` : ''}jobs in tenant ${viewer.principal.tenantId}.</p>`
  return html`<table>
  <thead><tr><th>job</th><th>status</th><th class="num">attempts</th><th class="num">facts</th><th>error</th><th class="num">next attempt</th><th class="num">created</th><th class="num">updated</th></tr></thead>
  <tbody>
  ${jobs.map(
    (j) => html`<tr>
    <td><a class="mono" href="${href('/ui/jobs', { id: j.id })}">${j.id}</a></td>
    <td>${badge(j.status)}</td>
    <td class="num">${j.attempts}</td>
    <td class="num">${j.facts ?? ''}</td>
    <td>${j.error ? html`<code>${j.error.code}</code>` : ''}</td>
    <td class="num">${time(j.next_attempt_at)}</td>
    <td class="num">${time(j.created_at)}</td>
    <td class="num">${time(j.updated_at)}</td>
  </tr>`,
  )}
  </tbody>
</table>`
}

function jobCard(job: JobJson): Html {
  return html`<div class="card">
  <dl class="facts">
    <dt>id</dt><dd class="mono">${job.id}</dd>
    <dt>status</dt><dd>${badge(job.status)}</dd>
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
  <p><a href="/ui/jobs">« all jobs</a></p>
</div>`
}
