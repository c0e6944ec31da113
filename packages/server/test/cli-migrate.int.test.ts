import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Memory } from '@agentmem/memory'
import { createHashEmbedder } from '@agentmem/memory/testing'
import { type PostgresService, startPostgres } from '@agentmem/test-services'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { dataPaths } from '../src/data-paths.js'
import { openKeyStore } from '../src/keys/key-store.js'
import { runCli, spawnCli } from './helpers/cli.js'

// `agentmem migrate` end to end: API keys as stored, a SIGKILL midway resumed, a served source
// refused. (copy-store.int.test.ts in the memory package checks every memory table on PostgreSQL + S3.)

let root: string
let postgres: PostgresService
const embedder = createHashEmbedder()
const memories = 300

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agentmem-cli-migrate-'))
  postgres = await startPostgres()
  const memory = await Memory.open({ path: dataPaths(join(root, 'source')).memory, embedder })
  await memory.addBatch(Array.from({ length: memories }, (_, i) => ({ messages: `memory ${i}`, userId: `u${i % 4}` })))
  await memory.withTenant('t2').add('in another tenant', { userId: 'u' })
  await memory.close()
  const keys = await openKeyStore({ data: join(root, 'source') })
  await keys.create({ tenantId: 'default', role: 'admin', name: 'ops' })
  const { info } = await keys.create({ tenantId: 't2' })
  await keys.revoke(info.id)
  await keys.close()
}, 120_000)

afterAll(async () => {
  await postgres?.stop()
  await rm(root, { recursive: true, force: true })
})

const keyRows = async (config: { data: string; metadataUrl?: string }) => {
  const keys = await openKeyStore(config)
  try {
    return await keys.rows()
  } finally {
    await keys.close()
  }
}

it('moves memories and API keys to PostgreSQL, resuming after a SIGKILL midway', { timeout: 300_000 }, async () => {
  const source = join(root, 'source')
  // A password the test server (trust authentication) ignores, to check it is never printed.
  const target = { data: join(root, 'target'), metadataUrl: (await postgres.createDatabase('migrated')).replace('postgres@', 'postgres:s3cret@') }
  const args = ['migrate', '--data', source, '--to-data', target.data, '--to-metadata-url', target.metadataUrl, '--batch', '10']

  // Killed once the target's table exists, i.e. while memories are being copied.
  const child = spawnCli(args)
  const table = join(dataPaths(target.data).memory, 'vectors', 'memories.lance')
  while (!existsSync(table) && child.exitCode === null) await sleep(20)
  child.kill('SIGKILL')
  await new Promise((resolve) => child.once('close', resolve))

  const run = await runCli(args)
  expect(run.code, run.stderr).toBe(0)
  expect(run.stderr + run.stdout).not.toContain('s3cret')
  expect(JSON.parse(run.stdout)).toMatchObject({ resumed: true, rows: { memories: memories + 1, jobs: 0, keys: 2 } })
  expect(run.stderr).toMatch(/migrated and verified: 301 memories, \d+ history, 0 jobs, 2 keys/)

  expect(await keyRows(target)).toEqual(await keyRows({ data: source }))
  const moved = await Memory.open({ path: dataPaths(target.data).memory, metadataUrl: target.metadataUrl, embedder })
  try {
    const all = []
    let cursor: string | undefined
    do {
      const page = await moved.getAll({ userId: 'u1', limit: 100, ...(cursor && { cursor }) })
      all.push(...page.results)
      cursor = page.nextCursor ?? undefined
    } while (cursor)
    expect(all).toHaveLength(memories / 4)
    expect(new Set(all.map((m) => m.id)).size).toBe(all.length)
  } finally {
    await moved.close()
  }

  // Again: nothing left to copy, the same counts.
  const again = await runCli(args)
  expect(again.code, again.stderr).toBe(0)
  expect(JSON.parse(again.stdout)).toMatchObject({ resumed: true, rows: { memories: memories + 1, keys: 2 } })

  // And back to a folder, the source named by the usual settings (here the environment).
  const back = join(root, 'back')
  const returned = await runCli(['migrate', '--to-data', back], { AGENTMEM_DATA: target.data, AGENTMEM_METADATA_URL: target.metadataUrl })
  expect(returned.code, returned.stderr).toBe(0)
  expect(JSON.parse(returned.stdout)).toMatchObject({ resumed: false, rows: { memories: memories + 1, keys: 2 } })
  expect(await keyRows({ data: back })).toEqual(await keyRows({ data: source }))
})

it('stops at Ctrl-C and says how to continue', { timeout: 120_000 }, async () => {
  const target = join(root, 'interrupted')
  const args = ['migrate', '--data', join(root, 'source'), '--to-data', target, '--batch', '5']
  const child = spawnCli(args)
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const table = join(dataPaths(target).memory, 'vectors', 'memories.lance')
  while (!existsSync(table) && child.exitCode === null) await sleep(20)
  child.kill('SIGINT')
  const code = await new Promise((resolve) => child.once('close', resolve))
  expect(code).toBe(1)
  expect(stderr).toMatch(/interrupted; run the same command again to continue where it stopped/)
  const resumed = await runCli(args)
  expect(resumed.code, resumed.stderr).toBe(0)
  expect(JSON.parse(resumed.stdout)).toMatchObject({ resumed: true, rows: { memories: memories + 1, keys: 2 } })
})

it('refuses while the source is served, and without a target', { timeout: 120_000 }, async () => {
  const source = join(root, 'source')
  const memory = await Memory.open({ path: dataPaths(source).memory, embedder })
  try {
    const refused = await runCli(['migrate', '--data', source, '--to-data', join(root, 'never')])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/MEMORY_LOCKED/)
  } finally {
    await memory.close()
  }
  const noTarget = await runCli(['migrate', '--data', source, '--to-vectors-url', 's3://bucket/x'])
  expect(noTarget.code).toBe(1)
  expect(noTarget.stderr).toMatch(/give --to-data, or both --to-metadata-url and --to-vectors-url.*SERVER_INVALID_CONFIG/)
  // Onto itself, or from a mistyped --data: refused, and nothing is left behind in either folder.
  const itself = await runCli(['migrate', '--data', source, '--to-data', `${source}/`])
  expect([itself.code, itself.stderr]).toEqual([1, expect.stringContaining(`the source and the target are the same store (${source})`)])
  const typo = join(root, 'typo')
  const missing = await runCli(['migrate', '--data', typo, '--to-data', join(root, 'typo-target')])
  expect([missing.code, missing.stderr]).toEqual([1, expect.stringContaining(`there is no store in ${typo}`)])
  expect([existsSync(typo), existsSync(join(root, 'typo-target'))]).toEqual([false, false])
})
