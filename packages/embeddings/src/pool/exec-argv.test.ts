import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { workerExecArgv } from './exec-argv.js'

const execFileAsync = promisify(execFile)

describe('workerExecArgv', () => {
  it('drops the parent entry flags and their values, in both spellings', () => {
    expect(workerExecArgv(['--input-type=module', '-e', 'await go()'])).toEqual([])
    expect(workerExecArgv(['--input-type', 'module', '--eval=1+1', '-p', 'x', '--print=y'])).toEqual([])
    expect(workerExecArgv(['--test', '--test-reporter=dot', '--watch', '--watch-path', 'src', '-i'])).toEqual([])
  })

  it('keeps what the worker needs: conditions, preloads', () => {
    const kept = ['--conditions=agentmem-source', '--import', 'tsx', '-r', './setup.cjs', '--enable-source-maps']
    expect(workerExecArgv(['--input-type=module', ...kept, '-e', 'code'])).toEqual(kept)
  })
})

describe('startWorker', () => {
  it('starts a worker under V8 and per-process flags, which Node refuses in an explicit execArgv', async () => {
    // A child node with such flags, an entry flag (-e) and a preload: its worker must start and answer.
    const code = `
      import { startWorker } from ${JSON.stringify(new URL('./exec-argv.ts', import.meta.url).href)}
      const worker = startWorker('require("node:worker_threads").parentPort.postMessage(process.execArgv)', { eval: true })
      worker.once('message', (argv) => { console.log(JSON.stringify(argv)); worker.terminate() })
    `
    const tsx = createRequire(import.meta.url).resolve('tsx/esm')
    // `--title x`: a per-process flag whose value is a separate argument, before flags that must survive.
    const flags = [
      '--max-old-space-size=2048',
      '--title',
      'agentmem, test: a',
      '--max-semi-space-size=32',
      '--stack-trace-limit=20',
      '--conditions=agentmem-source',
    ]
    const { stdout } = await execFileAsync(process.execPath, [...flags, '--import', pathToFileURL(tsx).href, '--input-type=module', '-e', code])
    expect(JSON.parse(stdout)).toEqual(['--conditions=agentmem-source', '--import', pathToFileURL(tsx).href])
  })
})
