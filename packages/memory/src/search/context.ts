import type { StoredMemory } from '../store/types.js'
import { type FusedHit, sortByFusedScore } from './fusion.js'

/**
 * Conversation context: in hybrid search, each of the best `contextLenders` hits lends the
 * message after it in its thread `contextWeight` times its score, and the message before it
 * `precedingShare` of that. An answer is often the message just after (or before) the one that
 * matches the question's words: "Where did you go?" / "To the lake with the kids". Agents that
 * keep every message (`infer: false`) store exactly these threads.
 *
 * A thread is one user + agent + run (the exact scope a memory was written to), in write order:
 * creation time, then id (uuidv7, so rows of one batch keep their order). The neighbours of a
 * memory are the thread's nearest memories before and after it that the search may return (same
 * filter, superseded ones only when asked), written within `contextWindowMs` of it: further
 * apart, the next memory is no longer the same conversation. Both read paths find them with
 * `threadNeighbours`, so they rank alike.
 */

/**
 * Hits that lend context. Picked with the weight on LoCoMo's quick set, from 5, 10, 20 and 50
 * lenders and weights 0.2, 0.3 and 0.4, by the sum of Recall@10 and nDCG@10
 * (docs/benchmarks/locomo.md); deeper lenders lifted little and cost a neighbour search each.
 */
export const contextLenders = 10
/**
 * What the message before a hit gets of the share the message after it gets: an answer follows
 * its question more often than it precedes it. Picked on LoCoMo's quick set with feedback
 * (feedback.ts), from before / after shares {0, 0.1, 0.15, 0.2, 0.25, 0.3} / {0.25, 0.3, 0.35}.
 */
export const precedingShare = 0.5
export const contextWindowMs = 30 * 60_000

/** What finding neighbours reads of a row: its thread and place in it. */
export type ThreadRow = Pick<StoredMemory, 'id' | 'userId' | 'agentId' | 'runId' | 'createdAt'>

function compareNullable(a: string | null, b: string | null): number {
  if (a === b) return 0
  if (a === null) return -1
  if (b === null) return 1
  return a < b ? -1 : 1
}

/** Thread order: rows grouped by thread (user, agent, run), each thread in write order. */
export function compareThreadOrder(a: ThreadRow, b: ThreadRow): number {
  return (
    compareNullable(a.userId, b.userId) ||
    compareNullable(a.agentId, b.agentId) ||
    compareNullable(a.runId, b.runId) ||
    a.createdAt - b.createdAt ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  )
}

/** Where `row` is, or would go, in `order` (sorted by compareThreadOrder). */
function threadPosition(order: readonly ThreadRow[], row: ThreadRow): number {
  let lo = 0
  let hi = order.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (compareThreadOrder(order[mid] as ThreadRow, row) < 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

function sameThread(a: ThreadRow, b: ThreadRow): boolean {
  return a.userId === b.userId && a.agentId === b.agentId && a.runId === b.runId
}

/** The stretches of each thread a neighbour can come from (for a store query), merged where they overlap. */
export function contextWindows(lenders: readonly ThreadRow[]): Array<{ thread: ThreadRow; from: number; to: number }> {
  const windows: Array<{ thread: ThreadRow; from: number; to: number }> = []
  let open: { thread: ThreadRow; from: number; to: number } | undefined
  for (const row of [...lenders].sort(compareThreadOrder)) {
    if (open && sameThread(open.thread, row) && row.createdAt - contextWindowMs <= open.to) open.to = row.createdAt + contextWindowMs
    else {
      open = { thread: row, from: row.createdAt - contextWindowMs, to: row.createdAt + contextWindowMs }
      windows.push(open)
    }
  }
  return windows
}

/** A memory next to a lender: `lender` is its index among the lenders, `after` whether it follows it. */
export interface Neighbour<T extends ThreadRow = ThreadRow> {
  row: T
  lender: number
  after: boolean
}

/**
 * Each lender's neighbours: the nearest rows before and after it in its thread that `visible`
 * accepts, within the window. `order` holds the rows in thread order; both read paths call this
 * (the resident index keeps its rows so, the store path sorts what it read). Lenders come best
 * first, so the first lender to reach a neighbour is the one it takes context from.
 */
export function threadNeighbours<T extends ThreadRow>(
  order: readonly T[],
  lenders: readonly ThreadRow[],
  visible: (row: T) => boolean,
): Map<string, Neighbour<T>> {
  const found = new Map<string, Neighbour<T>>()
  for (let lender = 0; lender < lenders.length; lender++) {
    const row = lenders[lender] as ThreadRow
    const at = threadPosition(order, row)
    const before = nearest(order, row, at - 1, -1, visible)
    const after = nearest(order, row, order[at]?.id === row.id ? at + 1 : at, 1, visible)
    if (before && !found.has(before.id)) found.set(before.id, { row: before, lender, after: false })
    if (after && !found.has(after.id)) found.set(after.id, { row: after, lender, after: true })
  }
  return found
}

/** The first visible row from `start` on, stepping by `step`, in the lender's thread and window. */
function nearest<T extends ThreadRow>(order: readonly T[], lender: ThreadRow, start: number, step: 1 | -1, visible: (row: T) => boolean): T | undefined {
  for (let i = start; i >= 0 && i < order.length; i += step) {
    const row = order[i] as T
    if (!sameThread(row, lender) || Math.abs(row.createdAt - lender.createdAt) > contextWindowMs) return undefined
    if (visible(row)) return row
  }
  return undefined
}

/**
 * Adds to each neighbour `weight` (`precedingShare` of it before the lender) times the score of
 * the lender it takes context from (scores before any lending: it does not cascade), and returns
 * every hit, best first. `byId` indexes
 * `hits`, which must hold each neighbour: the candidates already there, the others scored by
 * fusion alone.
 */
export function lendContext(
  hits: FusedHit[],
  byId: ReadonlyMap<string, FusedHit>,
  lenders: readonly FusedHit[],
  found: ReadonlyMap<string, Pick<Neighbour, 'lender' | 'after'>>,
  weight: number,
  fillerWeight: number,
): FusedHit[] {
  const lent: Array<{ hit: FusedHit; from: string; score: number }> = []
  for (const [id, { lender, after }] of found) {
    const hit = byId.get(id)
    const from = lenders[lender] as FusedHit
    const share = after ? weight : weight * precedingShare
    // A filler memory takes its share of context at its lowered weight, like its own score.
    if (hit && from.explain.fused > 0) lent.push({ hit, from: from.memory.id, score: share * from.explain.fused * (hit.explain.filler ? fillerWeight : 1) })
  }
  for (const { hit, from, score } of lent) {
    hit.explain.context = { from, score }
    hit.explain.fused += score
  }
  return sortByFusedScore(hits)
}
