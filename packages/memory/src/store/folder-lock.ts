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
      const owner = ownerOf(file)
      if (owner !== undefined && isAlive(owner)) {
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

/**
 * The pid in a lock file. A file just created is empty until its owner writes the pid (create and
 * write are two steps): read as stale at once, a second process starting at the same moment (two
 * desktop clients launching `agentmem mcp`) took the lock too. So an empty file is read again for
 * up to 2 s; one still empty then is left by a crash between the two steps.
 */
function ownerOf(file: string): number | undefined {
  const wait = new Int32Array(new SharedArrayBuffer(4))
  for (let attempt = 0; attempt < 200; attempt++) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      return undefined // removed meanwhile: its owner released it
    }
    const owner = Number(text)
    if (text.trim() !== '' && Number.isInteger(owner) && owner > 0) return owner
    Atomics.wait(wait, 0, 0, 10)
  }
  return undefined
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}
