import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import Database from 'libsql'
import { MemoryError, MemoryErrorCode } from '../errors.js'

/**
 * One process per store folder: the writer's ordering and the journal's cleanup assume no other
 * process writes the same tables.
 *
 * The lock is SQLite's exclusive lock on `LOCK.db`, an OS file lock: the kernel drops it when its
 * process dies, so processes racing after a crash cannot both take it. (A pid file taken over when its process was
 * gone let two processes starting at once after a crash both take it: each removed the stale file,
 * the second removing the first's new one.) SQLite also refuses a second connection of the same
 * process. `LOCK` still holds the owner's pid, for the refusal's message and for versions before
 * this one, which lock with that file alone: one of them holding the store is respected. So is
 * any live process whose pid a crashed owner left there, as before (a reused pid keeps the store
 * locked until `LOCK` is removed).
 */
export function lockFolder(file: string): () => void {
  const lock = new Database(`${file}.db`, { timeout: 0 })
  held.add(lock)
  try {
    // Nothing is ever written to it: no journal, only the lock.
    lock.exec('PRAGMA journal_mode = OFF; PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE')
  } catch (e) {
    release(lock)
    if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e
    throw locked(ownerOf(file))
  }
  // Ours now; a pid left in LOCK is a crashed owner's, or a live one of an earlier version.
  const owner = ownerOf(file)
  if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
    release(lock)
    throw locked(owner)
  }
  try {
    writeFileSync(file, String(process.pid))
  } catch (e) {
    release(lock)
    throw e
  }
  return () => {
    rmSync(file, { force: true })
    release(lock)
  }
}

/** Connections holding a lock, so that none is garbage collected (and its lock dropped) while only a release function refers to it. */
const held = new Set<Database.Database>()

function release(lock: Database.Database): void {
  held.delete(lock)
  lock.close()
}

function locked(owner: number | undefined): MemoryError {
  const where = owner === undefined ? 'another process' : owner === process.pid ? 'this process' : `process ${owner}`
  return new MemoryError(MemoryErrorCode.Locked, `This store is open in ${where}; one process at a time (stop the server or use its HTTP API)`, {
    details: { ...(owner !== undefined && { pid: owner }) },
  })
}

/**
 * The pid in a lock file, if any. An earlier version creates the file empty, then writes its pid
 * (two steps): an empty file is read again for up to 2 s, so such a process starting at the same
 * moment is seen; one still empty then was left by a crash between the two steps.
 */
function ownerOf(file: string): number | undefined {
  const wait = new Int32Array(new SharedArrayBuffer(4))
  for (let attempt = 0; attempt < 200; attempt++) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      return undefined // no file: no owner of an earlier version
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
