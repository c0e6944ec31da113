import { type EventLoopUtilization, performance } from 'node:perf_hooks'
import type { Worker } from 'node:worker_threads'
import { type Logger, startModuleWorker } from '@agentmem/embeddings'
import type { MirroredChange } from './resident-cache.js'
import type { SearchHit, SearchRequest } from './searcher.js'

/** A search the thread runs: everything but the abort signal (searches with one stay on the main thread). */
export type ThreadSearch = Omit<SearchRequest, 'signal'>

/** Main thread -> search thread. */
export type ToSearchThread = { type: 'change'; change: MirroredChange } | { type: 'search'; id: number; request: ThreadSearch }

/**
 * Search thread -> main thread: a search's hits (their rows without vectors), or `declined` when its
 * mirror does not hold the scope or the tenant's statistics, or the error it ended with (the main
 * thread then searches itself, and meets the same error if it is the input's).
 */
export type FromSearchThread = { id: number; hits: SearchHit[] } | { id: number; declined: true } | { id: number; error: string }

/**
 * Searches in flight on the thread at most. A few keep it busy while the main thread searches too
 * (its answers wait for the main thread's turn); more would only make them wait longer.
 */
const maxInFlight = 8
/** How often the main thread's load is read again (ms), and the share of that time it ran code above which it counts as busy. */
const loadEveryMs = 50
const busyShare = 0.5

const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './search-thread-worker.ts' : './search-thread-worker.js', import.meta.url)

/**
 * A second thread that searches resident scopes (`resident.searchThread`): a worker holding a
 * mirror of the main thread's resident cache, told every change of it in order (ResidentCache's
 * `onChange` option), so it holds the same rows and statistics. The main thread hands it searches of
 * big enough resident scopes when several are under way or it is busy (Memory.searchOnThread); the
 * one message channel keeps order, so a search handed over after a write was acknowledged finds it
 * there. Uses the second core a search on one event loop leaves idle, for twice the resident
 * memory. See docs/architecture.md, "The search thread".
 */
export class SearchThread {
  private readonly worker: Worker
  private readonly waiting = new Map<number, (hits: SearchHit[] | undefined) => void>()
  private nextId = 0
  private loadSince: EventLoopUtilization = performance.eventLoopUtilization()
  private loadReadAt = performance.now()
  private busy = false
  state: 'running' | 'failed' | 'closed' = 'running'
  /** Searches it answered; those it declined or failed, the main thread ran. */
  searches = 0
  declined = 0
  failed = 0

  constructor(private readonly logger: Logger) {
    this.worker = startModuleWorker(workerUrl, {})
    // A process may exit with the thread idle, not with searches waiting on it (see search).
    this.worker.unref()
    this.worker.on('message', (message: FromSearchThread) => this.answer(message))
    this.worker.on('error', (error) => this.fail(String(error)))
    this.worker.on('exit', (code) => this.fail(`exited with code ${code}`))
  }

  /** Whether a search handed over now would start soon. */
  get free(): boolean {
    return this.state === 'running' && this.waiting.size < maxInFlight
  }

  /**
   * Whether the main thread ran code more than half the time lately (its event loop's utilization
   * over the last `loadEveryMs` or so): a server under load, whose requests reach the engine one
   * at a time, each search start to end in one turn, so that no two are seen under way together.
   */
  get mainBusy(): boolean {
    const now = performance.now()
    if (now - this.loadReadAt >= loadEveryMs) {
      const total = performance.eventLoopUtilization()
      this.busy = performance.eventLoopUtilization(total, this.loadSince).utilization > busyShare
      this.loadSince = total
      this.loadReadAt = now
    }
    return this.busy
  }

  /** One change of the main thread's resident cache, told as it happens. */
  tell(change: MirroredChange): void {
    if (this.state !== 'running') return
    try {
      this.worker.postMessage({ type: 'change', change } satisfies ToSearchThread)
    } catch (error) {
      // A change that cannot be told leaves the mirror behind: it must not answer again.
      this.fail(`could not be told a change: ${String(error)}`)
    }
  }

  /** The thread's hits, or undefined when the main thread must search (declined, failed, or the thread is gone). */
  search(request: ThreadSearch): Promise<SearchHit[] | undefined> {
    if (this.state !== 'running') return Promise.resolve(undefined)
    const id = this.nextId++
    return new Promise((resolve) => {
      try {
        this.worker.postMessage({ type: 'search', id, request } satisfies ToSearchThread)
      } catch (error) {
        // Only this search is lost (a request that cannot be cloned): the main thread runs it.
        this.logger.debug('memory.search_thread_error', { error: String(error) })
        resolve(undefined)
        return
      }
      if (this.waiting.size === 0) this.worker.ref()
      this.waiting.set(id, resolve)
    })
  }

  async close(): Promise<void> {
    if (this.state === 'running') this.state = 'closed'
    this.release()
    await this.worker.terminate()
  }

  private answer(message: FromSearchThread): void {
    const resolve = this.waiting.get(message.id)
    if (!resolve) return
    this.waiting.delete(message.id)
    if (this.waiting.size === 0) this.worker.unref()
    if ('hits' in message) {
      this.searches++
      resolve(message.hits)
      return
    }
    if ('error' in message) {
      // The main thread runs the search again, and meets the error itself if it is the input's; one
      // that happens only here doubles every such search's work, so the first is worth a warning.
      this.logger[this.failed === 0 ? 'warn' : 'debug']('memory.search_thread_error', { error: message.error })
      this.failed++
    } else this.declined++
    resolve(undefined)
  }

  /** The thread is gone or its mirror is behind: searches stay on the main thread from now on. */
  private fail(reason: string): void {
    if (this.state !== 'running') return
    this.state = 'failed'
    this.logger.error('memory.search_thread_failed', { reason })
    this.release()
    void this.worker.terminate()
  }

  private release(): void {
    for (const resolve of this.waiting.values()) resolve(undefined)
    this.waiting.clear()
    this.worker.unref()
  }
}
