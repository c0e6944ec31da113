import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'

/** Bytes of the files under a folder (not following links); files that vanish meanwhile count as 0. */
export async function diskUsage(folder: string): Promise<number> {
  let names: string[]
  try {
    names = await readdir(folder, { recursive: true })
  } catch {
    return 0
  }
  let total = 0
  for (const name of names) {
    const stats = await lstat(join(folder, name)).catch(() => undefined)
    if (stats?.isFile()) total += stats.size
  }
  return total
}
