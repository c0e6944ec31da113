import { existsSync, readFileSync, writeFileSync } from 'node:fs'
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
  expect(moved.stderr).toMatch(/imported 2 new \(2 under new ids\), 0 already present; each changed id is on stdout as \{"from","to"\}/)
  const remaps = lines(moved.stdout)
  expect(remaps.map((r) => r['from'])).toEqual(exported.map((m) => m['id']))
  const copies = lines((await runCli(['list', '--user', 'u1', '--tenant', 't2', '--data', data])).stdout)
  expect(copies.map((m) => m['id'])).toEqual(remaps.map((r) => r['to']))
  expect(copies.map((m) => m['id'])).not.toContain(exported[0]?.['id'])

  // Into another store: the ids are kept and nothing is printed.
  const kept = await runCli(['import', file, '--tenant', 't2', '--data', join(root, 'other')])
  expect([kept.code, kept.stdout]).toEqual([0, ''])
  expect(kept.stderr).toMatch(/imported 2 new, 0 already present\n/)
  // A line whose id is already here with another text: that memory stays as stored, and the count says so (it read as if the line were there).
  const edited = join(root, 'edited.jsonl')
  writeFileSync(edited, `${JSON.stringify({ ...exported[0], memory: 'I moved to Porto in June' })}\n${JSON.stringify(exported[1])}\n`)
  const differing = await runCli(['import', edited, '--tenant', 't2', '--data', join(root, 'other')])
  expect(differing.stderr).toMatch(/imported 0 new, 2 already present \(1 with another text than the file's line, kept as stored\)\n/)
})

it('import stores ids in lowercase, says which lines were already present under other ids, and dates a row given only updated_at', {
  timeout: 600_000,
}, async () => {
  const data = join(root, 'cases')
  const upper = '01A234FF-0000-7000-8000-000000000010'
  const file = join(root, 'cases.jsonl')
  const row = (memory: string, extra: object = {}) => JSON.stringify({ memory, user_id: 'u', ...extra })
  writeFileSync(
    file,
    `${[row('kept in lowercase', { id: upper }), row('said once'), row('Said  once', { id: '01a234ff-0000-7000-8000-000000000011' })].join('\n')}\n`,
  )
  const run = await runCli(['import', file, '--data', data])
  // A line with its id is that memory, even where another says the same (an export holds both after an update to the same text).
  expect(run.stderr).toMatch(/imported 3 new \(1 with their ids in lowercase\), 0 already present; each changed id is on stdout/)
  const listed = lines((await runCli(['list', '--user', 'u', '--data', data])).stdout)
  expect(listed.map((m) => m['memory']).sort()).toEqual(['Said  once', 'kept in lowercase', 'said once'])
  expect(listed.find((m) => m['memory'] === 'kept in lowercase')?.['id']).toBe(upper.toLowerCase())
  expect(lines(run.stdout)).toEqual([{ from: upper, to: upper.toLowerCase() }])
  // Into another tenant of the store, the ids are taken: new ones; a re-run finds those lines by text, under other ids.
  await runCli(['import', file, '--tenant', 't2', '--data', data])
  const again = await runCli(['import', file, '--tenant', 't2', '--data', data])
  expect(again.stderr).toMatch(/imported 0 new, 3 already present \(2 under other ids\); each changed id is on stdout/)
  // Given only updated_at, that is its creation time too (it was the import's time, after its update).
  writeFileSync(file, `${row('updated only', { updated_at: '2026-01-01T00:00:00.000Z' })}\n`)
  expect((await runCli(['import', file, '--data', data])).code).toBe(0)
  const dated = lines((await runCli(['list', '--user', 'u', '--data', data])).stdout).find((m) => m['memory'] === 'updated only')
  expect([dated?.['created_at'], dated?.['updated_at']]).toEqual(['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'])
})

it("names a faulty line and the file's own field names, and imports nothing from a batch that fails", { timeout: 600_000 }, async () => {
  const data = join(root, 'faults')
  const cases: Array<[string[], string]> = [
    [['{"memory":"fine","user_id":"u"}', '{"memory":"when","user_id":"u","created_at":"yesterday"}'], 'line 2: created_at: Invalid ISO datetime'],
    [['{"memory":"a number","user_id":42}'], 'line 1: user_id: Invalid input: expected string, received number'],
    [['{"memory":"nobody","agent_id":null}'], 'line 1: needs at least one of user_id, agent_id or run_id'],
    [['[1]'], 'line 1 is not a JSON object'],
    [['{"memory":"typo","user_id":"u","metdata":{"secret":1}}'], 'line 1: unknown field "metdata"'],
    // What the engine refuses names the line too, blank lines counted (it named the batch's lines, "in lines 1-3").
    [['{"memory":"fine","user_id":"u"}', '', JSON.stringify({ memory: 'x'.repeat(20_000), user_id: 'u' })], 'line 3: memory text is 20000 UTF-16'],
  ]
  for (const [rows, message] of cases) {
    const file = join(root, 'faulty.jsonl')
    writeFileSync(file, `${rows.join('\n')}\n`)
    const run = await runCli(['import', file, '--data', data])
    expect([run.code, run.stderr]).toEqual([1, expect.stringContaining(message)])
  }
  // A mistyped file name is said before any store is opened, so none is created.
  const noFile = await runCli(['import', join(root, 'no-such.jsonl'), '--data', join(root, 'never')])
  expect([noFile.code, noFile.stderr]).toEqual([1, `agentmem: there is no file ${join(root, 'no-such.jsonl')}\n`])
  expect(existsSync(join(root, 'never'))).toBe(false)
  // Exports write null for absent fields: such a line imports.
  const file = join(root, 'nulls.jsonl')
  // With a byte-order mark, as some editors save files.
  writeFileSync(file, '\uFEFF{"memory":"null fields","user_id":"u","agent_id":null,"run_id":null,"role":null,"valid_to":null}\n')
  const run = await runCli(['import', file, '--data', data])
  expect([run.code, run.stderr]).toEqual([0, expect.stringContaining('imported 1 new')])
  expect(lines((await runCli(['list', '--user', 'u', '--data', data])).stdout).map((m) => m['memory'])).toEqual(['null fields'])
})

it("export refuses to resume another tenant's file or one that is no export, an unwritable --out, and a --data with no store", {
  timeout: 600_000,
}, async () => {
  const data = join(root, 'exports')
  expect((await runCli(['add', 'tenant one fact', '--user', 'u', '--tenant', 'one', '--data', data])).code).toBe(0)
  expect((await runCli(['add', 'tenant two fact', '--user', 'u', '--tenant', 'two', '--data', data])).code).toBe(0)
  const file = join(root, 'one.jsonl')
  expect((await runCli(['export', '--tenant', 'one', '--data', data, '--out', file])).code).toBe(0)
  // Resuming with another tenant appended its memories to tenant one's file (or, the other way, skipped them all).
  const other = await runCli(['export', '--tenant', 'two', '--data', data, '--out', file])
  expect([other.code, other.stderr]).toEqual([1, expect.stringContaining('which tenant two does not know')])
  expect(lines(readFileSync(file, 'utf8')).map((m) => m['memory'])).toEqual(['tenant one fact'])
  // The same tenant resumes: nothing new to write.
  const again = await runCli(['export', '--tenant', 'one', '--data', data, '--out', file])
  expect([again.code, again.stderr]).toEqual([0, expect.stringContaining('exported 0 memories (resumed after')])
  expect(again.stderr).not.toContain('note:')
  // A tenant with nothing at all (a typo, most likely) is said so, not passed off as an empty export.
  const typo = await runCli(['export', '--tenant', 'on', '--data', data])
  expect([typo.code, typo.stdout, typo.stderr]).toEqual([
    0,
    '',
    'exported 0 memories\nnote: tenant on has no memories in this store (those stored without an API key are in tenant default)\n',
  ])
  // A file that is no export is refused and left untouched (an export was appended to it, or its unterminated last line cut).
  const exported = readFileSync(file, 'utf8')
  for (const content of [
    '{"not":"an export"}\n',
    'my notes\nno newline at the end',
    // Lines with ids this tenant does not know and an unterminated tail: the tail was cut before the refusal.
    '{"id":"123e4567-e89b-12d3-a456-426614174000","name":"a record"}\n{"id":"223e4567-e89b-12d3-a456-426614174000"}',
    // This tenant's export followed by text that is no torn export line: it was cut without a word.
    `${exported}precious unterminated line`,
  ]) {
    const foreign = join(root, 'foreign.txt')
    writeFileSync(foreign, content)
    const run = await runCli(['export', '--tenant', 'one', '--data', data, '--out', foreign])
    expect([run.code, run.stderr]).toEqual([1, expect.stringMatching(/is not an AgentMem export|which tenant one does not know/)])
    expect(readFileSync(foreign, 'utf8')).toBe(content)
  }
  // An unwritable path crashed Node with an unhandled stream error.
  const unwritable = await runCli(['export', '--tenant', 'one', '--data', data, '--out', join(root, 'missing-dir', 'x.jsonl')])
  expect([unwritable.code, unwritable.stderr]).toEqual([1, expect.stringMatching(/^agentmem: ENOENT/)])
  // A mistyped --data made an empty store there and exported nothing, successfully.
  const nowhere = join(root, 'no-such-store')
  for (const command of [['export'], ['list', '--user', 'u'], ['search', 'fact', '--user', 'u']]) {
    const run = await runCli([...command, '--data', nowhere])
    expect([command[0], run.code, run.stderr]).toEqual([command[0], 1, expect.stringContaining('there is no store in')])
  }
  expect(existsSync(nowhere)).toBe(false)
})
