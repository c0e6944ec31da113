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
 * a worker. Those flags are dropped and the worker started again.
 */
export function startWorker(entry: URL | string, options: Omit<WorkerOptions, 'execArgv'>): Worker {
  const execArgv = workerExecArgv(process.execArgv)
  try {
    return new Worker(entry, { ...options, execArgv })
  } catch (error) {
    const refused = refusedFlags(error)
    if (!refused) throw error
    return new Worker(entry, { ...options, execArgv: execArgv.filter((arg) => !refused.has(arg)) })
  }
}

/** The flags an ERR_WORKER_INVALID_EXEC_ARGV names ("... invalid execArgv flags: --a, --b=1"). */
function refusedFlags(error: unknown): Set<string> | undefined {
  if ((error as { code?: unknown })?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') return undefined
  const listed = String((error as Error).message)
    .split(': ')
    .at(-1)
  return listed ? new Set(listed.split(', ')) : undefined
}
