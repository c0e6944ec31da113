import { z } from 'zod'

/**
 * Identifiers: no control characters, bounded, so they are safe in keys, logs and predicates; never
 * `*`, which filters read as Mem0's "any value" (a user named `*` could not be told from it). A
 * module of its own, exported as `@agentmem/memory/identifiers`, so that a caller checking an id
 * (the server's key store) does not load the engine.
 */
export const identifier = z
  .string()
  .min(1)
  .max(256)
  .refine((s) => !/\p{Cc}/u.test(s), 'must not contain control characters')
  .refine((s) => s !== '*', '\'*\' is the filter wildcard (any value), not an id: use filters, e.g. { "agent_id": "*" }')

export const tenantIdSchema = identifier
