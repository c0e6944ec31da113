import { type ChildProcess, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, expect, it } from 'vitest'

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
const lockModule = new URL('../src/store/folder-lock.ts', import.meta.url).href

const running: ChildProcess[] = []
afterEach(() => {
  for (const proc of running.splice(0)) proc.kill('SIGKILL')
})

/** A process that loads the lock, sleeps until `startAt` (ms since the epoch), tries to take it, says how it went, and holds it until killed. */
function contender(file: string, startAt: number): { proc: ChildProcess; said: Promise<string>; exited: Promise<unknown> } {
  const script = `import { lockFolder } from ${JSON.stringify(lockModule)}
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.max(0, ${startAt} - Date.now()))
try { lockFolder(${JSON.stringify(file)}); console.log('took') } catch (e) { console.log(e.code ?? e.message) }
setInterval(() => {}, 60_000)`
  const proc = spawn(process.execPath, ['--conditions=agentmem-source', '--import', tsx, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.push(proc)
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  const said = new Promise<string>((resolve, reject) => {
    let out = ''
    let err = ''
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('\n')) resolve(out.trim())
    })
    proc.stderr?.on('data', (d: Buffer) => {
      err += d.toString()
    })
    proc.once('exit', (code) => reject(new Error(`exited with ${code} before a word: ${err}`)))
  })
  return { proc, said, exited }
}

it('lets exactly one of several processes starting at once take a lock a crashed process left, and the next take it once that one is killed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'agentmem-lock-'))
  try {
    const file = join(dir, 'LOCK')
    // A crashed owner's pid file (no process has this pid): before, each process took it over, the
    // later ones removing the lock the first had just made, so several held the store.
    writeFileSync(file, '2147483646')
    // Late enough for six processes to load on 2 cores, so they try within a millisecond or so.
    const startAt = Date.now() + 6_000
    const contenders = Array.from({ length: 6 }, () => contender(file, startAt))
    const said = await Promise.all(contenders.map((c) => c.said))
    expect([...said].sort()).toEqual([...Array(5).fill('MEMORY_LOCKED'), 'took'])

    const holder = contenders[said.indexOf('took')] as (typeof contenders)[number]
    holder.proc.kill('SIGKILL')
    await holder.exited
    expect(await contender(file, 0).said).toBe('took')
  } finally {
    for (const proc of running.splice(0)) proc.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
})
