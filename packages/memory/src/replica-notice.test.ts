import { describe, expect, it } from 'vitest'
import { appliedNoticeSchema, encodeNotice, noticeImages } from './replica-notice.js'
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
