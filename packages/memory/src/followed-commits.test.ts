import { describe, expect, it } from 'vitest'
import { storedRow } from '../test/helpers/fixtures.js'
import { FollowedCommits } from './followed-commits.js'
import type { RowImage } from './search/resident-cache.js'

/** A row of tenant `t`, user `userId` (the shared test fixture, text defaulting to the id). */
const row = (id: string, userId: string, text = id) => storedRow(id, text, userId)
const images = (...entries: Array<[string, RowImage]>) => new Map(entries)

describe('FollowedCommits', () => {
  it('answers the newest unapplied image of a row until an apply covers its group', () => {
    const commits = new FollowedCommits()
    commits.add(5, images(['a', { before: null, after: row('a', 'u', 'first') }]))
    commits.add(6, images(['a', { before: row('a', 'u', 'first'), after: row('a', 'u', 'second') }], ['b', { before: row('b', 'v'), after: null }]))
    expect(commits.row('a')?.text).toBe('second')
    expect(commits.row('b')).toBeNull()
    expect(commits.row('c')).toBeUndefined()
    expect(commits.rows()).toHaveLength(2)

    commits.applied(5)
    expect(commits.row('a')?.text).toBe('second')
    expect(commits.groups()).toHaveLength(1)
    commits.applied(6)
    expect(commits.row('a')).toBeUndefined()
    // A group an apply already covered is not laid over again.
    expect(commits.add(6, images(['a', { before: null, after: row('a', 'u') }]))).toBe(false)
    expect(commits.rows()).toEqual([])
  })

  it('tells which scopes have unapplied writes, and waits for their applies only', async () => {
    const commits = new FollowedCommits()
    commits.add(1, images(['a', { before: null, after: row('a', 'u') }]))
    commits.add(2, images(['b', { before: row('b', 'v'), after: null }]))
    expect([commits.touches({ tenantId: 't', userId: 'u' }), commits.touches({ tenantId: 't', userId: 'v' })]).toEqual([true, true])
    expect([commits.touches({ tenantId: 't', userId: 'w' }), commits.touches({ tenantId: 'other' })]).toEqual([false, false])
    expect(commits.touches({ tenantId: 't' })).toBe(true)

    const order: string[] = []
    const u = commits.caughtUp({ tenantId: 't', userId: 'u' }).then(() => order.push('u'))
    const v = commits.caughtUp({ tenantId: 't', userId: 'v' }).then(() => order.push('v'))
    await commits.caughtUp({ tenantId: 't', userId: 'w' })
    commits.applied(1)
    await u
    expect(order).toEqual(['u'])
    commits.clear()
    await v
    expect(order).toEqual(['u', 'v'])
  })

  it('tells a forwarded call when reads here show the groups it may name: heard, or applied; groups forgotten at a clear show once applied', async () => {
    const commits = new FollowedCommits()
    const heard = commits.reached(2, 3, 5_000)
    commits.add(3, images(['a', { before: null, after: row('a', 'u') }]))
    expect(await heard).toBe(true)
    expect(await commits.reached(1, 2, 5_000)).toBe(true) // notices are ordered: an earlier told group came before

    // Group 3 was heard, then forgotten unapplied: hearing later groups does not show it again.
    commits.clear()
    let shown = false
    const afterClear = commits.reached(2, 4, 5_000).then((r) => {
      shown = r
    })
    commits.add(4, images(['b', { before: null, after: row('b', 'u') }]))
    await Promise.resolve()
    expect(shown).toBe(false)
    commits.applied(2)
    await Promise.resolve()
    expect(shown).toBe(false)
    commits.applied(3)
    await afterClear
    expect(shown).toBe(true)
    // A call whose groups all came after the clear shows once they are heard.
    commits.clear() // forgets 4, unapplied
    commits.add(6, images(['c', { before: null, after: row('c', 'u') }]))
    expect(await commits.reached(5, 6, 5_000)).toBe(true)
    expect(await commits.reached(3, 6, 20)).toBe(false) // group 4 may be named: not shown until applied
    expect(await commits.reached(8, 9, 20)).toBe(false)
  })
})
