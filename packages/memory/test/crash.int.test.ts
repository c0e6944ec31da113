import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createClient } from '@libsql/client'
import { describe, expect, it } from 'vitest'
import { Memory, type MemoryItem } from '../src/index.js'
import { createHashEmbedder } from '../src/testing/index.js'
import { seededRandom, tempDir } from './helpers/fixtures.js'

const child = fileURLToPath(new URL('./helpers/crash-child.ts', import.meta.url))
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
const trials = 20

/** Runs the child until it is ready, lets it write for `ms`, SIGKILLs it; returns what it acknowledged. */
function runAndKill(path: string, prefix: string, ms: number): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--conditions=agentmem-source', '--import', tsx, child, path, prefix], { stdio: ['ignore', 'pipe', 'pipe'] })
    const acked = new Map<string, string>()
    let buffered = ''
    let stderr = ''
    proc.stderr.on('data', (d: Buffer) => {
      stderr += d
    })
    proc.stdout.on('data', (d: Buffer) => {
      buffered += d
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        if (line === 'READY') setTimeout(() => proc.kill('SIGKILL'), ms)
        else if (line.startsWith('ACK ')) {
          const [, id, ...text] = line.split(' ')
          acked.set(id as string, text.join(' '))
        }
      }
    })
    proc.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`child exited with ${code}: ${stderr}`))))
  })
}

describe('crash safety', () => {
  it(`keeps every acknowledged add across ${trials} SIGKILLs at random moments, with SQLite and LanceDB in agreement`, async () => {
    await using dir = await tempDir('crash')
    const random = seededRandom(7)
    const embedder = createHashEmbedder()
    const acked = new Map<string, string>()
    let killedMidWrite = 0
    let replayed = 0
    const logger = { debug() {}, warn() {}, error() {}, info: (event: string) => void (event === 'memory.recovered' && replayed++) }

    for (let trial = 0; trial < trials; trial++) {
      const before = acked.size
      for (const [id, text] of await runAndKill(dir.path, `t${trial}`, Math.floor(random() * 400))) acked.set(id, text)
      if (acked.size > before) killedMidWrite++

      // Reopening replays whatever the journal holds.
      const memory = await Memory.open({ path: dir.path, embedder, logger })
      try {
        const rows = await listAll(memory)
        const ids = rows.map((r) => r.id)
        expect(new Set(ids).size, 'no duplicate rows').toBe(ids.length)
        expect(new Set(rows.map((r) => r.memory)).size, 'no duplicate texts').toBe(rows.length)
        const byId = new Map(rows.map((r) => [r.id, r.memory]))
        for (const [id, text] of acked) expect(byId.get(id), `acknowledged ${id}`).toBe(text)

        // Searchable: a sample of acknowledged memories is found by its unique token.
        const sample = [...acked].filter(() => random() < 0.05).slice(0, 10)
        for (const [id, text] of sample) {
          const token = text.split(' ').at(-1) as string
          const found = await memory.search(token, { userId: 'crash', mode: 'keyword', topK: 1 })
          expect(found.results[0]?.id).toBe(id)
        }

        // SQLite agrees with LanceDB: one ADD per live row, nothing else, and an empty journal.
        const db = createClient({ url: `file:${join(dir.path, 'metadata.db')}` })
        try {
          const history = (await db.execute('SELECT memory_id, event FROM history')).rows
          expect(history.every((h) => h['event'] === 'ADD')).toBe(true)
          expect(new Set(history.map((h) => h['memory_id'] as string))).toEqual(new Set(ids))
          expect(history).toHaveLength(ids.length)
        } finally {
          db.close()
        }
      } finally {
        await memory.close()
      }
      // Closing after recovery leaves the journal empty.
      const db = createClient({ url: `file:${join(dir.path, 'metadata.db')}` })
      expect((await db.execute('SELECT count(*) AS n FROM journal')).rows[0]?.['n']).toBe(0)
      db.close()
    }
    // The kills must land while writes are in flight, or the test proves nothing.
    expect(killedMidWrite).toBeGreaterThanOrEqual(trials / 2)
    expect(acked.size).toBeGreaterThan(trials * 20)
    console.log(`crash test: ${acked.size} acknowledged adds, ${killedMidWrite} kills mid-write, ${replayed} journal entries replayed`)
  })
})

async function listAll(memory: Memory): Promise<MemoryItem[]> {
  const all: MemoryItem[] = []
  for (let cursor: string | null = null; ; ) {
    const page: { results: MemoryItem[]; nextCursor: string | null } = await memory.getAll({ userId: 'crash', limit: 1000, ...(cursor && { cursor }) })
    all.push(...page.results)
    cursor = page.nextCursor
    if (!cursor) return all
  }
}
