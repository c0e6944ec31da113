import { EmbeddingError, EmbeddingErrorCode } from '../errors.js'

export interface MicroBatcherOptions<TInput, TOutput> {
  /** Number of lanes (workers); each runs one batch at a time. */
  lanes: number
  /** Most items in one batch. */
  maxBatchSize: number
  /**
   * While some lane is busy, a free lane waits up to this long for a partial batch to fill.
   * When every lane is idle a batch leaves at once: no added latency for a lone caller.
   */
  maxWaitMs: number
  /** Most items waiting; a submit that would exceed it fails whole with EMBEDDINGS_QUEUE_FULL. */
  maxQueue: number
  /** Relative cost of an item (e.g. its length): batches group similar costs, lanes balance on it. */
  cost(item: TInput): number
  /**
   * When every lane is idle and one item waits (not a retry), and this says yes, run it alone
   * as a solo run: it holds every lane, so the runner may give it every core (a lone text gets
   * all the threads; under load, one batch per lane). Default: never.
   */
  canRunSolo?: () => boolean
  /** Runs one batch on a lane (lane 0 for a solo run); results in input order. */
  run(lane: number, batch: TInput[], solo: boolean): Promise<TOutput[]>
  /** Whether a failed batch's items may be tried once more on another run (e.g. a crashed worker). */
  isRetryable(error: unknown): boolean
  /** What the errors call this batcher's owner, e.g. "embedder" in "the embedder is closed". */
  owner: string
}

interface Call<TOutput> {
  results: TOutput[]
  pending: number
  settled: boolean
  resolve(results: TOutput[]): void
  reject(error: unknown): void
}

interface Entry<TInput, TOutput> {
  item: TInput
  cost: number
  index: number
  call: Call<TOutput>
  enqueuedAt: number
  attempts: number
}

interface LaneState {
  busy: boolean
  load: number
}

/**
 * Coalesces concurrent submissions into batches, spreads them over the free lanes (least
 * loaded first), and runs a lone item on an idle pool as a solo run. Generic: it knows nothing about models or workers, so its timing rules are
 * testable with fake timers and fake lanes.
 */
export class MicroBatcher<TInput, TOutput> {
  readonly #options: MicroBatcherOptions<TInput, TOutput>
  readonly #lanes: LaneState[]
  #queue: Entry<TInput, TOutput>[] = []
  #pumpScheduled = false
  #waitTimer: NodeJS.Timeout | undefined
  #soloRunning = false
  #closed = false
  #idleWaiters: (() => void)[] = []

  constructor(options: MicroBatcherOptions<TInput, TOutput>) {
    this.#options = options
    this.#lanes = Array.from({ length: options.lanes }, () => ({ busy: false, load: 0 }))
  }

  get queued(): number {
    return this.#queue.length
  }

  get inFlight(): number {
    return this.#lanes.reduce((n, lane) => n + (lane.busy ? 1 : 0), 0)
  }

  submit(items: readonly TInput[], signal?: AbortSignal): Promise<TOutput[]> {
    if (this.#closed) return Promise.reject(closedError(this.#options.owner))
    if (signal?.aborted) return Promise.reject(abortError(signal))
    const { maxQueue } = this.#options
    if (this.#queue.length + items.length > maxQueue) {
      return Promise.reject(
        new EmbeddingError(
          EmbeddingErrorCode.QueueFull,
          `embedding queue is full (${this.#queue.length} queued, ${items.length} more asked, limit ${maxQueue})`,
          {
            details: { queued: this.#queue.length, requested: items.length, maxQueue },
          },
        ),
      )
    }
    return new Promise<TOutput[]>((resolve, reject) => {
      const onAbort = () => {
        this.#fail(call, abortError(signal as AbortSignal)) // also drops its queued entries
        this.#notifyIfIdle()
      }
      const call: Call<TOutput> = {
        results: new Array(items.length),
        pending: items.length,
        settled: false,
        resolve: (results) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(results)
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort)
          reject(error)
        },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      const now = performance.now()
      items.forEach((item, index) => {
        this.#queue.push({ item, cost: this.#options.cost(item), index, call, enqueuedAt: now, attempts: 0 })
      })
      this.#schedulePump()
    })
  }

  /** Refuses new work and resolves once everything accepted so far has settled. */
  async drain(): Promise<void> {
    this.#closed = true
    if (this.#queue.length === 0 && this.inFlight === 0) return
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve))
  }

  /** Fails everything still queued (used when no lane can ever run again). */
  failQueued(error: unknown): void {
    for (const entry of this.#queue) this.#fail(entry.call, error)
    this.#queue = []
    this.#notifyIfIdle()
  }

  // Coalesce everything submitted in the same turn of the event loop into one pump.
  #schedulePump(): void {
    if (this.#pumpScheduled) return
    this.#pumpScheduled = true
    setImmediate(() => {
      this.#pumpScheduled = false
      this.#pump()
    })
  }

  #pump(): void {
    if (this.#waitTimer) {
      clearTimeout(this.#waitTimer)
      this.#waitTimer = undefined
    }
    const { maxBatchSize, maxWaitMs } = this.#options
    if (this.#queue.length === 0 || this.#soloRunning) return
    const free = this.#lanes.filter((lane) => !lane.busy).length
    if (free === 0) return
    const idle = free === this.#lanes.length
    const waited = performance.now() - (this.#queue[0] as Entry<TInput, TOutput>).enqueuedAt
    if (!idle && this.#queue.length < maxBatchSize && waited < maxWaitMs) {
      this.#waitTimer = setTimeout(() => this.#pump(), maxWaitMs - waited)
      return
    }
    // A retry never runs solo: its lane 0 may be the worker that just crashed, still restarting.
    if (idle && this.#queue.length === 1 && this.#queue[0]?.attempts === 0 && this.#options.canRunSolo?.()) {
      this.#dispatch(0, this.#takeBatch(1), true)
      return
    }
    // Spread what waits over the free lanes: 8 texts on 2 idle lanes run as 4 + 4, not as
    // 8 on one lane while the other idles (which also kept closed-loop callers in lockstep).
    const size = Math.min(maxBatchSize, Math.ceil(this.#queue.length / free))
    for (let lanes = free; lanes > 0 && this.#queue.length > 0; lanes--) {
      this.#dispatch(this.#leastLoadedFreeLane() as number, this.#takeBatch(size), false)
    }
  }

  #leastLoadedFreeLane(): number | undefined {
    let best: number | undefined
    this.#lanes.forEach((lane, i) => {
      if (!lane.busy && (best === undefined || lane.load < (this.#lanes[best] as LaneState).load)) best = i
    })
    return best
  }

  /**
   * The oldest entry anchors the batch (so nothing starves); the rest are the entries of
   * closest cost among the next few batches' worth, which keeps padding small.
   */
  #takeBatch(size: number): Entry<TInput, TOutput>[] {
    if (this.#queue.length <= size) {
      const all = this.#queue
      this.#queue = []
      return all
    }
    const anchor = this.#queue[0] as Entry<TInput, TOutput>
    const window = this.#queue.slice(0, size * 4)
    const chosen = new Set(
      window
        .map((entry, position) => ({ entry, distance: position === 0 ? -1 : Math.abs(entry.cost - anchor.cost) }))
        .sort((a, b) => a.distance - b.distance)
        .slice(0, size)
        .map(({ entry }) => entry),
    )
    this.#queue = this.#queue.filter((entry) => !chosen.has(entry))
    return [...chosen]
  }

  #dispatch(laneIndex: number, batch: Entry<TInput, TOutput>[], solo: boolean): void {
    const lane = this.#lanes[laneIndex] as LaneState
    const cost = batch.reduce((sum, entry) => sum + entry.cost, 0)
    lane.busy = true
    lane.load += cost
    if (solo) this.#soloRunning = true
    this.#options
      .run(
        laneIndex,
        batch.map((entry) => entry.item),
        solo,
      )
      .then(
        (results) => {
          batch.forEach((entry, i) => {
            this.#settle(entry, results[i] as TOutput)
          })
        },
        (error: unknown) => {
          const retry = this.#options.isRetryable(error) ? batch.filter((entry) => entry.attempts === 0 && !entry.call.settled) : []
          for (const entry of retry) entry.attempts++
          this.#queue.unshift(...retry)
          for (const entry of batch) if (!retry.includes(entry)) this.#fail(entry.call, error)
        },
      )
      .finally(() => {
        lane.busy = false
        lane.load -= cost
        if (solo) this.#soloRunning = false
        // After the callers' continuations: a closed loop's next submissions join this pump.
        this.#schedulePump()
        this.#notifyIfIdle()
      })
  }

  #settle(entry: Entry<TInput, TOutput>, result: TOutput): void {
    const { call } = entry
    if (call.settled) return
    call.results[entry.index] = result
    call.pending--
    if (call.pending === 0) {
      call.settled = true
      call.resolve(call.results)
    }
  }

  #fail(call: Call<TOutput>, error: unknown): void {
    if (call.settled) return
    call.settled = true
    call.reject(error)
    // Entries of a failed call still queued are dead weight: drop them.
    this.#queue = this.#queue.filter((entry) => entry.call !== call)
  }

  #notifyIfIdle(): void {
    if (this.#queue.length > 0 || this.inFlight > 0) return
    for (const resolve of this.#idleWaiters.splice(0)) resolve()
  }
}

/** `owner`: "embedder" or "reranker", so the message names what the caller closed. */
export function closedError(owner: string): EmbeddingError {
  return new EmbeddingError(EmbeddingErrorCode.Closed, `the ${owner} is closed`)
}

export function abortError(signal: AbortSignal): EmbeddingError {
  return new EmbeddingError(EmbeddingErrorCode.Aborted, 'the embedding call was aborted', { cause: signal.reason })
}
