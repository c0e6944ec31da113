import { describe, expect, it } from 'vitest'
import { FollowedCommits } from './followed-commits.js'
import { appliedNoticeSchema, committedNoticeSchema, encodeCommittedNotices, encodeNotice, noticeImages } from './replica-notice.js'
import { type RowImage, scopeKey } from './search/resident-cache.js'
import type { StoredMemory } from './store/types.js'

const memory = (id: string, text: string, userId = 'u'): StoredMemory => ({
  id,
  tenantId: 't',
  userId,
  agentId: null,
  runId: null,
  role: 'user',
  text,
  dedupKey: `k-${text}`,
  metadata: { topic: 'x' },
  createdAt: 1,
  updatedAt: 2,
  validTo: null,
  vector: new Float32Array([0.5, -1.25, 3]),
})

const change = (images: Map<string, RowImage>) => ({
  from: 4,
  to: 6,
  images,
  scopes: new Set([...images.values()].map((i) => scopeKey((i.after ?? i.before) as StoredMemory))),
})

describe('leader notices', () => {
  it('carry row images that decode to the same rows: an insert, an update and a delete', () => {
    const images = new Map<string, RowImage>([
      ['a', { before: null, after: memory('a', 'new fact') }],
      ['b', { before: memory('b', 'old text'), after: memory('b', 'new text') }],
      ['c', { before: memory('c', 'gone', 'v'), after: null }],
    ])
    const notice = appliedNoticeSchema.parse(JSON.parse(encodeNotice(3, change(images))))
    expect(notice).toMatchObject({ epoch: 3, from: 4, to: 6 })
    const decoded = noticeImages(notice.rows ?? [])
    expect(decoded.get('a')).toEqual({ before: null, after: memory('a', 'new fact') })
    expect(decoded.get('b')?.after).toEqual(memory('b', 'new text'))
    expect(decoded.get('b')?.before).toMatchObject({ id: 'b', tenantId: 't', userId: 'u', text: 'old text' })
    expect(decoded.get('c')).toMatchObject({ after: null, before: { id: 'c', tenantId: 't', userId: 'v', agentId: null, runId: null, text: 'gone' } })
  })

  it('carry metadata as stored, a "__proto__" key too (a record schema dropped it from followers\' rows)', () => {
    const row = { ...memory('p', 'proto'), metadata: JSON.parse('{"__proto__":{"x":1},"a":1}') }
    const notice = appliedNoticeSchema.parse(JSON.parse(encodeNotice(3, change(new Map([['p', { before: null, after: row }]])))))
    expect(JSON.stringify(noticeImages(notice.rows ?? []).get('p')?.after?.metadata)).toBe('{"__proto__":{"x":1},"a":1}')
  })

  it('fall back to scopes with texts, then scopes, then tenants, when the images do not fit a notice', () => {
    const big = (n: number, users: number) =>
      new Map<string, RowImage>(
        Array.from({ length: n }, (_, i) => [`m${i}`, { before: null, after: memory(`m${i}`, 'x'.repeat(200), `user-${i % users}-${'y'.repeat(40)}`) }]),
      )
    const scopes = appliedNoticeSchema.parse(JSON.parse(encodeNotice(1, change(big(100, 3)))))
    expect(scopes.rows).toBeUndefined()
    expect(scopes.scopes).toHaveLength(3)
    // Rows too large, texts small: the scopes and the texts, for the keyword statistics.
    const heavy = new Map<string, RowImage>(
      Array.from({ length: 30 }, (_, i) => [
        `h${i}`,
        { before: memory(`h${i}`, `old ${i}`), after: { ...memory(`h${i}`, `new ${i}`), metadata: { blob: 'z'.repeat(300) } } },
      ]),
    )
    const texts = appliedNoticeSchema.parse(JSON.parse(encodeNotice(1, change(heavy))))
    expect(texts.rows).toBeUndefined()
    expect(texts.texts?.[0]).toEqual({ tenantId: 't', before: 'old 0', after: 'new 0' })
    expect(texts.texts).toHaveLength(30)
    const tenants = appliedNoticeSchema.parse(JSON.parse(encodeNotice(1, change(big(500, 500)))))
    expect(tenants).toMatchObject({ from: 4, to: 6, tenants: ['t'] })
  })
})

describe('commit notices', () => {
  const wide = (id: string, text = `fact ${id}`) => ({ ...memory(id, text), vector: new Float32Array(384).fill(0.1) })

  it('split a group into notices under 8,000 bytes that a follower lays over only once all have come', () => {
    const images = new Map<string, RowImage>(Array.from({ length: 20 }, (_, i) => [`r${i}`, { before: null, after: wide(`r${i}`) }]))
    const notices = encodeCommittedNotices(2, 77, images).map((n) => {
      expect(Buffer.byteLength(n)).toBeLessThan(8_000)
      return committedNoticeSchema.parse(JSON.parse(n))
    })
    expect(notices.length).toBeGreaterThan(2)
    const commits = new FollowedCommits()
    // Out of order, and the last part completes the group.
    const laid = [...notices].reverse().map((n) => commits.part(n.committed, n.part, n.parts, noticeImages(n.rows)))
    expect(laid.slice(0, -1).every((l) => l === undefined)).toBe(true)
    expect([...(laid.at(-1)?.keys() ?? [])].sort()).toEqual([...images.keys()].sort())
    expect(commits.row('r7')).toEqual(wide('r7'))
  })

  it('are not sent for a bulk group or a row too big for one notice: its apply tells followers', () => {
    const bulk = new Map<string, RowImage>(Array.from({ length: 2_000 }, (_, i) => [`r${i}`, { before: null, after: wide(`r${i}`) }]))
    expect(encodeCommittedNotices(2, 1, bulk)).toEqual([])
    expect(encodeCommittedNotices(2, 1, new Map([['big', { before: null, after: wide('big', 'x'.repeat(9_000)) }]]))).toEqual([])
  })
})
