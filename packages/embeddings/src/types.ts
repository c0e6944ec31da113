/** Queries and passages may be embedded differently (prefixes such as e5's `query: `). */
export type EmbedKind = 'query' | 'passage'

export interface EmbedOptions {
  /** Which side of a retrieval pair the texts are. Default `passage`. */
  kind?: EmbedKind
  /** Cancels this call: queued texts are dropped and the promise rejects with EMBEDDINGS_ABORTED. */
  signal?: AbortSignal
}

/** A point-in-time view of the pool, for metrics. */
export interface EmbedderStats {
  /** Texts waiting for a worker. */
  queued: number
  /** Workers running a batch right now (a solo run counts one, though it holds every lane). */
  busyWorkers: number
  /** Workers started: all of them, except that the offline model starts them on the first call too big for its inline path. */
  workers: number
  /** Worker threads started so far, replacements of crashed ones included: a count that keeps rising means workers keep dying. */
  workerStarts: number
  threadsPerWorker: number
  /** Threads of worker 0's session for lone texts (see `soloSession`) once it started; 0 for none. */
  soloThreads: number
  cacheHits: number
  cacheMisses: number
}

/** Turns texts into unit-length vectors. Every implementation honours the same contract. */
export interface Embedder extends AsyncDisposable {
  /** The model's identifier, e.g. `all-MiniLM-L6-v2` or `agentmem-glove-100d`. */
  readonly modelId: string
  /** Length of every vector `embed` returns. */
  readonly dimensions: number
  /** One vector per text, in input order. Treat the arrays as read-only. */
  embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>
  stats(): EmbedderStats
  /** Stops accepting calls, finishes the queued ones, then releases the workers. */
  close(): Promise<void>
}

export interface RerankOptions {
  /** Cancels this call: queued pairs are dropped and the promise rejects with EMBEDDINGS_ABORTED. */
  signal?: AbortSignal
}

/** A point-in-time view of a reranker's pool, for metrics. */
export type RerankerStats = Omit<EmbedderStats, 'cacheHits' | 'cacheMisses'>

/** Scores how relevant documents are to a query, reading each pair together (a cross-encoder). */
export interface Reranker extends AsyncDisposable {
  /** The model's identifier, e.g. `ms-marco-MiniLM-L-6-v2`. */
  readonly modelId: string
  /**
   * One relevance per document, in input order: the sigmoid of the model's logit, in (0, 1).
   * Comparable within one query; an empty list gives an empty list.
   */
  score(query: string, documents: readonly string[], options?: RerankOptions): Promise<number[]>
  stats(): RerankerStats
  /** Stops accepting calls, finishes the queued ones, then releases the workers. */
  close(): Promise<void>
}

/** Structured logging hook; the package never prints on its own. */
export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void
  info(event: string, fields?: Record<string, unknown>): void
  warn(event: string, fields?: Record<string, unknown>): void
  error(event: string, fields?: Record<string, unknown>): void
}

export const noopLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} }
