import { mkdir, rename, rm } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * Default cache root: `$AGENTMEM_CACHE_DIR`, else `$XDG_CACHE_HOME/agentmem`, else
 * `~/.cache/agentmem`. Only read when the caller passes no `cacheDir`.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env['AGENTMEM_CACHE_DIR'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'agentmem')
}

/**
 * Builds a folder under a temporary name and renames it into place, so a crash mid-build
 * never leaves a half-written folder where a complete one is expected. If another process
 * won the race, its folder is kept and ours is dropped.
 */
export async function buildFolderAtomically(target: string, build: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`
  await mkdir(tmp, { recursive: true })
  try {
    await build(tmp)
    await rename(tmp, target)
  } catch (error) {
    await rm(tmp, { recursive: true, force: true })
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return
    throw error
  }
}
