import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { setFlagsFromString } from 'node:v8'

/**
 * Turns off V8's allocation-site pretenuring for this process: call it once, first thing, in a
 * process that serves searches (the `agentmem` CLI does). V8 moves an allocation site to the old
 * generation once enough of its objects lived through a young-generation GC; a search's
 * short-lived objects (fusion's hits, result items) sometimes qualify by the timing of that GC,
 * and from then on every search fills the old generation with garbage that only a full GC frees.
 * With the same code and data, 16 in-process callers ran 3,749-9,477 searches/s from one process
 * to the next, 6,018-10,122 with this call at start-up (median ~9,300; docs/architecture.md,
 * Reads). A process flag, so the library never sets it on its own: an embedding application
 * decides (or passes `--no-allocation-site-pretenuring` to node).
 */
export function turnOffPretenuring(): void {
  setFlagsFromString('--no-allocation-site-pretenuring')
}

/**
 * Gives LanceDB's pool for CPU work two threads where it would have one on a machine with more
 * than one core: call it first thing, before the first store call (the `agentmem` CLI does).
 * LanceDB sizes that pool as the cores minus two it keeps for I/O, at least one, so on a 2-core
 * machine one thread decodes every read and runs every compaction and index build, and a search's
 * read right after a bulk load queues behind the maintenance's k-means. With two threads, first
 * searches during the maintenance after a 100k bulk load took 0.85-0.95x as long (p50, four
 * alternated pairs of probes) and first searches of a maintained store 0.91-1.0x (three pairs;
 * docs/benchmarks/search.findings.md). A process setting LanceDB reads once (`LANCE_CPU_THREADS`),
 * so the library never sets it on its own; a value the user set, or an I/O reservation of their
 * own (`LANCE_IO_CORE_RESERVATION`), is left as it is.
 */
export function widenStoreComputePool(env: NodeJS.ProcessEnv = process.env, cores = usableCores()): void {
  const threads = storeComputeThreads(env, cores)
  if (threads !== undefined) env['LANCE_CPU_THREADS'] = String(threads)
}

/** The `LANCE_CPU_THREADS` widenStoreComputePool sets, or undefined where LanceDB's own size (or the user's) stands. */
export function storeComputeThreads(env: NodeJS.ProcessEnv, cores: number): number | undefined {
  if (env['LANCE_CPU_THREADS'] !== undefined || env['LANCE_IO_CORE_RESERVATION'] !== undefined) return undefined
  return cores >= 2 && cores - 2 < 2 ? 2 : undefined
}

/**
 * The cores this process may use as LanceDB counts them: Node's count (CPU affinity) capped by a
 * cgroup v2 CPU quota, which Node 20 does not read. In a container limited to 2 CPUs on a bigger
 * host, LanceDB sizes its pool for 2. (cgroup v1 quotas are not read.)
 */
function usableCores(): number {
  let max: string | undefined
  try {
    max = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8')
  } catch {}
  return Math.min(availableParallelism(), cpuQuota(max) ?? Number.POSITIVE_INFINITY)
}

/** The CPUs a cgroup v2 `cpu.max` (`<quota> <period>`, or `max <period>`) allows, rounded up; undefined for no limit. */
export function cpuQuota(cpuMax: string | undefined): number | undefined {
  const [quota, period] = (cpuMax ?? '').trim().split(/\s+/).map(Number)
  if (quota === undefined || period === undefined || !(quota > 0) || !(period > 0)) return undefined
  return Math.ceil(quota / period)
}
