import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

/** Starts the real `agentmem` CLI from source in a child process. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--conditions=source', '--import', tsx, main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AGENTMEM_LOG_LEVEL: 'warn', ...env },
  })
}

/** Runs the CLI to completion. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawnCli(args, env)
  let stdout = ''
  let stderr = ''
  proc.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  return new Promise((resolve) => proc.on('close', (code) => resolve({ code, stdout, stderr })))
}

/** Starts `agentmem serve` and resolves with its URL once it listens and has printed its banner (which ends with the auth line). */
export async function startServeProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> {
  const proc = spawnCli(['serve', '--port', '0', ...args], env)
  let stderr = ''
  const url = await new Promise<string>((resolve, reject) => {
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
      const match = /listening on (http:\/\/\S+)[\s\S]*agentmem keys create --tenant NAME.*\n/.exec(stderr)
      if (match?.[1]) resolve(match[1])
    })
    proc.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)))
  })
  return { proc, url, stderr: () => stderr }
}
