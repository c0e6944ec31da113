import { z } from 'zod'
import type { ServerConfig } from '../config.js'
import { validationFailed } from '../errors.js'
import { jobListQuery, requestSchemas } from '../http/schemas.js'

/**
 * What the dashboard's forms and links send, validated with the HTTP API's own schemas: a form is
 * turned into the API's request shape first (strings to numbers and booleans, JSON text to
 * objects), so the limits and messages are the API's.
 */

/** Browsers send every field of a form, empty ones as ''; an empty field means "not given", unless it is one of `kept`. */
function given(input: Record<string, unknown>, kept: readonly string[] = []): Record<string, unknown> {
  return Object.fromEntries(Object.entries(input).filter(([name, value]) => value !== undefined && (value !== '' || kept.includes(name))))
}

const checkbox = z.literal('true').optional()
/** A field holding a JSON object as text; the example in its error is one the field accepts. */
const jsonObjectText = (name: 'metadata' | 'filters') =>
  z
    .string()
    .max(16_384)
    .transform((text, ctx) => {
      try {
        const value: unknown = JSON.parse(text)
        if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>
      } catch {}
      const example = name === 'metadata' ? '{"topic": "home"}' : '{"metadata.topic": "home"}'
      ctx.addIssue({ code: 'custom', message: `${name} must be a JSON object, like ${example}` })
      return z.NEVER
    })
const scopeFields = { user_id: z.string().optional(), agent_id: z.string().optional(), run_id: z.string().optional() }

export function dashboardForms(config: ServerConfig) {
  const api = requestSchemas(config)
  /** Parses with a schema; failures are the API's REQUEST_VALIDATION_FAILED (400), naming the fields. */
  const read =
    <T extends z.ZodType>(schema: T, where: string, kept: readonly string[] = []) =>
    (input: Record<string, unknown>): z.output<T> => {
      const parsed = schema.safeParse(given(input, kept))
      if (!parsed.success) throw validationFailed(parsed.error.issues, where)
      return parsed.data
    }

  const readSearchForm = read(
    z
      .strictObject({
        // An empty field is dropped (`given`): say what is missing, not "expected string, received undefined".
        query: z.string({ error: 'enter a query' }),
        ...scopeFields,
        filters: jsonObjectText('filters').optional(),
        top_k: z.coerce.number().optional(),
        mode: z.string().optional(),
        include_superseded: checkbox,
      })
      .transform(({ include_superseded, ...rest }) => ({ ...rest, explain: true, include_superseded: include_superseded === 'true' })),
    'search',
  )
  const readSearchBody = read(api.searchBody, 'search')
  const readUpdate = read(
    z
      .strictObject({
        _csrf: z.string(),
        // Browsers send a textarea's line breaks as CRLF: saved as they were, a text would change unedited.
        text: z.string().transform(asShown).optional(),
        metadata: jsonObjectText('metadata').optional(),
      })
      .transform(({ _csrf, ...rest }) => rest)
      .pipe(api.updateBody),
    'edit form',
    // An emptied text box is an empty text, refused as the API refuses one: dropped, it saved the metadata alone and said "saved".
    ['text'],
  )

  return {
    // A key pasted with the line break or spaces around it (as the CLI reads AGENTMEM_API_KEY, trimmed).
    login: read(z.strictObject({ key: z.string().trim().min(1).max(512) }), 'sign-in form'),
    /** The list page's query string is the API's list query (`GET /v1/memories`) as it is. */
    list: read(api.listQuery, 'list'),
    /** The search page's query string, as the API's search body (`POST /v1/memories/search`) with `explain`. */
    search: (input: Record<string, unknown>) => readSearchBody(readSearchForm(input)),
    update: (input: Record<string, unknown>) => readUpdate(emptiedMetadata(input)),
    /** `purge` from the form, else from the URL (`?purge=true`, as the confirmation page's address has it). */
    delete: read(z.strictObject({ _csrf: z.string(), purge: z.enum(['true', 'false']).optional() }), 'delete form'),
    createKey: read(
      z.strictObject({
        _csrf: z.string(),
        tenant: z.string().min(1).max(256),
        name: z.string().max(256).optional(),
        role: z.enum(['tenant', 'admin']).default('tenant'),
      }),
      'new key form',
    ),
    /** The jobs page's query string: the API's job list query (`GET /v1/jobs`), or one job's `id`. */
    jobs: read(jobListQuery.extend({ id: z.uuid().optional() }), 'jobs'),
    confirmDelete: read(z.strictObject({ purge: checkbox }), 'delete'),
    memoryId: read(z.strictObject({ id: z.uuid() }), 'memory id'),
    keyId: read(z.strictObject({ id: z.string().min(1).max(64) }), 'key id'),
  }
}
export type DashboardForms = ReturnType<typeof dashboardForms>

/** An emptied metadata box means no metadata: `{}` (an empty field is otherwise dropped, which kept the old metadata). */
function emptiedMetadata(input: Record<string, unknown>): Record<string, unknown> {
  return typeof input['metadata'] === 'string' && input['metadata'].trim() === '' ? { ...input, metadata: '{}' } : input
}

/** The list query's `filters` (JSON text, as `GET /v1/memories` takes it) as an object. */
export function parseFiltersText(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined
  const parsed = jsonObjectText('filters').safeParse(text)
  if (!parsed.success)
    throw validationFailed(
      parsed.error.issues.map((issue) => ({ ...issue, path: ['filters'] })),
      'list',
    )
  return parsed.data
}

/**
 * A text as a <textarea> holds it once the HTML parser has read it: CR line breaks as LF, and NUL
 * (in rows stored before the engine replaced it) as U+FFFD. What the edit form sends back, and
 * what the dashboard compares it with to tell an edit from none.
 */
export function asShown(text: string): string {
  return text.replace(/\r\n?/g, '\n').replaceAll('\u0000', '\ufffd')
}
