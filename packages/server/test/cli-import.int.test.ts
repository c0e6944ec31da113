import { readFileSync, writeFileSync } from 'node:fs'
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

it("names a faulty line and the file's own field names, and imports nothing from a batch that fails", { timeout: 600_000 }, async () => {
  const data = join(root, 'faults')
  const cases: Array<[string[], string]> = [
    [['{"memory":"fine","user_id":"u"}', '{"memory":"when","user_id":"u","created_at":"yesterday"}'], 'line 2: created_at: Invalid ISO datetime'],
    [['{"memory":"a number","user_id":42}'], 'line 1: user_id: Invalid input: expected string, received number'],
    [['{"memory":"nobody","agent_id":null}'], 'line 1: needs at least one of user_id, agent_id or run_id'],
    [['[1]'], 'line 1 is not a JSON object'],
    [['{"memory":"fine","user_id":"u"}', JSON.stringify({ memory: 'x'.repeat(20_000), user_id: 'u' })], 'in lines 1-2: memory text is 20000 UTF-16'],
  ]
  for (const [rows, message] of cases) {
    const file = join(root, 'faulty.jsonl')
    writeFileSync(file, `${rows.join('\n')}\n`)
    const run = await runCli(['import', file, '--data', data])
    expect([run.code, run.stderr]).toEqual([1, expect.stringContaining(message)])
  }
  // Exports write null for absent fields: such a line imports.
  const file = join(root, 'nulls.jsonl')
  writeFileSync(file, '{"memory":"null fields","user_id":"u","agent_id":null,"run_id":null,"role":null,"valid_to":null}\n')
  const run = await runCli(['import', file, '--data', data])
  expect([run.code, run.stderr]).toEqual([0, expect.stringContaining('imported 1 new')])
  expect(lines((await runCli(['list', '--user', 'u', '--data', data])).stdout).map((m) => m['memory'])).toEqual(['null fields'])
})
