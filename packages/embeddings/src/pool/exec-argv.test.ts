import { describe, expect, it } from 'vitest'
import { workerExecArgv } from './exec-argv.js'

describe('workerExecArgv', () => {
  it('drops the parent entry flags and their values, in both spellings', () => {
    expect(workerExecArgv(['--input-type=module', '-e', 'await go()'])).toEqual([])
    expect(workerExecArgv(['--input-type', 'module', '--eval=1+1', '-p', 'x', '--print=y'])).toEqual([])
    expect(workerExecArgv(['--test', '--test-reporter=dot', '--watch', '--watch-path', 'src', '-i'])).toEqual([])
  })

  it('keeps what the worker needs: memory limits, conditions, preloads', () => {
    const kept = ['--max-old-space-size=200', '--conditions=agentmem-source', '--import', 'tsx', '-r', './setup.cjs', '--enable-source-maps']
    expect(workerExecArgv(['--input-type=module', ...kept, '-e', 'code'])).toEqual(kept)
  })
})
