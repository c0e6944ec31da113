import { afterEach, describe, expect, it, vi } from 'vitest'
import { EmbeddingErrorCode } from '../errors.js'
import { MicroBatcher, type MicroBatcherOptions } from './micro-batcher.js'

/** Lanes that record every batch and finish only when the test says so. */
function harness(overrides: Partial<MicroBatcherOptions<string, string>> = {}) {
  const runs: { lane: number; batch: string[]; solo: boolean; finish(error?: unknown): void }[] = []
  const batcher = new MicroBatcher<string, string>({
    lanes: 2,
    maxBatchSize: 4,
    maxWaitMs: 5,
    maxQueue: 100,
    cost: (item) => item.length,
    run: (lane, batch, solo) =>
      new Promise((resolve, reject) => {
        runs.push({ lane, batch, solo, finish: (error) => (error ? reject(error) : resolve(batch.map((item) => item.toUpperCase()))) })
      }),
    isRetryable: (error) => (error as { retry?: boolean }).retry === true,
    owner: 'embedder',
    ...overrides,
  })
  return { batcher, runs }
}

const flush = () => vi.advanceTimersByTimeAsync(0)

describe('MicroBatcher', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('coalesces calls made in the same tick into one batch, results in input order', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ lanes: 1 })
    const a = batcher.submit(['a', 'b'])
    const c = batcher.submit(['c'])
    await flush()
    expect(runs.map((r) => r.batch)).toEqual([['a', 'b', 'c']])
    runs[0]?.finish()
    await expect(a).resolves.toEqual(['A', 'B'])
    await expect(c).resolves.toEqual(['C'])
  })

  it('adds no wait when every lane is idle', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ maxWaitMs: 1000 })
    void batcher.submit(['x'])
    await flush()
    expect(runs).toHaveLength(1)
  })

  it('waits up to maxWaitMs to fill a batch while another lane is busy', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ maxWaitMs: 5 })
    void batcher.submit(['first'])
    await flush()
    void batcher.submit(['second'])
    await flush()
    expect(runs).toHaveLength(1) // lane 1 is free but waits for company
    void batcher.submit(['third'])
    await vi.advanceTimersByTimeAsync(5)
    expect(runs.map((r) => r.batch)).toEqual([['first'], ['second', 'third']])
    expect(runs[1]?.lane).toBe(1)
  })

  it('splits at maxBatchSize and groups similar lengths together', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ lanes: 1 })
    void batcher.submit(['a', 'bbbbbbbbbb', 'c', 'dddddddddd', 'e', 'ffffffffff', 'g', 'hhhhhhhhhh'])
    await flush()
    // The oldest item anchors the first batch; the rest of it is the closest lengths.
    expect(runs[0]?.batch).toEqual(['a', 'c', 'e', 'g'])
    runs[0]?.finish()
    await flush()
    expect(runs[1]?.batch).toEqual(['bbbbbbbbbb', 'dddddddddd', 'ffffffffff', 'hhhhhhhhhh'])
  })

  it('spreads what waits over the idle lanes instead of filling one batch', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ maxBatchSize: 8 })
    void batcher.submit(['a', 'b', 'c', 'd', 'e', 'f', 'g'])
    await flush()
    expect(runs.map((r) => [r.lane, r.batch.length])).toEqual([
      [0, 4],
      [1, 3],
    ])
  })

  it('runs a lone item solo while every lane is idle, holding every lane until it ends', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ canRunSolo: () => true, maxWaitMs: 0 })
    const lone = batcher.submit(['a'])
    await flush()
    expect(runs.map((r) => [r.lane, r.solo])).toEqual([[0, true]])
    void batcher.submit(['b'])
    void batcher.submit(['c'])
    await flush()
    expect(runs).toHaveLength(1) // lane 1 is free, but the solo run uses its cores
    runs[0]?.finish()
    await expect(lone).resolves.toEqual(['A'])
    await flush()
    // Two items wait: one batch per lane, each on its own session.
    expect(runs.slice(1).map((r) => [r.lane, r.batch, r.solo])).toEqual([
      [0, ['b'], false],
      [1, ['c'], false],
    ])
    void batcher.submit(['d'])
    await flush()
    expect(runs).toHaveLength(3) // no solo run while a lane is busy: 'd' waits for lane 0 or 1
    runs[1]?.finish()
    await flush()
    expect(runs[3]).toMatchObject({ batch: ['d'], solo: false })
  })

  it('runs no solo when the runner says it cannot (its lane 0 restarting), nor for a retry', async () => {
    vi.useFakeTimers()
    let lane0Ready = false
    const { batcher, runs } = harness({ canRunSolo: () => lane0Ready, maxWaitMs: 0 })
    const first = batcher.submit(['a'])
    await flush()
    expect(runs[0]).toMatchObject({ lane: 0, solo: false })
    runs[0]?.finish()
    await first
    lane0Ready = true
    const retried = batcher.submit(['b'])
    await flush()
    expect(runs[1]).toMatchObject({ solo: true })
    runs[1]?.finish(Object.assign(new Error('worker died'), { retry: true }))
    await flush()
    expect(runs[2]).toMatchObject({ batch: ['b'], solo: false }) // a retry: one lane, while lane 0 restarts
    runs[2]?.finish()
    await expect(retried).resolves.toEqual(['B'])
  })

  it('drain waits for a solo run, and an abort during one fails only that call', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ canRunSolo: () => true, maxWaitMs: 0 })
    const controller = new AbortController()
    const aborted = batcher.submit(['a'], controller.signal)
    await flush()
    expect(runs[0]?.solo).toBe(true)
    const kept = batcher.submit(['b'])
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ code: EmbeddingErrorCode.Aborted })
    let drained = false
    const draining = batcher.drain().then(() => {
      drained = true
    })
    await flush()
    expect(drained).toBe(false)
    runs[0]?.finish() // its result is discarded; 'b' runs next
    await flush()
    expect(runs[1]?.batch).toEqual(['b'])
    runs[1]?.finish()
    await expect(kept).resolves.toEqual(['B'])
    await draining
  })

  it('names its owner when it refuses work after closing', async () => {
    const { batcher } = harness({ owner: 'reranker' })
    await batcher.drain()
    await expect(batcher.submit(['late'])).rejects.toThrow('the reranker is closed')
  })

  it('sends work to the least-loaded free lane', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ maxWaitMs: 0, maxBatchSize: 1 })
    void batcher.submit(['long item'])
    void batcher.submit(['s'])
    await flush()
    expect(runs.map((r) => r.lane)).toEqual([0, 1])
    runs[0]?.finish()
    await flush()
    void batcher.submit(['next'])
    await flush()
    expect(runs[2]?.lane).toBe(0) // lane 1 is still busy
  })

  it('rejects a submission that would overflow the queue, whole, with QUEUE_FULL', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ lanes: 1, maxBatchSize: 1, maxQueue: 3 })
    void batcher.submit(['a'])
    await flush() // 'a' is running: the queue is empty again
    void batcher.submit(['b', 'c'])
    await expect(batcher.submit(['d', 'e'])).rejects.toMatchObject({ code: EmbeddingErrorCode.QueueFull })
    expect(batcher.queued).toBe(2)
    runs[0]?.finish()
  })

  it('aborting drops the queued items of that call only', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ lanes: 1, maxBatchSize: 1 })
    void batcher.submit(['running'])
    await flush()
    const controller = new AbortController()
    const aborted = batcher.submit(['x', 'y'], controller.signal)
    const kept = batcher.submit(['z'])
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ code: EmbeddingErrorCode.Aborted })
    expect(batcher.queued).toBe(1)
    runs[0]?.finish()
    await flush()
    expect(runs[1]?.batch).toEqual(['z'])
    runs[1]?.finish()
    await expect(kept).resolves.toEqual(['Z'])
  })

  it('retries a retryable failure once, then reports it', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ lanes: 1 })
    const call = batcher.submit(['a'])
    await flush()
    runs[0]?.finish(Object.assign(new Error('worker died'), { retry: true }))
    await flush()
    expect(runs).toHaveLength(2)
    runs[1]?.finish(Object.assign(new Error('worker died again'), { retry: true }))
    await expect(call).rejects.toThrow('worker died again')
  })

  it('does not retry other failures', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ lanes: 1 })
    const call = batcher.submit(['a'])
    await flush()
    runs[0]?.finish(new Error('bad input'))
    await expect(call).rejects.toThrow('bad input')
    expect(runs).toHaveLength(1)
  })

  it('drain finishes accepted work and refuses new work', async () => {
    vi.useFakeTimers()
    const { batcher, runs } = harness({ lanes: 1, maxBatchSize: 1 })
    const first = batcher.submit(['a'])
    const second = batcher.submit(['b'])
    await flush()
    let drained = false
    const draining = batcher.drain().then(() => {
      drained = true
    })
    await expect(batcher.submit(['late'])).rejects.toMatchObject({ code: EmbeddingErrorCode.Closed })
    runs[0]?.finish()
    await flush()
    expect(drained).toBe(false)
    runs[1]?.finish()
    await draining
    await expect(Promise.all([first, second])).resolves.toEqual([['A'], ['B']])
  })
})
