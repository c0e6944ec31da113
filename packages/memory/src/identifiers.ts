import { z } from 'zod'

/**
 * The shapes every boundary checks alike, in a module of its own, exported as
 * `@agentmem/memory/identifiers`, so that a caller checking one (the server's key store) does not
 * load the engine.
 *
 * Identifiers: no control characters, bounded, so they are safe in keys, logs and predicates; never
 * `*`, which filters read as Mem0's "any value" (a user named `*` could not be told from it).
 */
const idOf = (wildcard: string) =>
  z
    .string()
    .min(1)
    .max(256)
    .refine((s) => !/\p{Cc}/u.test(s), 'must not contain control characters')
    .refine((s) => s !== '*', wildcard)

export const identifier = idOf('\'*\' is the filter wildcard (any value), not an id: use filters, e.g. { "agent_id": "*" }')

/** A tenant: an identifier, whose `*` is refused in its own words (no filter names a tenant). */
export const tenantIdSchema = idOf("'*' cannot name a tenant: it reads as any value")

/**
 * A JSON object (metadata, filters), taken as given. zod's record rebuilds an object and skips a
 * "__proto__" key, which JSON.parse makes an own key like any other: metadata given one lost it
 * without a word, and filters ignored it. What is inside is checked where it is read
 * (`checkMetadata`, the filter parser). JSON Schema (MCP tools, OpenAPI) reads it as an object.
 */
export const jsonObject = z
  .unknown()
  // A plain object, as JSON.parse makes (a Date or a Map would be stored as what JSON makes of it).
  .refine((value) => typeof value === 'object' && value !== null && [Object.prototype, null].includes(Object.getPrototypeOf(value)), {
    error: 'expected a JSON object',
  })
  .meta({ type: 'object', additionalProperties: {} }) as unknown as z.ZodType<Record<string, unknown>, Record<string, unknown>>
