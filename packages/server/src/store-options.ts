import type { MemoryOpenOptions } from '@agentmem/memory'
import type { ServerConfig } from './config.js'
import { dataPaths } from './data-paths.js'

// How a server config opens its store, shared by `serve` and the CLI's store commands (which must
// not load the HTTP app to open a store).

/**
 * Where the store lives: the data folder, or PostgreSQL and S3-compatible object storage when their
 * URLs are set. The object store's endpoint, region and keys come from settings, else from the
 * standard AWS_* variables; an http:// endpoint (a local Ceph RGW or MinIO) is allowed as such.
 */
export function storeLocation(
  config: ServerConfig,
  env: NodeJS.ProcessEnv = process.env,
): Pick<MemoryOpenOptions, 'path' | 'metadataUrl' | 'vectorsUrl' | 'storageOptions'> {
  const endpoint = config.s3Endpoint ?? env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL']
  const storageOptions = Object.fromEntries(
    Object.entries({
      endpoint,
      region: config.s3Region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'],
      aws_access_key_id: config.s3AccessKeyId ?? env['AWS_ACCESS_KEY_ID'],
      aws_secret_access_key: config.s3SecretAccessKey ?? env['AWS_SECRET_ACCESS_KEY'],
      aws_session_token: env['AWS_SESSION_TOKEN'],
      allow_http: endpoint?.startsWith('http://') ? 'true' : undefined,
    }).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== ''),
  )
  return {
    path: dataPaths(config.data).memory,
    ...(config.metadataUrl && { metadataUrl: config.metadataUrl }),
    ...(config.vectorsUrl && { vectorsUrl: config.vectorsUrl, storageOptions }),
  }
}

/** A store URL as logs and banners show it: without its password. */
export function redactUrl(url: string): string {
  if (!URL.canParse(url)) return url
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.toString()
}

/** The Memory settings a server config carries: limits, and the LLM for `infer` when one is configured. */
export function memoryOptions(config: ServerConfig): Partial<MemoryOpenOptions> {
  return {
    maxTextLength: config.maxTextLength,
    maxBatchItems: config.maxBatchItems,
    resident: { budgetBytes: config.residentBudgetBytes, maxScopeRows: config.residentMaxScopeRows, searchThread: config.residentSearchThread === 'on' },
    fillerWeight: config.fillerWeight,
    feedbackWeight: config.feedbackWeight,
    contextWeight: config.contextWeight,
    ...(config.llmBaseUrl &&
      config.llmModel && {
        llm: {
          baseUrl: config.llmBaseUrl,
          model: config.llmModel,
          ...(config.llmApiKey && { apiKey: config.llmApiKey }),
          responseFormat: config.llmResponseFormat,
          timeoutMs: config.llmTimeoutMs,
          maxRetries: config.llmMaxRetries,
          concurrency: config.llmConcurrency,
        },
      }),
    inference: { ...(config.inferenceInstructions && { instructions: config.inferenceInstructions }) },
  }
}
