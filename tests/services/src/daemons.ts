import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const scripts = fileURLToPath(new URL('../scripts/', import.meta.url))

/** A port nobody listens on right now on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  return address.port
}

/** The given folder, or a fresh one under the OS temp dir that teardown removes. */
export async function serviceDir(prefix: string, dir?: string): Promise<{ dir: string; temporary: boolean }> {
  return dir ? { dir, temporary: false } : { dir: await mkdtemp(join(tmpdir(), `agentmem-${prefix}-`)), temporary: true }
}

/** Runs `scripts/<script> <args…>`; a failure carries the script's stderr (it prints the daemon logs' tail). */
export function runScript(script: string, args: string[], timeoutMs: number): Promise<void> {
  // detached: the daemons stay out of the terminal's process group, so Ctrl-C reaches only node and the teardown.
  const child = spawn('bash', [join(scripts, script), ...args], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return new Promise((resolve, reject) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) return resolve()
      const why = signal ? `timed out after ${timeoutMs / 1000} s` : `failed (exit ${code})`
      reject(new Error(`${script} ${args[0]} ${why}\n${stderr.trim()}`))
    })
  })
}

/**
 * Runs `scripts/<script> <command> <dir>` when this process ends, however it ends (SIGKILL included):
 * a detached shell blocks reading a pipe that only this process holds open, and acts on its EOF.
 * `release()` closes the pipe now and waits for the teardown.
 */
export function teardownOnExit(script: string, command: string, dir: string): { release(): Promise<void> } {
  const child = spawn('bash', ['-c', 'cat >/dev/null; exec bash "$0" "$1" "$2"', join(scripts, script), command, dir], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  })
  // Neither the child nor its pipe may keep the event loop (a test run) alive.
  child.unref()
  ;(child.stdin as unknown as { unref(): void }).unref()
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let released: Promise<void> | undefined
  return {
    release() {
      if (!released) {
        child.ref() // wait for the teardown even when nothing else keeps this process alive
        child.stdin.end()
        released = exited
      }
      return released
    },
  }
}

/** The last lines of each daemon log in `dir/log`, for error messages. */
export async function logTails(dir: string, lines = 15): Promise<string> {
  const logs = await readdir(join(dir, 'log')).catch(() => [])
  const tails = await Promise.all(
    logs.map(async (name) => {
      const text = await readFile(join(dir, 'log', name), 'utf8').catch(() => '')
      return `--- ${basename(name)}\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`
    }),
  )
  return tails.join('\n')
}
