import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runCli } from './helpers/cli.js'

let root: string
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agentmem-cli-import-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, string>)

it('issue 17: import keeps ids unless another tenant of the store holds them, and prints every remap', { timeout: 600_000 }, async () => {
  const data = join(root, 'store')
  for (const text of ['I moved to Lisbon in May', 'My sister is called Ana']) {
    expect((await runCli(['add', text, '--user', 'u1', '--tenant', 't1', '--data', data])).code).toBe(0)
  }
  const file = join(root, 'export.jsonl')
  expect((await runCli(['export', '--tenant', 't1', '--data', data, '--out', file])).code).toBe(0)
  const exported = lines(readFileSync(file, 'utf8'))

  // Into another tenant of the same store: tenant t1 holds every id, so each gets a new one, on stdout.
  const moved = await runCli(['import', file, '--tenant', 't2', '--data', data])
  expect(moved.stderr).toMatch(/imported 2 new, 0 already present, 2 under new ids/)
  const remaps = lines(moved.stdout)
  expect(remaps.map((r) => r['from'])).toEqual(exported.map((m) => m['id']))
  const copies = lines((await runCli(['list', '--user', 'u1', '--tenant', 't2', '--data', data])).stdout)
  expect(copies.map((m) => m['id'])).toEqual(remaps.map((r) => r['to']))
  expect(copies.map((m) => m['id'])).not.toContain(exported[0]?.['id'])

  // Into another store: the ids are kept and nothing is printed.
  const kept = await runCli(['import', file, '--tenant', 't2', '--data', join(root, 'other')])
  expect([kept.code, kept.stdout]).toEqual([0, ''])
  expect(kept.stderr).toMatch(/imported 2 new, 0 already present\n/)
})
