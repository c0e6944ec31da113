import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { EmbeddingError, EmbeddingErrorCode } from '../errors.js'
import type { ProgressListener } from './progress.js'
import type { HubFile, KnownModel } from './registry.js'

export interface HubDownloadOptions {
  cacheDir: string
  /** Base URL serving `/{repo}/resolve/{revision}/{path}`, e.g. a mirror. */
  endpoint: string
  /** Bearer token for gated repositories. Never logged. */
  token?: string | undefined
  onProgress?: ProgressListener | undefined
  /** Attempts per file; each resumes from the bytes already on disk. */
  attempts?: number
}

/** Where a pinned hub model lives in the cache. */
export function hubModelFolder(cacheDir: string, model: KnownModel): string {
  return join(cacheDir, 'hub', model.hub.repo.replace('/', '--'), model.hub.revision)
}

/**
 * Makes sure every file of a pinned hub model is in the cache and returns its folder.
 * Each file is streamed to `<name>.part` (resumed with a Range request after an
 * interruption), checked against its size and sha256 when known, then renamed into place,
 * so a file under its real name is always complete.
 */
export async function ensureHubModel(model: KnownModel, options: HubDownloadOptions): Promise<string> {
  const folder = hubModelFolder(options.cacheDir, model)
  for (const file of model.hub.files) {
    const target = join(folder, file.path)
    if (await isComplete(target, file)) continue
    await mkdir(dirname(target), { recursive: true })
    await downloadFile(model, file, target, options)
  }
  return folder
}

async function isComplete(path: string, file: HubFile): Promise<boolean> {
  try {
    const info = await stat(path)
    return file.size === undefined || info.size === file.size
  } catch {
    return false
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size
  } catch {
    return 0
  }
}

async function downloadFile(model: KnownModel, file: HubFile, target: string, options: HubDownloadOptions): Promise<void> {
  const { repo, revision } = model.hub
  const url = `${options.endpoint.replace(/\/+$/, '')}/${repo}/resolve/${revision}/${file.path}`
  const part = `${target}.part`
  const attempts = options.attempts ?? 3
  for (let attempt = 1; ; attempt++) {
    try {
      await fetchInto(url, part, file, options)
      break
    } catch (error) {
      const retryable = !(error instanceof EmbeddingError) || error.code === EmbeddingErrorCode.DownloadFailed
      if (!retryable || attempt >= attempts) throw toDownloadError(error, url, model)
    }
  }
  await verify(part, file, url)
  await rename(part, target)
}

async function fetchInto(url: string, part: string, file: HubFile, options: HubDownloadOptions): Promise<void> {
  const offset = await fileSize(part)
  const headers: Record<string, string> = {}
  if (offset > 0) headers['range'] = `bytes=${offset}-`
  if (options.token) headers['authorization'] = `Bearer ${options.token}`
  const response = await fetch(url, { headers, redirect: 'follow' })
  if (response.status === 416 && offset > 0) return // the .part file already holds every byte
  if (!response.ok || !response.body) {
    await response.body?.cancel()
    const hint =
      response.status === 401 || response.status === 403
        ? ' (the repository may be gated: pass hubToken)'
        : response.status === 404
          ? ' (is the revision or file name right, and does the endpoint mirror the hub?)'
          : ''
    throw new EmbeddingError(EmbeddingErrorCode.DownloadFailed, `GET ${url} answered ${response.status}${hint}`, {
      details: { url, status: response.status },
    })
  }
  const resumed = response.status === 206
  const start = resumed ? offset : 0
  const total = file.size ?? start + Number(response.headers.get('content-length') ?? 0)
  let done = start
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>)
  body.on('data', (chunk: Buffer) => {
    done += chunk.length
    options.onProgress?.({ task: `downloading ${file.path}`, done, total: Math.max(total, done), unit: 'bytes' })
  })
  // Not pipeline(): on a broken connection it destroys the file stream and drops buffered
  // chunks. Ending the stream instead keeps every received byte for the Range resume.
  const out = createWriteStream(part, { flags: resumed ? 'a' : 'w' })
  try {
    for await (const chunk of body) if (!out.write(chunk)) await once(out, 'drain')
  } finally {
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())))
  }
}

async function verify(part: string, file: HubFile, url: string): Promise<void> {
  const size = await fileSize(part)
  const sha256 = file.sha256 ? await hashFile(part) : undefined
  if ((file.size !== undefined && size !== file.size) || (file.sha256 && sha256 !== file.sha256)) {
    await rm(part, { force: true })
    throw new EmbeddingError(
      EmbeddingErrorCode.ChecksumMismatch,
      `downloaded ${file.path} does not match its pinned size or sha256; it was deleted, try again`,
      {
        details: { url, expectedSha256: file.sha256, actualSha256: sha256, expectedSize: file.size, actualSize: size },
      },
    )
  }
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), hash)
  return hash.digest('hex')
}

function toDownloadError(error: unknown, url: string, model: KnownModel): EmbeddingError {
  if (error instanceof EmbeddingError) return error
  return new EmbeddingError(
    EmbeddingErrorCode.DownloadFailed,
    `cannot download ${model.hub.repo} (${url}): ${(error as Error).message}. ` +
      'If this machine is offline: point hubEndpoint / HF_ENDPOINT at a reachable mirror, download the files elsewhere ' +
      "and pass modelPath (the server's --model-path / --reranker-path), or, for embeddings, use the offline default model (no model).",
    { cause: error, details: { url } },
  )
}
