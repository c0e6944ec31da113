/** SUPERSEDE: a newer, contradicting fact replaced this memory (it keeps its text and gets validTo). */
export type MemoryEvent = 'ADD' | 'UPDATE' | 'DELETE' | 'SUPERSEDE' | 'NONE'
export type Metadata = Record<string, unknown>

/** A stored memory as callers see it. Times are ISO-8601 strings. */
export interface MemoryItem {
  id: string
  memory: string
  metadata: Metadata
  userId: string | null
  agentId: string | null
  runId: string | null
  role: string | null
  createdAt: string
  updatedAt: string
  /** When a newer fact superseded this memory (inference); null while it is current. */
  validTo: string | null
}

export interface SearchExplanation {
  /** Cosine similarity to the query, and the rank in the vector candidate list (null if not a candidate). */
  vector: { score: number; rank: number | null }
  /**
   * BM25 score and rank in the keyword candidate list (rank null for a memory that only context
   * brought in); null when the text did not match the query terms.
   */
  keyword: { score: number; rank: number | null } | null
  /** The fused score the result was ordered by. */
  fused: number
  /** Set when the memory holds only filler words (acknowledgements, greetings): a positive `fused` is its score times `fillerWeight`. */
  filler?: true
  /** Set when the best hits' own words (pseudo-relevance feedback, hybrid only) match this memory: `fused` includes it. */
  feedback?: number
  /** Set when a neighbouring memory of its conversation thread matched: `fused` includes `score`, lent by the memory `from`. */
  context?: { from: string; score: number }
}

export interface SearchResult extends MemoryItem {
  /** The first stage's score (fused, cosine or BM25 by mode); a reranked search keeps it and orders by `rerankScore`. */
  score: number
  /** With `rerank`: the reranker's relevance of this memory to the query, in (0, 1). */
  rerankScore?: number
  explain?: SearchExplanation
}

export interface AddResult {
  id: string
  memory: string
  event: MemoryEvent
}

export interface HistoryEntry {
  /** The event's place in its memory's history: 1 for the first, in the order they happened. */
  id: number
  memoryId: string
  event: Exclude<MemoryEvent, 'NONE'>
  previousMemory: string | null
  newMemory: string | null
  metadata: Metadata | null
  actor: string | null
  /** True once `delete(id, { purge: true })` erased the texts of this memory's history. */
  purged: boolean
  createdAt: string
}

export interface ReembedProgress {
  done: number
  total: number
}
