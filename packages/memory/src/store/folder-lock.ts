import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { MemoryError, MemoryErrorCode } from '../errors.js'

/**
 * One process per store folder: the writer's ordering and the journal's cleanup assume no other
 * process writes the same tables. The lock is a file holding the owner's pid, created exclusively;
 * a lock whose process is gone (a crash) is taken over.
 */
export function lockFolder(file: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' })
      return () => rmSync(file, { force: true })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      const owner = Number(readFileSync(file, 'utf8'))
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new MemoryError(
          MemoryErrorCode.Locked,
          `This store is open in ${owner === process.pid ? 'this process' : `process ${owner}`}; one process at a time (stop the server or use its HTTP API)`,
          { details: { pid: owner } },
        )
      }
      rmSync(file, { force: true })
    }
  }
  throw new MemoryError(MemoryErrorCode.Locked, 'Could not take the store lock; another process keeps taking it')
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
