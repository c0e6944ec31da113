import { realpathSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openSqliteMetadataStore } from '../src/store/sqlite-metadata-store.js'
import type { HistoryRecord } from '../src/store/types.js'
import { storedRow, tempDir } from './helpers/fixtures.js'

/**
 * The SQLite journal commit (on its own native connection, statements prepared once): an entry
 * and its history events commit together or not at all, with purges and the cleanup of applied
 * entries in the same transaction, and the other connection sees each commit.
 */
function event(memoryId: string, text: string, tenantId = 't'): HistoryRecord {
  return {
    tenantId,
    memoryId,
    userId: 'u',
    agentId: null,
    runId: null,
    event: 'ADD',
    previousText: null,
    newText: text,
    metadata: { source: 'test' },
    actor: null,
    createdAt: 1,
  }
}

const noPurge = { memories: [], scopes: [] }

describe('the SQLite journal commit', () => {
  it('commits an entry with its events, purges and cleanup in one transaction, and a failed one leaves nothing', async () => {
    await using dir = await tempDir('sqlite-journal')
    const store = await openSqliteMetadataStore(join(dir.path, 'metadata.db'))
    try {
      const a = storedRow('a', 'first fact')
      const first = await store.beginChange({ inserts: [a], updates: [], deletes: [] }, [event('a', 'first fact')], noPurge)
      // Read back through the other (drizzle) connection, vectors included.
      expect(await store.pendingChanges()).toEqual([{ seq: first, change: { inserts: [a], updates: [], deletes: [] } }])
      expect(await store.history('t', 'a')).toMatchObject([
        { memoryId: 'a', event: 'ADD', newMemory: 'first fact', metadata: { source: 'test' }, purged: false },
      ])

      // An event that breaks a constraint (tenant id NOT NULL) fails the whole commit: no entry, no event.
      const broken = { ...event('b', 'second fact'), tenantId: null as unknown as string }
      await expect(
        store.beginChange({ inserts: [storedRow('b', 'second fact')], updates: [], deletes: [] }, [event('c', 'third'), broken], noPurge),
      ).rejects.toMatchObject({
        code: 'MEMORY_STORAGE_FAILED',
      })
      expect((await store.pendingChanges()).map((p) => p.seq)).toEqual([first])
      expect(await store.hasHistory('t', 'c')).toBe(false)

      // The connection is usable after the rollback; this commit purges a's texts and deletes the applied entry.
      store.markApplied(first)
      const second = await store.beginChange({ inserts: [], updates: [], deletes: ['a'] }, [], { memories: [{ tenantId: 't', id: 'a' }], scopes: [] })
      expect(second).toBeGreaterThan(first)
      expect((await store.pendingChanges()).map((p) => p.seq)).toEqual([second])
      expect(await store.history('t', 'a')).toMatchObject([{ memoryId: 'a', event: 'ADD', newMemory: null, metadata: null, purged: true }])
    } finally {
      await store.close()
    }
  })

  it('opens with the WAL grown to the size it reaches between checkpoints, reuses it, and grows it again after a compaction truncates it', async () => {
    await using dir = await tempDir('sqlite-wal')
    const file = join(dir.path, 'metadata.db')
    const walBytes = () => statSync(`${file}-wal`).size
    const store = await openSqliteMetadataStore(file)
    const require = createRequire(import.meta.url)
    const Database = require('libsql')
    const db = new Database(file)
    try {
      // wal_autocheckpoint pages of page_size bytes (SQLite's defaults: 1,000 of 4,096).
      const reserved = db.prepare('PRAGMA wal_autocheckpoint').get().wal_autocheckpoint * db.prepare('PRAGMA page_size').get().page_size
      expect(reserved).toBeGreaterThan(0)
      const grown = walBytes()
      expect(grown).toBeGreaterThanOrEqual(reserved)
      // Commits start over at the file's beginning: the file does not grow.
      for (let i = 0; i < 20; i++) {
        store.markApplied(
          await store.beginChange({ inserts: [storedRow(`m${i}`, `fact ${i}`)], updates: [], deletes: [] }, [event(`m${i}`, `fact ${i}`)], noPurge),
        )
      }
      expect(walBytes()).toBe(grown)
      await store.compactErased()
      expect(walBytes()).toBeGreaterThanOrEqual(reserved)
      expect(await store.history('t', 'm3')).toMatchObject([{ memoryId: 'm3', newMemory: 'fact 3' }])
      // The zeros that grew it were deleted as they were committed.
      expect(db.prepare('SELECT count(*) AS rows FROM wal_reserve').get()).toMatchObject({ rows: 0 })
    } finally {
      db.close()
      await store.close()
    }
  })

  it('loads the same copy of libsql as @libsql/client: two SQLite libraries on one file would break its locks', () => {
    const require = createRequire(import.meta.url)
    const ours = require.resolve('libsql')
    const theirs = createRequire(require.resolve('@libsql/client')).resolve('libsql')
    expect(realpathSync(theirs)).toBe(realpathSync(ours))
  })
})
