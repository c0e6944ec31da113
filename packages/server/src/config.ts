import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import { ServerError, ServerErrorCode } from './errors.js'

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max)

/**
 * Every setting of the server, with its default. Sources, later ones winning: the JSON file named
 * by AGENTMEM_CONFIG, AGENTMEM_* environment variables, command-line flags. Parsed once at start.
 */
export const serverConfigSchema = z
  .strictObject({
    /** Data folder: memories (LanceDB + SQLite) and API keys. */
    data: z.string().min(1).default('.agentmem'),
    /**
     * `postgres://user:password@host:port/database`: metadata (history, journal, jobs) in PostgreSQL
     * instead of the data folder. The password is never logged.
     */
    metadataUrl: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional(),
    /** `s3://bucket/prefix`: memories (LanceDB) in S3-compatible object storage instead of the data folder. */
    vectorsUrl: z
      .string()
      .regex(/^[a-z][a-z0-9+.-]*:\/\//, 'must be a URL such as s3://bucket/prefix, or file:///absolute/folder for a folder shared by replicas on one machine')
      .optional(),
    /** The object store's endpoint for vectorsUrl (S3-compatible servers: Ceph RGW, MinIO); default AWS_ENDPOINT_URL, else AWS. */
    s3Endpoint: z.url().optional(),
    /** Region for vectorsUrl; default AWS_REGION. */
    s3Region: z.string().min(1).optional(),
    /** Access key for vectorsUrl; default AWS_ACCESS_KEY_ID. */
    s3AccessKeyId: z.string().min(1).optional(),
    /** Secret key for vectorsUrl; default AWS_SECRET_ACCESS_KEY. Never logged. */
    s3SecretAccessKey: z.string().min(1).optional(),
    /** With metadataUrl: how often a replica checks for a vanished leader, and re-reads the store in case a change notice was lost (the staleness bound), in ms. */
    replicaCheckMs: int(50, 60_000).default(1000),
    /** With metadataUrl: the URL other replicas reach this server at (writes are forwarded to the leader); default: the address it listens on. */
    advertiseUrl: z.url().optional(),
    /** Address to listen on. Anything but loopback needs at least one API key. */
    host: z.string().min(1).default('127.0.0.1'),
    /** Port to listen on (0 picks a free one). */
    port: int(0, 65535).default(8787),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Embedding model id downloaded from the Hugging Face hub on first use; default: the offline model. */
    model: z.string().min(1).optional(),
    /** A local model folder (Hugging Face layout) instead of a download. */
    modelPath: z.string().min(1).optional(),
    /**
     * Cross-encoder for searches that ask `rerank` (e.g. ms-marco-MiniLM-L-6-v2, bge-reranker-base),
     * downloaded from the Hugging Face hub once, at start; unset: `rerank` answers 501.
     */
    reranker: z.string().min(1).optional(),
    /** A local cross-encoder folder (Hugging Face layout, ONNX graph with `logits`) instead of a download. */
    rerankerPath: z.string().min(1).optional(),
    /** Reranker worker threads, each holding a copy of the model (bge-reranker-base: ~1.1 GB); ORT threads split the cores between them. Default: 2 (1 on one core). */
    rerankerWorkers: int(1, 64).optional(),
    /** Embedding worker threads; default: one per core. */
    embeddingWorkers: int(1, 64).optional(),
    /** Largest request body, in bytes. */
    bodyLimitBytes: int(1024).default(1_048_576),
    /** Most items in one batch request. */
    maxBatchItems: int(1, 100_000).default(1000),
    /** Longest memory text or query, in characters. */
    maxTextLength: int(1, 1_000_000).default(10_000),
    /** Largest top_k a search may ask for. */
    maxTopK: int(1, 1000).default(100),
    /**
     * Who may read `/metrics`: `admin` (an admin key, or this machine while no key exists) or
     * `public` (anyone who reaches the port, for a scraper that sends no key). Its totals are the
     * whole server's (requests by route, memories, LLM tokens), which a tenant key must not see.
     */
    metricsAccess: z.enum(['admin', 'public']).default('admin'),
    /** Requests per minute per API key (per client address without keys); 0 turns the limit off. */
    rateLimitPerMinute: int(0).default(600),
    /** A request running longer is answered 504 (a write in flight still completes atomically). */
    requestTimeoutMs: int(100).default(30_000),
    /** On SIGTERM/SIGINT, how long in-flight requests and queued writes may take before the process exits anyway. */
    shutdownTimeoutMs: int(100).default(10_000),
    /** Heap the resident search index may hold, in bytes (an estimate); 0 turns it off and every search reads LanceDB. */
    residentBudgetBytes: int(0).default(256 * 1024 * 1024),
    /** In hybrid search, the factor on the score of a memory made only of filler words ("Noted!", "Got it, thanks!"); 1 turns the prior off. */
    fillerWeight: z.coerce.number().min(0).max(1).default(0.5),
    /** In hybrid search, how much a word of the best hits that the query lacks counts, as a fraction of a query word (pseudo-relevance feedback); 0 turns it off. */
    feedbackWeight: z.coerce.number().min(0).max(1).default(0.3),
    /** In hybrid search, the share of a hit's score lent to its neighbours in its conversation thread; 0 turns it off. */
    contextWeight: z.coerce.number().min(0).max(1).default(0.3),
    /** A scope with more memories is searched in LanceDB, never held in memory whole. */
    residentMaxScopeRows: int(1, 1_000_000).default(10_000),
    /** `on`: searches of resident scopes also run on a second thread holding a copy of them (a second core for concurrent searches, twice the resident memory). */
    residentSearchThread: z.enum(['on', 'off']).default('off'),
    /** OpenAI-compatible endpoint for `infer` (e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1); unset: no inference. */
    llmBaseUrl: z.url().optional(),
    /** Model name sent to the LLM endpoint; required with llmBaseUrl. */
    llmModel: z.string().min(1).optional(),
    /** Bearer token for the LLM endpoint; never logged. */
    llmApiKey: z.string().min(1).optional(),
    /** `json_schema` (structured outputs) or `json_object` (JSON mode, for servers without schemas). */
    llmResponseFormat: z.enum(['json_schema', 'json_object']).default('json_schema'),
    /** Per LLM attempt. */
    llmTimeoutMs: int(1).default(60_000),
    /** LLM retries after the first attempt (429, 5xx, timeouts, unusable output). */
    llmMaxRetries: int(0, 10).default(3),
    /** LLM requests in flight at once. */
    llmConcurrency: int(1, 256).default(4),
    /** Added to every extraction prompt. */
    inferenceInstructions: z.string().max(4000).optional(),
    /**
     * `infer` when a Mem0 client does not send it. Mem0's clients default to true; so does this when
     * an LLM is configured. Without one, adds from Mem0 clients store the text as given.
     */
    mem0InferDefault: z.enum(['auto', 'true', 'false']).default('auto'),
  })
  .refine((c) => (c.llmBaseUrl === undefined) === (c.llmModel === undefined), { message: 'llmBaseUrl and llmModel go together', path: ['llmModel'] })
  .refine((c) => !c.metadataUrl || c.advertiseUrl || !['0.0.0.0', '::'].includes(c.host), {
    message: 'replicas listening on every interface need advertiseUrl: the URL the other replicas reach this one at',
    path: ['advertiseUrl'],
  })
export type ServerConfig = z.output<typeof serverConfigSchema>
export type ServerConfigInput = z.input<typeof serverConfigSchema>

/** AGENTMEM_LOG_LEVEL for logLevel, and so on. */
export function envName(key: string): string {
  return `AGENTMEM_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

export const configFileEnv = 'AGENTMEM_CONFIG'

/** Reads file, environment and flags into one validated config; a bad value names its source. */
export function loadConfig(options: { env?: NodeJS.ProcessEnv; flags?: ServerConfigInput } = {}): ServerConfig {
  const env = options.env ?? process.env
  let file: Record<string, unknown> = {}
  const fileName = env[configFileEnv]
  if (fileName) {
    try {
      file = JSON.parse(readFileSync(fileName, 'utf8')) as Record<string, unknown>
    } catch (cause) {
      throw new ServerError(ServerErrorCode.InvalidConfig, `Cannot read the config file ${fileName} (${configFileEnv}): ${String(cause)}`, { cause })
    }
  }
  const fromEnv: Record<string, string> = {}
  for (const key of Object.keys(serverConfigSchema.shape)) {
    const value = env[envName(key)]
    if (value !== undefined && value !== '') fromEnv[key] = value
  }
  const flags = Object.fromEntries(Object.entries(options.flags ?? {}).filter(([, v]) => v !== undefined))
  const merged = { ...file, ...fromEnv, ...flags }
  const parsed = serverConfigSchema.safeParse(merged)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map((issue) => {
    const key = String(issue.path[0] ?? '')
    const source = key in flags ? `--${key}` : key in fromEnv ? envName(key) : fileName && key in file ? `${key} in ${fileName}` : key || 'config'
    return `${source}: ${issue.message}`
  })
  throw new ServerError(ServerErrorCode.InvalidConfig, `Invalid configuration:\n  ${problems.join('\n  ')}`, { details: { problems } })
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '::ffff:127.0.0.1' || /^127\.\d+\.\d+\.\d+$/.test(host) || /^::ffff:127\./.test(host)
}

/**
 * The `keys create` line that writes where a server of this configuration reads keys: its data
 * folder (absolute, so it names this store from any working directory) or its PostgreSQL.
 * Without the folder, a key went to ./.agentmem and the server refused it (401).
 */
export function keysCreateCommand(config: ServerConfig, tenant = 'NAME'): string {
  const command = `agentmem keys create --tenant ${tenant}`
  if (config.metadataUrl) return `${command} --metadata-url <its metadata URL>`
  return `${command} --data ${shellPath(config.data)}`
}

/** A folder as a command line names it from any working directory: absolute, quoted for a POSIX shell when it needs to be. */
export function shellPath(folder: string): string {
  const absolute = resolve(folder)
  return /^[\w./-]+$/.test(absolute) ? absolute : `'${absolute.replaceAll("'", "'\\''")}'`
}
