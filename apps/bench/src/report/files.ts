/**
 * The files a suite's run becomes, beside each other in one folder: `<suite>.json` (the run),
 * `<suite>.md` (the report, then the hand-written `<suite>.findings.md` if there is one) and the
 * report's charts. Reports are regenerated from the JSON alone, so no benchmark is re-run for them.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type SuiteName, suites } from '../suites/index.js'
import { renderSvg } from './chart.js'
import type { SuiteRun } from './markdown.js'

/** Full runs: committed. */
export const committedFolder = fileURLToPath(new URL('../../../../docs/benchmarks', import.meta.url))
/** Quick smoke runs: never committed (gitignored), so they cannot overwrite a full report. */
export const quickFolder = fileURLToPath(new URL('../../results/quick', import.meta.url))

/** A suite's run as its JSON holds it; throws when the JSON is missing. */
export function readRun(folder: string, name: SuiteName): SuiteRun<unknown> {
  const path = join(folder, `${name}.json`)
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`pnpm bench ${name}\` to produce it`)
  const { machine, command, quick, ...result } = JSON.parse(readFileSync(path, 'utf8'))
  return { machine, command, quick, result }
}

export const runJson = ({ machine, command, quick, result }: SuiteRun<unknown>) =>
  `${JSON.stringify({ machine, command, quick, ...(result as object) }, null, 2)}\n`

/** Markdown formatted as `pnpm lint` wants it (Biome checks docs/). */
export function formatMarkdown(markdown: string): string {
  return execFileSync('pnpm', ['exec', 'biome', 'format', '--stdin-file-path=report.md'], { input: markdown, stdio: ['pipe', 'pipe', 'ignore'] }).toString()
}

/** The report and its charts, by file name. */
export async function reportFiles(folder: string, name: SuiteName, run: SuiteRun<unknown>): Promise<Record<string, string>> {
  const suite = suites[name]
  const findingsFile = `${name}.findings.md`
  const findings = existsSync(join(folder, findingsFile))
    ? `\n<!-- Hand-written: edit ${findingsFile}, which every run keeps and appends here. -->\n\n${readFileSync(join(folder, findingsFile), 'utf8')}`
    : ''
  const charts = Object.entries(suite.charts(run))
  const files: Record<string, string> = { [`${name}.md`]: formatMarkdown(`${suite.report(run)}${findings}`) }
  for (const [file, chart] of charts) files[file] = await renderSvg(chart)
  return files
}

export async function writeFiles(folder: string, files: Record<string, string>): Promise<void> {
  await mkdir(folder, { recursive: true })
  for (const [file, content] of Object.entries(files)) await writeFile(join(folder, file), content)
}
