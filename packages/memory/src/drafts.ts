/**
 * What an add writes, from the caller's input to the writer's ops: texts checked and made
 * storable, then embedded in one call. Nothing here writes.
 */
import type { Embedder } from '@agentmem/embeddings'
import { uuidv7 } from 'uuidv7'
import { z } from 'zod'
import { embed } from './embed.js'
import { invalidInput, MemoryError, MemoryErrorCode } from './errors.js'
import { type Message, messageSchema, parseWith } from './options.js'
import type { ScopeFilter } from './store/types.js'
import { dedupKey, storable } from './text.js'
import type { Metadata } from './types.js'
import type { WriteOp } from './writer.js'

/** One text to store, validated, before embedding. */
export interface Draft {
  /** The item it came from (a batch's or an import's index), for the results. */
  index: number
  scope: ScopeFilter
  text: string
  role: string | null
  metadata: Metadata
  actor: string | null
  id?: string
  createdAt?: number
  updatedAt?: number
  validTo?: number
}

/** A memory's text as stored: characters the stores cannot keep replaced (U+FFFD), so what is answered is what is stored; trimmed, never empty. */
export function checkText(text: unknown, maxLength: number): string {
  if (typeof text !== 'string') throw invalidInput(`memory text must be a string, got ${text === null ? 'null' : typeof text}`)
  const trimmed = storable(text).trim()
  if (trimmed.length === 0) throw invalidInput('memory text is empty')
  if (trimmed.length > maxLength) {
    throw invalidInput(`memory text is ${trimmed.length} UTF-16 code units long (an emoji counts 2); the limit is ${maxLength}`)
  }
  return trimmed
}

/**
 * The texts to remember: a string as given (`role`), or each message's content. System messages
 * steer the model and are not facts about the user; an empty one (an assistant turn that only
 * called a tool) says nothing: both are skipped, and a list of nothing else is refused (per
 * item in a batch, where it would otherwise vanish from the results). An error names its message.
 */
export function messageTexts(input: string | Message[], role: string | null, maxLength: number): Array<{ role: string | null; text: string }> {
  if (typeof input === 'string') return [{ role, text: checkText(input, maxLength) }]
  const texts: Array<{ role: string; text: string }> = []
  parseWith(z.array(messageSchema), input, 'messages', MemoryErrorCode.InvalidInput).forEach((message, index) => {
    if (message.role === 'system' || storable(message.content).trim().length === 0) return
    try {
      texts.push({ role: message.role, text: checkText(message.content, maxLength) })
    } catch (error) {
      throw named(error, `messages[${index}]`, { message_index: index })
    }
  })
  if (texts.length === 0) throw invalidInput('nothing to add: every message was empty or a system message')
  return texts
}

/** An item's error named by its place in a batch (`items[i]: ...`, `details.index`), so a caller can find the item. */
export function itemError(error: unknown, index: number): unknown {
  return named(error, `items[${index}]`, { index })
}

function named(error: unknown, place: string, details: Record<string, unknown>): unknown {
  if (!(error instanceof MemoryError)) return error
  return new MemoryError(error.code, `${place}: ${error.message}`, { cause: error.cause, details: { ...error.details, ...details } })
}

/** The add ops of `drafts`, every text embedded in one call. */
export async function addOps(embedder: Embedder, drafts: readonly Draft[]): Promise<Array<WriteOp & { kind: 'add'; index: number }>> {
  const vectors = await embed(
    embedder,
    drafts.map((d) => d.text),
  )
  const now = Date.now()
  return drafts.map((d, i) => ({
    kind: 'add',
    index: d.index,
    actor: d.actor,
    memory: {
      id: d.id ?? uuidv7(),
      tenantId: d.scope.tenantId,
      userId: d.scope.userId ?? null,
      agentId: d.scope.agentId ?? null,
      runId: d.scope.runId ?? null,
      role: d.role,
      text: d.text,
      dedupKey: dedupKey(d.scope, d.text),
      metadata: d.metadata,
      createdAt: d.createdAt ?? now,
      updatedAt: d.updatedAt ?? d.createdAt ?? now,
      validTo: d.validTo ?? null,
      vector: vectors[i] as Float32Array,
    },
  }))
}
