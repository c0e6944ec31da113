import { describe, expect, it } from 'vitest'
import { cpuQuota, storeComputeThreads, widenStoreComputePool } from './runtime.js'

describe('widenStoreComputePool', () => {
  it('gives LanceDB two CPU threads where its own size would be one, on more than one core', () => {
    // LanceDB's own size: the cores minus two kept for I/O, at least one.
    expect([1, 2, 3, 4, 8].map((cores) => storeComputeThreads({}, cores))).toEqual([undefined, 2, 2, undefined, undefined])
  })

  it("leaves the user's pool size or I/O reservation as set, even one LanceDB would refuse", () => {
    for (const env of [{ LANCE_CPU_THREADS: '1' }, { LANCE_CPU_THREADS: '' }, { LANCE_IO_CORE_RESERVATION: '0' }]) {
      const given = { ...env }
      widenStoreComputePool(given, 2)
      expect(given).toEqual(env)
    }
  })

  it('sets LANCE_CPU_THREADS in the environment it is given', () => {
    const env: NodeJS.ProcessEnv = {}
    widenStoreComputePool(env, 2)
    expect(env).toEqual({ LANCE_CPU_THREADS: '2' })
  })
})

describe('cpuQuota', () => {
  it('reads the CPUs a cgroup v2 cpu.max allows, rounded up, and no limit from max or nothing', () => {
    expect(['200000 100000\n', '150000 100000', '50000 100000', 'max 100000\n', '', undefined, 'garbage'].map(cpuQuota)).toEqual([
      2,
      2,
      1,
      undefined,
      undefined,
      undefined,
      undefined,
    ])
  })
})
