import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href
const packages = fileURLToPath(new URL('../../../', import.meta.url))
const main = join(packages, 'server/src/cli/main.ts')
const built = join(packages, 'server/dist/cli/main.js')

/**
 * Whether dist/ holds every source edit of the server and the packages it runs: each package's
 * last build (its .tsbuildinfo) is newer than every file in its src/ and than its tsconfig.json
 * (which `tsc -b` rebuilds for; a package.json edit it would not build for). `pnpm test` builds first.
 */
function builtIsCurrent(): boolean {
  const newest = (folder: string): number =>
    Math.max(
      0,
      ...readdirSync(folder, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(folder, e.name)) : statSync(join(folder, e.name)).mtimeMs)),
    )
  return ['server', 'memory', 'embeddings'].every((name) => {
    const info = join(packages, name, 'dist/.tsbuildinfo')
    const edited = Math.max(newest(join(packages, name, 'src')), statSync(join(packages, name, 'tsconfig.json')).mtimeMs)
    return existsSync(info) && statSync(info).mtimeMs > edited
  })
}

/**
 * The real `agentmem` CLI as a command line (for spawners other than spawnCli, e.g. an MCP stdio
 * client): the build when it is current, as users run it; else the sources through tsx, which
 * costs each process 0.5-2.5 s more here (a CLI search 4.8 s against 2.3), over a hundred
 * processes in this package's tests.
 */
export const cliCommand: (args: string[]) => { command: string; args: string[] } = builtIsCurrent()
  ? (args) => ({ command: process.execPath, args: [built, ...args] })
  : (args) => ({ command: process.execPath, args: ['--conditions=agentmem-source', '--import', tsx, main, ...args] })

/** Starts the real `agentmem` CLI in a child process. */
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
