import type { Embedder } from '@agentmem/embeddings'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Memory, MemoryItem } from '../src/index.js'
import { defaultEmbedder, openTemp, seededRandom } from './helpers/fixtures.js'

let embedder: Embedder
beforeAll(async () => {
  embedder = await defaultEmbedder()
})
afterAll(() => embedder.close())

const tenants = ['t1', 't2', 't3']
const users = ['alice', 'bob', 'carol']
const words = ['coffee', 'tea', 'Lisbon', 'Porto', 'dog', 'cat', 'piano', 'guitar', 'running', 'swimming']

describe('tenant and scope isolation (property-style)', () => {
  it('never returns another scope’s memory from search, list or get, across random interleaved writes', async () => {
    await using store = await openTemp(embedder)
    const random = seededRandom(20261124)
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
    const views = new Map(tenants.map((t) => [t, store.memory.withTenant(t)]))
    /** What each (tenant, user) should hold: id -> text. */
    const expected = new Map<string, Map<string, string>>()
    const key = (tenant: string, user: string) => `${tenant}/${user}`
    const owner = new Map<string, { tenant: string; user: string }>()

    for (let round = 0; round < 12; round++) {
      // A burst of concurrent writes across tenants and users. Concurrent calls are not ordered
      // among themselves, so an id gets at most one update or delete per burst.
      const busy = new Set<string>()
      await Promise.all(
        Array.from({ length: 24 }, async () => {
          const tenant = pick(tenants)
          const user = pick(users)
          const view = views.get(tenant) as Memory
          const bucket = expected.get(key(tenant, user)) ?? new Map<string, string>()
          expected.set(key(tenant, user), bucket)
          const roll = random()
          const existing = [...bucket.keys()].filter((id) => !busy.has(id))
          if (roll < 0.7 || existing.length === 0) {
            const text = `${tenant} ${user} likes ${pick(words)} and ${pick(words)} #${Math.floor(random() * 1e9)}`
            const { results } = await view.add(text, { userId: user, metadata: { tenant, user } })
            for (const r of results) {
              bucket.set(r.id, r.memory)
              owner.set(r.id, { tenant, user })
            }
          } else if (roll < 0.85) {
            const id = pick(existing)
            busy.add(id)
            const text = `${tenant} ${user} now prefers ${pick(words)} #${Math.floor(random() * 1e9)}`
            bucket.set(id, text)
            await view.update(id, { text })
          } else {
            const id = pick(existing)
            busy.add(id)
            bucket.delete(id)
            await view.delete(id)
          }
        }),
      )

      for (const tenant of tenants) {
        const view = views.get(tenant) as Memory
        for (const user of users) {
          const own = expected.get(key(tenant, user)) ?? new Map()
          const listed = await listAll(view, user)
          expect(new Map(listed.map((m) => [m.id, m.memory]))).toEqual(own)
          const query = `${pick(words)} ${pick(users)} ${pick(tenants)}`
          for (const mode of ['hybrid', 'vector', 'keyword'] as const) {
            for (const r of (await view.search(query, { userId: user, mode, topK: 50 })).results) {
              expect(owner.get(r.id), `${mode} in ${tenant}/${user}`).toEqual({ tenant, user })
            }
          }
        }
        // get() by an id of another tenant finds nothing; updates and deletes cannot reach it.
        const foreign = [...owner].find(([, o]) => o.tenant !== tenant)
        if (foreign) {
          expect(await view.get(foreign[0])).toBeNull()
          await expect(view.delete(foreign[0])).rejects.toMatchObject({ code: 'MEMORY_NOT_FOUND' })
        }
      }
    }
  })
})

async function listAll(memory: Memory, userId: string): Promise<MemoryItem[]> {
  const all: MemoryItem[] = []
  let cursor: string | null = null
  do {
    const page: { results: MemoryItem[]; nextCursor: string | null } = await memory.getAll({ userId, limit: 7, ...(cursor && { cursor }) })
    all.push(...page.results)
    cursor = page.nextCursor
  } while (cursor)
  return all
}
