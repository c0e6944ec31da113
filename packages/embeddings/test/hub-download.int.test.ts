import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, readFile, stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEmbedder, EmbeddingErrorCode, type KnownModel, knownModels } from '../src/index.js'
import { ensureHubModel } from '../src/models/hub-download.js'
import { tempDir, writeTinyBert } from './helpers/fixtures.js'

/** Serves a model folder the way the hub does: GET /{repo}/resolve/{revision}/{path}, with Range. */
class FakeHub {
  readonly requests: { path: string; range: string | undefined; auth: string | undefined }[] = []
  /** Paths whose next response is cut off after this many bytes (a dropped connection). */
  readonly cutAfter = new Map<string, number>()
  server!: Server

  constructor(readonly files: Record<string, string>) {}

  async start(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const range = req.headers.range
      this.requests.push({ path: req.url ?? '', range, auth: req.headers.authorization })
      const match = /^\/(.+?\/.+?)\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? '')
      const local = match && this.files[`${match[1]}@${match[2]}/${match[3]}`]
      if (!local) {
        res.writeHead(404).end('Entry not found')
        return
      }
      const size = (await stat(local)).size
      const start = range ? Number(/bytes=(\d+)-/.exec(range)?.[1]) : 0
      res.writeHead(range ? 206 : 200, { 'content-length': size - start, 'accept-ranges': 'bytes' })
      const cut = this.cutAfter.get(req.url ?? '')
      if (cut !== undefined) {
        this.cutAfter.delete(req.url ?? '')
        const stream = createReadStream(local, { start, end: start + cut - 1 })
        stream.pipe(res, { end: false })
        stream.on('end', () => res.destroy())
        return
      }
      createReadStream(local, { start }).pipe(res)
    })
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }
}

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex')

let dir: Awaited<ReturnType<typeof tempDir>>
let source: string
let hub: FakeHub
let endpoint: string
const bge = knownModels['bge-small-en-v1.5'] as KnownModel

beforeAll(async () => {
  dir = await tempDir('hub')
  source = await writeTinyBert(join(dir.path, 'source'), 'cls')
  const files: Record<string, string> = {}
  for (const path of ['config.json', 'tokenizer.json', 'onnx/model.onnx']) {
    files[`${bge.hub.repo}@${bge.hub.revision}/${path}`] = join(source, path)
    files[`test/tiny@abc123/${path}`] = join(source, path)
  }
  hub = new FakeHub(files)
  endpoint = await hub.start()
})
afterAll(async () => {
  hub.server.close()
  await dir[Symbol.asyncDispose]()
})

describe('hub download', () => {
  it('downloads a known model at its pinned revision, caches it, then runs it', async () => {
    await using cache = await tempDir('hub-cache')
    const options = { model: 'bge-small-en-v1.5', hubEndpoint: endpoint, cacheDir: cache.path, progress: false, spec: { dimensions: 32 } }
    await using embedder = await createEmbedder(options)
    expect(embedder.modelId).toBe('bge-small-en-v1.5')
    const [vector] = await embedder.embed(['hello'], { kind: 'query' })
    expect(vector).toHaveLength(32)
    expect(hub.requests.map((r) => r.path)).toContain(`/${bge.hub.repo}/resolve/${bge.hub.revision}/onnx/model.onnx`)

    const before = hub.requests.length
    await using again = await createEmbedder(options)
    expect(again.dimensions).toBe(32)
    expect(hub.requests.length).toBe(before) // served from the cache
  })

  it('resumes an interrupted download with a Range request and verifies sha256', async () => {
    await using cache = await tempDir('hub-resume')
    const model: KnownModel = {
      spec: { id: 'tiny', dimensions: 32, maxLength: 128, pooling: 'cls' },
      hub: {
        repo: 'test/tiny',
        revision: 'abc123',
        files: [{ path: 'onnx/model.onnx', sha256: await sha256(join(source, 'onnx/model.onnx')), size: (await stat(join(source, 'onnx/model.onnx'))).size }],
      },
    }
    hub.cutAfter.set('/test/tiny/resolve/abc123/onnx/model.onnx', 100_000)
    const progress: number[] = []
    const folder = await ensureHubModel(model, { cacheDir: cache.path, endpoint, token: 'secret-token', onProgress: (e) => progress.push(e.done) })
    const tries = hub.requests.filter((r) => r.path === '/test/tiny/resolve/abc123/onnx/model.onnx')
    // The second request resumes from whatever reached the disk before the cut.
    expect(tries).toHaveLength(2)
    expect(tries[0]?.range).toBeUndefined()
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(tries[1]?.range ?? '')?.[1])
    expect(resumedAt).toBeGreaterThan(0)
    expect(resumedAt).toBeLessThanOrEqual(100_000)
    expect(tries.every((r) => r.auth === 'Bearer secret-token')).toBe(true)
    expect(await sha256(join(folder, 'onnx/model.onnx'))).toBe(model.hub.files[0]?.sha256)
    expect(await readdir(join(folder, 'onnx'))).toEqual(['model.onnx']) // no .part left
    expect(progress.at(-1)).toBe(model.hub.files[0]?.size)
  })

  it('deletes a download whose sha256 does not match and reports CHECKSUM_MISMATCH', async () => {
    await using cache = await tempDir('hub-sha')
    const model: KnownModel = {
      spec: { id: 'tiny', dimensions: 32, maxLength: 128, pooling: 'cls' },
      hub: { repo: 'test/tiny', revision: 'abc123', files: [{ path: 'config.json', sha256: '0'.repeat(64) }] },
    }
    await expect(ensureHubModel(model, { cacheDir: cache.path, endpoint })).rejects.toMatchObject({ code: EmbeddingErrorCode.ChecksumMismatch })
    const folder = join(cache.path, 'hub', 'test--tiny', 'abc123')
    expect(await readdir(folder)).toEqual([])
  })

  it('answers a missing file with DOWNLOAD_FAILED naming the status', async () => {
    await using cache = await tempDir('hub-404')
    const model: KnownModel = {
      spec: { id: 'x', dimensions: 32, maxLength: 8, pooling: 'cls' },
      hub: { repo: 'test/none', revision: 'abc', files: [{ path: 'config.json' }] },
    }
    await expect(ensureHubModel(model, { cacheDir: cache.path, endpoint })).rejects.toMatchObject({
      code: EmbeddingErrorCode.DownloadFailed,
      message: expect.stringContaining('404'),
    })
  })

  it('explains how to fix it when the hub cannot be reached', async () => {
    await using cache = await tempDir('hub-offline')
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    closed.close()
    const attempt = createEmbedder({ model: 'all-MiniLM-L6-v2', hubEndpoint: `http://127.0.0.1:${port}`, cacheDir: cache.path, progress: false })
    await expect(attempt).rejects.toMatchObject({
      code: EmbeddingErrorCode.DownloadFailed,
      message: expect.stringMatching(/modelPath.*offline default model/s),
    })
  })
})
