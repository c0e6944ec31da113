import { describe, expect, it } from 'vitest'
import { storedRow } from '../../test/helpers/fixtures.js'
import { ResidentScope, residentRow } from './resident-scope.js'

describe('ResidentScope', () => {
  const all = { filter: undefined, currentOnly: false }

  it('ranks by cosine after rows move slots, and refuses a query of other dimensions', () => {
    const scope = new ResidentScope()
    const row = (id: string, vector: number[]) => residentRow({ ...storedRow(id, `text ${id}`), vector: Float32Array.from(vector) })
    scope.put(row('a', [1, 0, 0]))
    scope.put(row('b', [0, 1, 0]))
    scope.put(row('c', [0.6, 0.8, 0]))
    scope.remove('a') // 'c' takes a's slot
    const hits = scope.vectorSearch(Float32Array.of(0, 1, 0), 1, all, 2)
    expect(hits.map((h) => [h.memory.id, Number(h.score.toFixed(6))])).toEqual([
      ['b', 1],
      ['c', 0.8],
    ])
    expect(() => scope.vectorSearch(Float32Array.of(0, 1), 1, all, 2)).toThrow('a 2-dimension query against 3-dimension rows')
  })
})
