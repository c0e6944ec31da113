/** @module @agentmem/memory: long-term memory for AI agents on LanceDB and SQLite. */
export { isMemoryError, isMemoryErrorCode, MemoryError, MemoryErrorCode } from './errors.js'
export { type FilterNode, type Filters, filterOperators, parseFilters } from './filters.js'
export type { InferenceJob, InferResult, RejectedDecision } from './inference/inference.js'
export { LlmClient, type LlmOptions, type LlmUsage, llmOptionsSchema } from './inference/llm-client.js'
export { Memory } from './memory.js'
export {
  type AddBatchItem,
  type AddOptions,
  addBatchItemSchema,
  addOptionsSchema,
  type CountOptions,
  countOptionsSchema,
  type DeleteOptions,
  deleteOptionsSchema,
  type ImportItem,
  importItemSchema,
  inferenceJobStatuses,
  type JobListOptions,
  jobListOptionsSchema,
  type ListOptions,
  listOptionsSchema,
  type MemoryOpenOptions,
  type Message,
  maxListLimit,
  maxRerankCandidates,
  maxTopK,
  memoryOpenOptionsSchema,
  messageSchema,
  type ScopeIds,
  type SearchMode,
  type SearchOptions,
  searchModes,
  searchOptionsSchema,
  type UpdateOptions,
  updateOptionsSchema,
} from './options.js'
export type { Forward, ForwardedAnswer, ForwardedCall, ReplicationOptions } from './replication.js'
export { turnOffPretenuring, widenStoreComputePool } from './runtime.js'
export { type CopyProgress, type CopyStoreOptions, type CopyStoreResult, copyStore, type StoreCounts } from './store/copy-store.js'
export type { StoreLocation } from './store/open-stores.js'
export { openPostgresPool } from './store/postgres-pool.js'
export type { AddResult, HistoryEntry, MemoryEvent, MemoryItem, Metadata, ReembedProgress, SearchExplanation, SearchResult } from './types.js'
