import { Worker, type WorkerOptions } from 'node:worker_threads'

/**
 * Node flags of the parent process that break or misdirect a worker thread started from a file.
 * A worker inherits `process.execArgv` by default: a script run as `node --input-type=module -e
 * '...'` (or from stdin) would start each worker with `--input-type`, which Node refuses for a
 * file entry (ERR_INPUT_TYPE_NOT_ALLOWED), and `--eval`/`--print` belong to the parent's own
 * entry. Everything else (--conditions, --require/--import preloads) is kept; `startWorker`
 * then drops what Node refuses to pass on explicitly (V8 and per-process flags).
 */
const entryFlags = new Set(['--input-type', '-e', '--eval', '-p', '--print', '-c', '--check', '-i', '--interactive', '--test', '--watch', '--watch-path'])
/** The entry flags above that take a value, which may be the next argument. */
const takesValue = new Set(['--input-type', '-e', '--eval', '-p', '--print', '--watch-path'])

/** The parent's execArgv without the flags that only apply to the parent's entry point. */
export function workerExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = []
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string
    const [flag, inlineValue] = arg.split(/=(.*)/s, 2) as [string, string | undefined]
    if (!entryFlags.has(flag) && !flag.startsWith('--test-')) {
      kept.push(arg)
      continue
    }
    if (inlineValue === undefined && takesValue.has(flag)) i++ // skip the flag's separate value
  }
  return kept
}

/**
 * A worker started with the parent's flags (`workerExecArgv`). Node refuses V8 and per-process
 * flags such as `--max-old-space-size` or `--trace-gc` in an explicit `execArgv`
 * (ERR_WORKER_INVALID_EXEC_ARGV, naming them), though a worker that inherits them ignores them:
 * without this, `node --max-old-space-size=4096 agentmem serve` failed every call that needed
 * a worker. The flags it names are dropped and the worker started again.
 */
export function startWorker(entry: URL | string, options: Omit<WorkerOptions, 'execArgv'>): Worker {
  let execArgv = workerExecArgv(process.execArgv)
  for (;;) {
    try {
      return new Worker(entry, { ...options, execArgv })
    } catch (error) {
      // Node names only the refused flags before the first argument it cannot read as an option
      // (a separate value such as `--title x`), so this may take a few rounds; each drops some.
      const refused = refusedFlags(error)
      const fewer = refused ? withoutFlags(execArgv, refused) : execArgv
      if (fewer.length === execArgv.length) throw error
      execArgv = fewer
    }
  }
}

/**
 * A worker running the module at `entry` (`startWorker`). Built, the module is plain JS; run from
 * TypeScript sources (tests, tsx scripts), it is a .ts file: a one-line bootstrap registers tsx's
 * loader inside the worker, then imports it.
 */
export function startModuleWorker(entry: URL, options: Omit<WorkerOptions, 'execArgv' | 'eval'>): Worker {
  if (!entry.href.endsWith('.ts')) return startWorker(entry, options)
  const tsxApi = import.meta.resolve('tsx/esm/api')
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}) })`
  return startWorker(bootstrap, { ...options, eval: true })
}

/** Whether an ERR_WORKER_INVALID_EXEC_ARGV names an argument ("... invalid execArgv flags: --a, --b=1"). */
function refusedFlags(error: unknown): ((arg: string) => boolean) | undefined {
  if ((error as { code?: unknown })?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') return undefined
  const message = String((error as Error).message)
  const at = message.indexOf('flags: ')
  if (at < 0) return undefined
  // Matched whole against the list, so a value holding ", " or ": " (`--title="a, b"`) still matches.
  const listed = `, ${message.slice(at + 'flags: '.length)}, `
  return (arg) => listed.includes(`, ${arg}, `)
}

/**
 * The arguments without the refused flags. Node names a flag given as two arguments (`--title
 * x`) by its name alone; its value goes too, or it would end the worker's options and drop the
 * flags after it.
 */
function withoutFlags(execArgv: readonly string[], refused: (arg: string) => boolean): string[] {
  const kept: string[] = []
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string
    if (!refused(arg)) {
      kept.push(arg)
      continue
    }
    const next = execArgv[i + 1]
    if (!arg.includes('=') && next !== undefined && !next.startsWith('-')) i++
  }
  return kept
}
