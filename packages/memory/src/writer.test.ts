import { describe, expect, it } from 'vitest'
import type { StoreChange, StoredMemory } from './store/types.js'
import { mergeChanges } from './writer.js'

const row = (id: string, text = id): StoredMemory => ({
  id,
  tenantId: 't',
  userId: 'u',
  agentId: null,
  runId: null,
  role: null,
  text,
  dedupKey: text,
  metadata: {},
  createdAt: 0,
  updatedAt: 0,
  validTo: null,
  vector: new Float32Array([1]),
})
const ids = (change: StoreChange) => ({
  inserts: change.inserts.map((m) => `${m.id}:${m.text}`),
  updates: change.updates.map((m) => `${m.id}:${m.text}`),
  deletes: change.deletes,
})

describe('mergeChanges', () => {
  const groups: StoreChange[] = [
    { inserts: [row('a'), row('b')], updates: [], deletes: [] },
    { inserts: [row('c')], updates: [row('a', 'a2')], deletes: ['b'] },
    { inserts: [], updates: [], deletes: ['c'] },
  ]

  it('writes groups the store has not seen as their net effect: a row added and deleted among them is never written', () => {
    expect(ids(mergeChanges(groups))).toEqual({ inserts: ['a:a2'], updates: [], deletes: [] })
  })

  it('for a replay, deletes every row a later group deleted, since an earlier group may have landed already', () => {
    expect(ids(mergeChanges(groups, { replay: true }))).toEqual({ inserts: [], updates: ['a:a2'], deletes: ['b', 'c'] })
  })
})
