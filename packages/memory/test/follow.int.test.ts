import { noopLogger } from '@agentmem/embeddings'
import { describe, expect, it } from 'vitest'
import { ResidentCache, type RowImage } from '../src/search/resident-cache.js'
import { openStores } from '../src/store/open-stores.js'
import type { VectorStore } from '../src/store/types.js'
import { storedRow as row, tempDir } from './helpers/fixtures.js'

/**
 * A follower replica lays the leader's row images over its resident index (replication.ts): the
 * keyword statistics are counts, so they take an apply only when counted at the version it starts
 * from; a repeated or out-of-chain notice never counts twice. Checked against a fresh count of
 * the real store after each step.
 */

const terms = ['zebra', 'lion', 'tiger', 'fact']

/** Document count and IDFs: what ranking reads of the statistics. */
async function counted(cache: ResidentCache): Promise<unknown> {
  const stats = await cache.stats('t')
  return { size: stats.size, idf: terms.map((t) => stats.idf(t).toFixed(9)) }
}

describe('a follower folding in the leader’s notices', () => {
  it('keeps keyword statistics and resident scopes equal to a fresh count, and never counts a notice twice', async () => {
    await using dir = await tempDir('follow-')
    const stores = await openStores({ path: dir.path })
    const vectors = await stores.provider.open('memories', 3)
    try {
      let scans = 0
      const counting: VectorStore = Object.assign(Object.create(vectors) as VectorStore, {
        scanTexts: (tenantId: string) => {
          scans++
          return vectors.scanTexts(tenantId)
        },
      })
      const cacheOf = () =>
        new ResidentCache(
          { vectors: () => counting, pending: () => [], exclusive: (task) => task() },
          { budgetBytes: 1 << 20, maxScopeRows: 1000, logger: noopLogger },
        )
      const follower = cacheOf()
      const fresh = () => counted(cacheOf())

      await vectors.apply({ inserts: [row('a', 'a zebra fact'), row('b', 'a lion fact')], updates: [], deletes: [] })
      const v1 = await vectors.version()
      await counted(follower)
      const scope = await follower.scope({ tenantId: 't', userId: 'u' }, { wait: true })
      expect(scans).toBe(1)

      // The leader's apply: an insert, a text update and a delete, as one version step.
      const images = new Map<string, RowImage>([
        ['c', { before: null, after: row('c', 'a tiger fact') }],
        ['a', { before: row('a', 'a zebra fact'), after: row('a', 'a zebra and a tiger') }],
        ['b', { before: row('b', 'a lion fact'), after: null }],
      ])
      await vectors.apply({ inserts: [row('c', 'a tiger fact')], updates: [row('a', 'a zebra and a tiger')], deletes: ['b'] })
      const v2 = await vectors.version()
      follower.followed(images, v1, v2)
      expect(await counted(follower)).toEqual(await fresh())
      expect([...(scope?.rows.keys() ?? [])].sort()).toEqual(['a', 'c'])

      // The same notice again (or statistics counted after it): nothing changes, nothing is recounted.
      const scansBefore = scans
      follower.followed(images, v1, v2)
      expect(await counted(follower)).toEqual(await fresh())
      expect(scans, 'only the fresh count scanned').toBe(scansBefore + 1)

      // A notice that does not start where the statistics were counted: they are dropped and counted again.
      await vectors.apply({ inserts: [row('d', 'one more zebra')], updates: [], deletes: [] })
      follower.followed(new Map([['d', { before: null, after: row('d', 'one more zebra') }]]), v2 + 1, (await vectors.version()) + 1)
      expect(await counted(follower)).toEqual(await fresh())
      expect(scans).toBe(scansBefore + 3) // the follower's recount and the fresh cache's

      // Texts alone (rows too many for a notice): the statistics take them the same way.
      const v3 = await vectors.version()
      await vectors.apply({ inserts: [row('e', 'a lion again')], updates: [row('d', 'one more tiger')], deletes: [] })
      const scansThen = scans
      follower.followedTexts(
        [
          { tenantId: 't', before: null, after: 'a lion again' },
          { tenantId: 't', before: 'one more zebra', after: 'one more tiger' },
        ],
        v3,
        await vectors.version(),
      )
      expect(await counted(follower)).toEqual(await fresh())
      expect(scans).toBe(scansThen + 1)
    } finally {
      await vectors.close()
      await stores.close()
    }
  })
})
