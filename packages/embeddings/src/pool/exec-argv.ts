/**
 * Node flags of the parent process that break or misdirect a worker thread started from a file.
 * A worker inherits `process.execArgv` by default: a script run as `node --input-type=module -e
 * '...'` (or from stdin) would start each worker with `--input-type`, which Node refuses for a
 * file entry (ERR_INPUT_TYPE_NOT_ALLOWED), and `--eval`/`--print` belong to the parent's own
 * entry. Everything else (memory limits, --conditions, --require/--import preloads) is kept.
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
