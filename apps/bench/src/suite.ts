/** What a suite is: a runner, its report, its charts and targets, each in its own folder under suites/. */
import type { Chart } from './report/chart.js'
import type { SuiteRun, Target } from './report/markdown.js'

/** Where a suite says how far it got: a bar on a terminal, plain lines in a log. */
export interface Progress {
  /** A line of detail. */
  log(line: string): void
  /** Announces how many steps the run has (a bar needs the total). */
  total(steps: number): void
  /** One step done. */
  step(label: string): void
}

export interface RunOptions {
  quick: boolean
  progress: Progress
  /** memory suite: store sizes instead of the defaults. */
  sizes?: number[]
  /** locomo suite: model folders to run besides the offline default. */
  models: string[]
}

/** One line of the summary page: AgentMem against one peer on one measurement. */
export interface Headline {
  peer: string
  what: string
  agentmem: string
  other: string
  /** AgentMem's advantage as the suite states it (e.g. `7.40x`), or empty. */
  ratio: string
  /** The target this comparison is held to, if any. */
  target?: Target
}

export interface Suite<TResult = never> {
  /** The report's subject, for the summary page. */
  title: string
  run(options: RunOptions): Promise<TResult>
  /** The markdown report, without the hand-written findings (the writer appends those). */
  report(run: SuiteRun<TResult>): string
  /** Charts by file name; the report links to them. */
  charts(run: SuiteRun<TResult>): Record<string, Chart>
  targets(result: TResult): Target[]
  headlines(result: TResult): Headline[]
}
