import { describe, expect, it } from 'vitest'
import type { StoredMemory } from '../store/types.js'
import { compareThreadOrder, contextWindowMs, contextWindows, lendContext, precedingShare, type ThreadRow, threadNeighbours } from './context.js'
import type { FusedHit } from './fusion.js'

const minute = 60_000
const row = (id: string, createdAt: number, thread: Partial<ThreadRow> = {}): ThreadRow => ({
  id,
  userId: 'u',
  agentId: null,
  runId: null,
  createdAt,
  ...thread,
})

/** Neighbours found among `rows` (given in any order; `hidden` ones are not visible), with the index of the lender they take context from. */
function neighboursOf(lenders: ThreadRow[], rows: ThreadRow[], hidden: string[] = []): Record<string, number> {
  const order = [...rows].sort(compareThreadOrder)
  const found = threadNeighbours(order, lenders, (row) => !hidden.includes(row.id))
  return Object.fromEntries([...found].map(([id, { lender }]) => [id, lender]))
}

describe('threadNeighbours', () => {
  it('finds the nearest memory before and after each lender in its thread', () => {
    const thread = ['a', 'b', 'c', 'd', 'e', 'f'].map((id, i) => row(id, i * minute))
    const lenders = [thread[3] as ThreadRow, thread[1] as ThreadRow]
    // d (lender 0, the better) borders c and e; b (lender 1) borders a and c, which takes d's.
    expect(neighboursOf(lenders, [...thread].reverse())).toEqual({ c: 0, e: 0, a: 1 })
  })

  it('says whether a neighbour follows its lender or precedes it', () => {
    const thread = ['a', 'b', 'c'].map((id, i) => row(id, i * minute))
    const found = threadNeighbours(thread, [thread[1] as ThreadRow], () => true)
    expect([...found].map(([id, { after }]) => [id, after])).toEqual([
      ['a', false],
      ['c', true],
    ])
  })

  it('orders a batch written in one millisecond by id, and lenders next to each other lend to each other', () => {
    const batch = ['01', '02', '03', '04'].map((id) => row(id, 1000))
    expect(neighboursOf([batch[1] as ThreadRow, batch[2] as ThreadRow], batch)).toEqual({ '01': 0, '02': 1, '03': 0, '04': 1 })
  })

  it('skips rows the search may not return and stops at the window', () => {
    const rows = [row('a', 0), row('b', minute), row('c', 2 * minute), row('late', 2 * minute + contextWindowMs + 1)]
    // b is filtered out, so a borders c; "late" was written more than the window after c.
    expect(neighboursOf([rows[2] as ThreadRow], rows, ['b'])).toEqual({ a: 0 })
    expect(neighboursOf([rows[3] as ThreadRow], rows)).toEqual({})
    expect(neighboursOf([row('z', 0)], [row('y', -contextWindowMs), row('z', 0), row('x', contextWindowMs)])).toEqual({ y: 0, x: 0 })
  })

  it('keeps threads apart: another run, agent or user is another conversation', () => {
    const rows = [
      row('mine-1', 0),
      row('other-run', minute, { runId: 'r2' }),
      row('other-agent', minute, { agentId: 'x' }),
      row('other-user', minute, { userId: 'v' }),
      row('mine-2', 2 * minute),
    ]
    expect(neighboursOf([rows[0] as ThreadRow], rows)).toEqual({ 'mine-2': 0 })
    expect(neighboursOf([rows[1] as ThreadRow], rows)).toEqual({})
  })

  it('asks the store only for the stretches around the lenders, merged where they overlap', () => {
    const windows = contextWindows([row('c', 10 * contextWindowMs), row('a', 0), row('d', 0, { runId: 'r' }), row('b', minute)])
    expect(windows.map(({ thread, from, to }) => [thread.runId, from, to])).toEqual([
      [null, -contextWindowMs, minute + contextWindowMs],
      [null, 9 * contextWindowMs, 11 * contextWindowMs],
      ['r', -contextWindowMs, contextWindowMs],
    ])
  })
})

describe('lendContext', () => {
  const hit = (id: string, fused: number, filler = false): FusedHit => ({
    memory: { id } as StoredMemory,
    explain: { vector: { score: 0, rank: null }, keyword: null, fused, ...(filler && { filler: true as const }) },
  })

  it("adds weight times the lender's score after it, precedingShare of that before it, from scores before any lending, and re-sorts", () => {
    const [question, answer, other] = [hit('question', 1), hit('answer', 0.5), hit('other', 0.6)]
    const hits = [question, answer, other]
    // Lenders best first: question, then other. Question, before other, takes 0.18 * precedingShare
    // from it first; answer, after question, still gets 0.3 of question's own 1, not of its score after lending.
    const found = new Map([
      ['question', { lender: 1, after: false }],
      ['answer', { lender: 0, after: true }],
    ])
    const ranked = lendContext(hits, new Map(hits.map((h) => [h.memory.id, h])), [question, other], found, 0.3, 0.5)
    expect(ranked.map((h) => [h.memory.id, Number(h.explain.fused.toFixed(6))])).toEqual([
      ['question', Number((1 + 0.18 * precedingShare).toFixed(6))],
      ['answer', 0.8],
      ['other', 0.6],
    ])
    expect(precedingShare).toBeGreaterThan(0)
    expect(precedingShare).toBeLessThan(1)
    expect(answer.explain.context).toEqual({ from: 'question', score: 0.3 })
  })

  it('lends nothing from a non-positive score and lends to filler at its lowered weight', () => {
    const [negative, filler, strong] = [hit('negative', -0.2), hit('filler', 0.1, true), hit('strong', 1)]
    const hits = [negative, filler, strong]
    const byId = new Map(hits.map((h) => [h.memory.id, h]))
    lendContext(hits, byId, [negative], new Map([['filler', { lender: 0, after: true }]]), 0.3, 0.5)
    expect(filler.explain.fused).toBe(0.1)
    lendContext(hits, byId, [strong], new Map([['filler', { lender: 0, after: true }]]), 0.3, 0.5)
    expect(filler.explain.fused).toBeCloseTo(0.1 + 0.15, 12)
  })
})
