import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { suiteNames } from '../suites/index.js'
import { committedFolder } from './files.js'
import { summaryFiles } from './summary.js'

/** docs/benchmarks is generated from its JSON: these fail when it drifts from what `pnpm bench summary` makes. */
describe('docs/benchmarks', () => {
  it.each(suiteNames)('holds the committed result of the %s suite', (name) => {
    expect(existsSync(join(committedFolder, `${name}.json`)), `docs/benchmarks/${name}.json is missing: run pnpm bench ${name}`).toBe(true)
  })

  it('holds the summary page, every report and every chart exactly as the committed JSON makes them', async () => {
    const files = await summaryFiles(committedFolder)
    for (const [file, content] of Object.entries(files)) {
      expect(readFileSync(join(committedFolder, file), 'utf8'), `docs/benchmarks/${file} is stale: run pnpm bench summary`).toBe(content)
    }
    // Nothing else but the JSON and the hand-written findings: no chart or report left behind by a renamed one.
    const expected = new Set([...Object.keys(files), ...suiteNames.flatMap((name) => [`${name}.json`, `${name}.findings.md`])])
    expect(readdirSync(committedFolder).filter((file) => !expected.has(file))).toEqual([])
  })

  it('cannot be summarised when a suite result is missing', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'agentmem-bench-summary-'))
    try {
      await cp(committedFolder, folder, { recursive: true, filter: (path) => !path.endsWith('memory.json') })
      await expect(summaryFiles(folder)).rejects.toThrow(/memory\.json is missing/)
    } finally {
      await rm(folder, { recursive: true, force: true })
    }
  })
})
