import { z } from 'zod'
import { jsonObject } from './identifiers.js'
import { type RowImage, scopeKey } from './search/resident-cache.js'
import type { StoredMemory } from './store/types.js'
import type { AppliedChange } from './writer.js'

/**
 * What the leader tells followers after each vector-store write: the version it moved the store
 * from and to, and what changed, as precisely as fits a PostgreSQL notice (under 8,000 bytes):
 * each row's image (followers update their resident scopes and keyword statistics in place,
 * as the leader's own index does), else the scopes and the changed texts (they drop those
 * scopes and update the statistics), else the scopes, else the tenants, else "everything" (they
 * drop what they hold of it and re-read it).
 */
export type AppliedNotice = z.infer<typeof appliedNoticeSchema>

/** A memory as a notice carries it: its vector as base64 float32. */
const noticeMemorySchema = z.object({
  id: z.string(),
  tenantId: z.string(),
  userId: z.string().nullable(),
  agentId: z.string().nullable(),
  runId: z.string().nullable(),
  role: z.string().nullable(),
  text: z.string(),
  dedupKey: z.string(),
  metadata: jsonObject,
  createdAt: z.number(),
  updatedAt: z.number(),
  validTo: z.number().nullable(),
  vector: z.string(),
})

/** A row's change: its image after (null: deleted) and its text before (absent: inserted), which the statistics remove. */
const noticeRowSchema = z.object({
  after: noticeMemorySchema.nullable(),
  /** The deleted row's scope, for a delete (an update's scope is its after image's: scope columns never change). */
  scope: z
    .object({ id: z.string(), tenantId: z.string(), userId: z.string().nullable(), agentId: z.string().nullable(), runId: z.string().nullable() })
    .optional(),
  /** Absent for an insert. */
  beforeText: z.string().optional(),
})

export const appliedNoticeSchema = z.object({
  epoch: z.number(),
  from: z.number().optional(),
  to: z.number().optional(),
  /** The journal sequence of the last group the apply wrote: followers forget the commits it covers. */
  seq: z.number().optional(),
  rows: z.array(noticeRowSchema).optional(),
  /** With `scopes`, when the rows do not fit: the texts each row had before and after (null: none), for the keyword statistics. */
  texts: z.array(z.object({ tenantId: z.string(), before: z.string().nullable(), after: z.string().nullable() })).optional(),
  scopes: z.array(z.string()).optional(),
  tenants: z.array(z.string()).optional(),
  all: z.literal(true).optional(),
})

/**
 * What the leader tells followers when it journals a group, before acknowledging it: the rows it
 * wrote, in `parts` notices (a notice holds a few rows of 384-dimension vectors), which followers
 * lay over what they read once all have come (a group shows whole or not at all), until an apply
 * notice's `seq` covers them. The LanceDB write follows later: after a linger, or after a
 * maintenance (seconds on object storage). A group too big for `maxCommitParts` notices (a bulk
 * write) is told by number (`journal`, no rows): followers read its rows from the journal in
 * PostgreSQL, and the scopes of the rows it deletes from the notice.
 */
export const committedNoticeSchema = z.object({
  epoch: z.number(),
  committed: z.number(),
  part: z.number().int().min(0),
  parts: z.number().int().min(1),
  rows: z.array(noticeRowSchema),
  journal: z.literal(true).optional(),
  /** With `journal`: the scope keys of the rows the group deletes (the journal has their ids only). */
  deletedScopes: z.array(z.string()).optional(),
})
export type CommittedNotice = z.infer<typeof committedNoticeSchema>

/** Most notices one journaled group is told in (each under maxNoticeBytes). */
const maxCommitParts = 16

/**
 * The leader began a maintenance: until its apply notice, the store's versions move with no row
 * changed (compaction, index refresh; seconds on object storage), which a follower must not take
 * for changes whose notices were lost.
 */
export const maintainingNoticeSchema = z.object({ epoch: z.number(), maintaining: z.literal(true) })

/** PostgreSQL refuses notices of 8,000 bytes or more. */
const maxNoticeBytes = 7_500

/** The most precise notice of `change` that fits. */
export function encodeNotice(epoch: number, change: AppliedChange): string {
  const versions = {
    epoch,
    ...(change.from !== undefined && { from: change.from }),
    ...(change.to !== undefined && { to: change.to }),
    ...(change.seq !== undefined && { seq: change.seq }),
  }
  const tenants = new Set([...change.scopes].map((key) => key.slice(0, key.indexOf('\u0000'))))
  const images = [...change.images.values()].filter((image) => image.before || image.after)
  const { textChars, vectorChars } = sizeOf(images)
  const texts = () =>
    images
      .filter(({ before, after }) => before?.text !== after?.text)
      .map(({ before, after }) => ({ tenantId: ((after ?? before) as StoredMemory).tenantId, before: before?.text ?? null, after: after?.text ?? null }))
  return (
    (textChars + vectorChars <= maxNoticeBytes ? fits({ ...versions, rows: images.map(encodeRow) }) : undefined) ??
    (textChars <= maxNoticeBytes ? fits({ ...versions, scopes: [...change.scopes], texts: texts() }) : undefined) ??
    fits({ ...versions, scopes: [...change.scopes] }) ??
    fits({ ...versions, tenants: [...tenants] }) ??
    JSON.stringify({ ...versions, all: true } satisfies AppliedNotice)
  )
}

/**
 * The notice of a bulk group, told by number: followers read its rows from the journal. Undefined
 * when the scopes of the rows it deletes do not fit one notice (it then reaches them at its apply).
 */
export function encodeJournalNotice(epoch: number, seq: number, images: ReadonlyMap<string, RowImage>): string | undefined {
  const deleted = new Set<string>()
  for (const { before, after } of images.values()) if (before && !after) deleted.add(scopeKey(before))
  const notice: CommittedNotice = {
    epoch,
    committed: seq,
    part: 0,
    parts: 1,
    rows: [],
    journal: true,
    ...(deleted.size > 0 && { deletedScopes: [...deleted] }),
  }
  const payload = JSON.stringify(notice)
  return Buffer.byteLength(payload) <= maxNoticeBytes ? payload : undefined
}

/** The notices of a journaled group, or none when it needs more than maxCommitParts (or one row is too big for a notice). */
export function encodeCommittedNotices(epoch: number, seq: number, images: ReadonlyMap<string, RowImage>): string[] {
  const rows = [...images.values()].filter((image) => image.before || image.after)
  const { textChars, vectorChars } = sizeOf(rows)
  if (textChars + vectorChars > maxCommitParts * maxNoticeBytes) return []
  // Greedy: rows in order, a new part when the next row would not fit (sizes are exact here: encoded).
  const chunks: Array<ReturnType<typeof encodeRow>[]> = []
  let chunk: ReturnType<typeof encodeRow>[] = []
  let bytes = 0
  const envelope = 120 // the notice's other fields
  for (const image of rows) {
    const row = encodeRow(image)
    const size = Buffer.byteLength(JSON.stringify(row)) + 1
    if (size + envelope > maxNoticeBytes) return []
    if (bytes + size + envelope > maxNoticeBytes) {
      chunks.push(chunk)
      chunk = []
      bytes = 0
    }
    chunk.push(row)
    bytes += size
  }
  chunks.push(chunk)
  if (chunks.length > maxCommitParts) return []
  return chunks.map((part, i) => JSON.stringify({ epoch, committed: seq, part: i, parts: chunks.length, rows: part } satisfies CommittedNotice))
}

function fits(notice: AppliedNotice): string | undefined {
  const payload = JSON.stringify(notice)
  return Buffer.byteLength(payload) <= maxNoticeBytes ? payload : undefined
}

/**
 * A lower bound of the notice sizes of `images` (texts, and vectors as base64): a large write
 * (thousands of rows) must not be encoded whole only to be found too big.
 */
function sizeOf(images: readonly RowImage[]): { textChars: number; vectorChars: number } {
  let textChars = 0
  let vectorChars = 0
  for (const { before, after } of images) {
    textChars += (before?.text.length ?? 0) + (after?.text.length ?? 0)
    vectorChars += ((after?.vector.byteLength ?? 0) * 4) / 3
  }
  return { textChars, vectorChars }
}

/** A notice's row images, as the resident index takes them (a before image holds the scope and text only: nothing else of it is read). */
export function noticeImages(rows: NonNullable<AppliedNotice['rows']>): Map<string, RowImage> {
  const images = new Map<string, RowImage>()
  for (const row of rows) {
    const after = row.after ? { ...row.after, vector: decodeVector(row.after.vector) } : null
    const scope = after ?? row.scope
    if (!scope) continue
    const before =
      row.beforeText === undefined ? null : ({ ...(after ?? emptyMemory), ...scope, text: row.beforeText, vector: new Float32Array(0) } satisfies StoredMemory)
    images.set(scope.id, { before, after })
  }
  return images
}

function encodeRow({ before, after }: RowImage): z.input<typeof noticeRowSchema> {
  const memory = (after ?? before) as StoredMemory
  return {
    after: after && { ...after, vector: Buffer.from(after.vector.buffer, after.vector.byteOffset, after.vector.byteLength).toString('base64') },
    ...(!after && { scope: { id: memory.id, tenantId: memory.tenantId, userId: memory.userId, agentId: memory.agentId, runId: memory.runId } }),
    ...(before && { beforeText: before.text }),
  }
}

function decodeVector(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64')
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
}

const emptyMemory: StoredMemory = {
  id: '',
  tenantId: '',
  userId: null,
  agentId: null,
  runId: null,
  role: null,
  text: '',
  dedupKey: '',
  metadata: {},
  createdAt: 0,
  updatedAt: 0,
  validTo: null,
  vector: new Float32Array(0),
}
