import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

/** The command line that runs the real `agentmem` CLI from source (for spawners other than spawnCli, e.g. an MCP stdio client). */
export function cliCommand(args: string[]): { command: string; args: string[] } {
  return { command: process.execPath, args: ['--conditions=agentmem-source', '--import', tsx, main, ...args] }
}

/** Starts the real `agentmem` CLI from source in a child process. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const { command, args: argv } = cliCommand(args)
  return spawn(command, argv, {
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

/**
 * Resolves with the URL once `agentmem serve` (however started) has printed its whole banner.
 * Its stdout (the JSON log) is read as it comes and its tail kept: a pipe nobody reads fills up
 * after 64 KiB and then blocks the server on its next log line.
 */
export function waitForBanner(proc: ChildProcess): Promise<{ url: string; stderr: () => string; logs: () => string }> {
  let stderr = ''
  let logs = ''
  proc.stdout?.on('data', (d: Buffer) => {
    logs = (logs + d.toString()).slice(-64_000)
  })
  return new Promise((resolve, reject) => {
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
      // The banner is one write and ends with the line on how to create keys.
      const match = /listening on (http:\/\/\S+)[\s\S]*agentmem keys create --tenant NAME.*\n/.exec(stderr)
      if (match?.[1]) resolve({ url: match[1], stderr: () => stderr, logs: () => logs })
    })
    proc.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)))
  })
}

/** Starts `agentmem serve` on a free port and resolves once it listens. */
export async function startServeProcess(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ proc: ChildProcess; url: string; stderr: () => string; logs: () => string }> {
  const proc = spawnCli(['serve', '--port', '0', ...args], env)
  return { proc, ...(await waitForBanner(proc)) }
}
