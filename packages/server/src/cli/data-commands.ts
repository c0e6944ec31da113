import { createHash } from 'node:crypto'
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { createEmbedder } from '@agentmem/embeddings'
import { type ImportItem, importItemSchema, Memory } from '@agentmem/memory'
import { SingleBar } from 'cli-progress'
import { z } from 'zod'
import type { ServerConfig } from '../config.js'
import { toAddResponseJson, toMemoryJson, toSearchHitJson } from '../http/schemas.js'
import { memoryOptions, storeLocation } from '../store-options.js'
import { lazyEmbedder } from './lazy-embedder.js'
import { type ListFlags, print, printPages, type ScopeFlags, type SearchFlags } from './output.js'

type StoreScope = ScopeFlags & { tenant: string }

/** The largest `import --batch`. */
const maxImportBatch = 10_000

/**
 * Opens the store directly (the server must not be running on the same folder: the store is locked
 * to one process), with the server's settings but two: a batch may be as large as `import --batch`
 * allows, and the LLM is there only for a command that infers (`infer`: with it, opening the store
 * also resumes queued inference jobs, which a one-shot command would start and abort). The model
 * starts only if the command embeds something.
 */
export async function withMemory<T>(
  config: ServerConfig,
  tenant: string,
  run: (memory: Memory) => Promise<T>,
  { existing = false, infer = false }: { existing?: boolean; infer?: boolean } = {},
): Promise<T> {
  const location = storeLocation(config)
  // A command that only reads must not create a store where a mistyped --data points: the local
  // folder holds the metadata (SQLite) or the vectors unless both live elsewhere (PostgreSQL and
  // object storage, not checked here).
  const local = !(location.metadataUrl && location.vectorsUrl)
  if (existing && local && !existsSync(location.path as string)) {
    throw new Error(`there is no store in ${config.data} (no ${location.path}); check --data`)
  }
  // A command that writes creates the store on first use, and says where: a mistyped --data (in a
  // desktop client's MCP config, say) wrote to a new folder without a word.
  if (local && !existsSync(location.path as string)) process.stderr.write(`agentmem: creating a new store in ${resolve(config.data)}\n`)
  const embedder = await lazyEmbedder({
    ...(config.model !== undefined && { model: config.model }),
    ...(config.modelPath !== undefined && { modelPath: config.modelPath }),
    ...(config.embeddingWorkers !== undefined && { workers: config.embeddingWorkers }),
  })
  try {
    const { llm, ...options } = memoryOptions(config)
    const memory = await Memory.open({
      ...location,
      embedder,
      tenantId: tenant,
      ...options,
      maxBatchItems: Math.max(config.maxBatchItems, maxImportBatch),
      ...(infer && llm && { llm }),
    })
    try {
      return await run(memory)
    } finally {
      await memory.close()
    }
  } finally {
    await embedder.close()
  }
}

const scope = (o: ScopeFlags) => ({
  ...(o.user !== undefined && { userId: o.user }),
  ...(o.agent !== undefined && { agentId: o.agent }),
  ...(o.run !== undefined && { runId: o.run }),
})

const bar = (unit: string) =>
  new SingleBar({
    format: `{bar} {percentage}% | {value}/{total} ${unit} | {eta_formatted} left`,
    stream: process.stderr,
    hideCursor: true,
    noTTYOutput: false,
  })

/** Prints what `POST /v1/memories` would answer. */
export async function addCommand(config: ServerConfig, text: string, o: StoreScope & { metadata?: Record<string, unknown> }) {
  await withMemory(config, o.tenant, async (memory) => {
    const result = await memory.add(text, { ...scope(o), ...(o.metadata && { metadata: o.metadata }) })
    print(toAddResponseJson(result))
  })
}

/** Prints the hits `POST /v1/memories/search` would answer, one per line, best first. */
export async function searchCommand(config: ServerConfig, query: string, o: StoreScope & SearchFlags) {
  await withMemory(
    config,
    o.tenant,
    async (memory) => {
      const { results } = await memory.search(query, { ...scope(o), topK: o.topK, mode: o.mode, ...(o.filters && { filters: o.filters }), explain: true })
      for (const hit of results) print(toSearchHitJson(hit))
    },
    { existing: true },
  )
}

/** Prints a scope as `GET /v1/memories` lists it, oldest first. */
export async function listCommand(config: ServerConfig, o: StoreScope & ListFlags) {
  await withMemory(
    config,
    o.tenant,
    (memory) =>
      printPages(o.limit, async (size, cursor) => {
        const page = await memory.getAll({ ...scope(o), limit: size, ...(o.filters && { filters: o.filters }), ...(cursor !== undefined && { cursor }) })
        return { results: page.results.map(toMemoryJson), next: page.nextCursor }
      }),
    { existing: true },
  )
}

/**
 * Where an export file resumes: the id on its last complete line, and the length to cut it to when
 * its last line is torn (a crash mid-write: an unterminated start of an export line). A file whose
 * last complete line is no export line, or whose unterminated tail is not the start of one, is
 * refused: resuming appended a whole export to it, or cut its last line.
 */
function resumePoint(file: string): { after: string; cutTo: number | undefined } | undefined {
  const size = statSync(file).size
  if (size === 0) return undefined
  const fd = openSync(file, 'r')
  try {
    const chunk = Buffer.alloc(Math.min(size, 1 << 20))
    readSync(fd, chunk, 0, chunk.length, size - chunk.length)
    const text = chunk.toString('utf8')
    const end = text.lastIndexOf('\n')
    const after = end < 0 ? undefined : exportLineId(text.slice(text.lastIndexOf('\n', end - 1) + 1, end))
    const tail = text.slice(end + 1)
    if (after === undefined || !(tail.startsWith('{"id":"') || '{"id":"'.startsWith(tail))) {
      throw new Error(`${file} is not an AgentMem export (its last complete line holds no memory id, or text follows it): give another --out, or remove it`)
    }
    return { after, cutTo: tail === '' ? undefined : size - Buffer.byteLength(tail) }
  } finally {
    closeSync(fd)
  }
}

function exportLineId(line: string): string | undefined {
  try {
    const id = (JSON.parse(line) as { id?: unknown } | null)?.id
    // As import checks ids (either case: a store may hold one an import kept in uppercase).
    return z.uuid().safeParse(id).success ? (id as string) : undefined
  } catch {
    return undefined
  }
}

export function exportCommand(config: ServerConfig, o: { tenant: string; out?: string }) {
  return withMemory(
    config,
    o.tenant,
    async (memory) => {
      const resume = o.out !== undefined && existsSync(o.out) ? resumePoint(o.out) : undefined
      const after = resume?.after
      // Resuming appends after the file's last id: only a file this tenant's export wrote may be resumed.
      if (after !== undefined && (await memory.history(after)).length === 0) {
        throw new Error(
          `${o.out} ends with memory ${after}, which tenant ${o.tenant} does not know (another tenant's export, or a memory purged since): give another --out`,
        )
      }
      // Only now, once the file is known to be this tenant's export, is its torn last line cut.
      if (o.out !== undefined && resume?.cutTo !== undefined) truncateSync(o.out, resume.cutTo)
      // Opened before anything is read, so an unwritable path is an error message, not a crash.
      const file = o.out === undefined ? undefined : await open(o.out, 'a')
      const progress = file === undefined ? undefined : bar('memories')
      progress?.start(0, 0)
      let written = 0
      try {
        for await (const batch of memory.exportAll(after === undefined ? {} : { after })) {
          const lines = batch.map((item) => `${JSON.stringify(toMemoryJson(item))}\n`).join('')
          if (file) await file.appendFile(lines)
          else if (!process.stdout.write(lines)) await new Promise<void>((r) => process.stdout.once('drain', () => r()))
          written += batch.length
          progress?.setTotal(written)
          progress?.update(written)
        }
      } finally {
        progress?.stop()
        await file?.close()
      }
      process.stderr.write(`exported ${written} memories${after ? ` (resumed after ${after})` : ''}\n`)
      // Nothing at all, not even on a first run: most likely a mistyped --tenant, which would pass for an empty export.
      if (written === 0 && after === undefined) {
        process.stderr.write(`note: tenant ${o.tenant} has no memories in this store (those stored without an API key are in tenant default)\n`)
      }
    },
    { existing: true },
  )
}

export function importCommand(config: ServerConfig, file: string, o: { tenant: string; batch: string }) {
  const batchSize = Number(o.batch)
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > maxImportBatch) throw new Error(`--batch must be an integer from 1 to ${maxImportBatch}`)
  // Before the store opens: a mistyped file name must not create a store.
  if (!existsSync(file)) throw new Error(`there is no file ${file}`)
  // The checkpoint lives in the data folder, keyed by file and tenant: a re-run resumes after the last written batch.
  const checkpoint = join(
    config.data,
    'server',
    'imports',
    `${createHash('sha256')
      .update(`${resolve(file)}\u0000${o.tenant}`)
      .digest('hex')
      .slice(0, 24)}.json`,
  )
  // A pipe (`<(zcat …)`, /dev/stdin) cannot be read twice nor resumed: its path names another stream each run.
  const resumable = statSync(file).isFile()
  return withMemory(config, o.tenant, async (memory) => {
    const done = resumable ? await importResumePoint(file, checkpoint) : { lines: 0, bytes: 0 }
    const progress = bar('bytes')
    progress.start(statSync(file).size, done.bytes)
    const counts = { ADD: 0, NONE: 0, differing: 0, newIds: 0, lowercased: 0, otherIds: 0 }
    let line = 0
    let bytes = 0
    const read = createHash('sha256')
    let batch: ImportItem[] = []
    /** The line of each item of the batch (blank lines are skipped). */
    let batchLines: number[] = []
    let firstLine = 0
    const flush = async () => {
      if (batch.length === 0) return
      // What the engine checks beyond a line's fields (text length, metadata keys) names the batch's lines.
      const { results, remapped } = await memory.import(batch).catch((error: unknown) => {
        if (error instanceof Error) {
          // The engine names the item it refused (`items[i]: `): that is a line of the file.
          const index = (error as { details?: { index?: unknown } }).details?.index
          const at = typeof index === 'number' ? batchLines[index] : undefined
          error.message = at === undefined ? `in lines ${firstLine}-${line}: ${error.message}` : `line ${at}: ${error.message.replace(/^items\[\d+\]: /, '')}`
        }
        throw error
      })
      for (const [i, r] of results.entries()) {
        counts[r.event === 'ADD' ? 'ADD' : 'NONE']++
        // A line's id already here is that memory, whatever the line says: kept as stored, and counted, so that it is not taken for the line.
        const item = batch[i]
        if (r.event !== 'ADD' && item?.id !== undefined && r.id === item.id.toLowerCase() && r.memory !== item.memory.trim()) counts.differing++
      }
      // Ids another tenant of this store holds cannot be kept: every new id goes to stdout, so references can follow.
      for (const { from, to, event } of remapped) {
        print({ from, to })
        counts[event !== 'ADD' ? 'otherIds' : from.toLowerCase() === to ? 'lowercased' : 'newIds']++
      }
      batch = []
      batchLines = []
      if (resumable) {
        mkdirSync(dirname(checkpoint), { recursive: true })
        writeFileSync(checkpoint, JSON.stringify({ lines: line, bytes, sha256: read.copy().digest('hex') } satisfies ImportCheckpoint))
      }
      progress.update(bytes)
    }
    for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY })) {
      line++
      bytes += Buffer.byteLength(text) + 1
      const json = lineJson(text, line)
      read.update(`${json}\n`)
      // The lines skipped must still be the ones checked a moment ago (the file may change in between).
      if (line === done.lines && done.sha256 !== undefined && read.copy().digest('hex') !== done.sha256) {
        throw new Error(`${file} changed while the import started (its first ${done.lines} lines differ from a moment ago): run it again`)
      }
      if (line <= done.lines || json.trim() === '') continue
      if (batch.length === 0) firstLine = line
      batch.push(toImportItem(json, line))
      batchLines.push(line)
      if (batch.length >= batchSize) await flush()
    }
    await flush()
    progress.stop()
    rmSync(checkpoint, { force: true })
    // A line whose text was already stored is present under that memory's id, not stored anew.
    const notes = [counts.newIds && `${counts.newIds} under new ids`, counts.lowercased && `${counts.lowercased} with their ids in lowercase`].filter(Boolean)
    const added = `${counts.ADD} new${notes.length ? ` (${notes.join(', ')})` : ''}`
    const presentNotes = [
      counts.otherIds && `${counts.otherIds} under other ids`,
      counts.differing && `${counts.differing} with another text than the file's line, kept as stored`,
    ].filter(Boolean)
    const present = `${counts.NONE} already present${presentNotes.length ? ` (${presentNotes.join('; ')})` : ''}`
    const listed = counts.newIds + counts.lowercased + counts.otherIds ? '; each changed id is on stdout as {"from","to"}' : ''
    process.stderr.write(`imported ${added}, ${present}${listed}${done.lines ? ` (resumed after line ${done.lines})` : ''}\n`)
  })
}

/** Where an interrupted import of a file stopped: its lines read, their bytes, and their sha256 (each line's JSON and a line feed; none in checkpoints of older versions). */
interface ImportCheckpoint {
  lines: number
  bytes: number
  sha256?: string
}

/**
 * The checkpoint to resume from: none, or the file's own if its first lines are still the ones
 * that import read. Another file at that path (or the same one edited) starts over, said on
 * stderr: a re-run is idempotent, where resuming skipped lines the earlier run never read.
 */
async function importResumePoint(file: string, checkpoint: string): Promise<ImportCheckpoint> {
  const start = { lines: 0, bytes: 0 }
  if (!existsSync(checkpoint)) return start
  const done = JSON.parse(readFileSync(checkpoint, 'utf8')) as ImportCheckpoint
  // Written before checkpoints held a hash: trusted, as then.
  if (done.sha256 === undefined) return done
  const read = createHash('sha256')
  let lines = 0
  const input = createReadStream(file)
  for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    read.update(`${lineJson(text, lines + 1)}\n`)
    if (++lines === done.lines) break
  }
  input.destroy()
  if (lines === done.lines && read.digest('hex') === done.sha256) return done
  process.stderr.write(`note: ${file} is not what the interrupted import read (its first ${done.lines} lines differ): importing it from the start\n`)
  return start
}

/** A line's JSON: a byte-order mark (some editors save one) is not part of the first line's, nor of what a checkpoint hashes. */
function lineJson(text: string, line: number): string {
  return line === 1 ? text.replace(/^\uFEFF/, '') : text
}

/** An export line's snake_case fields and the engine's names for them: how a line is read, and how its faults are named. */
const importFields: ReadonlyArray<readonly [string, keyof ImportItem]> = [
  ['id', 'id'],
  ['memory', 'memory'],
  ['metadata', 'metadata'],
  ['user_id', 'userId'],
  ['agent_id', 'agentId'],
  ['run_id', 'runId'],
  ['role', 'role'],
  ['created_at', 'createdAt'],
  ['updated_at', 'updatedAt'],
  ['valid_to', 'validTo'],
]

/**
 * One line of an export as the engine imports it, checked here so that a fault names the line and
 * the file's own field names (`line 3: user_id: ...`), not a batch index and the engine's names.
 * Null is absent (exports write `"agent_id": null`); a field the export does not write is refused.
 */
function toImportItem(text: string, line: number): ImportItem {
  let row: unknown
  try {
    row = JSON.parse(text)
  } catch {
    throw new Error(`line ${line} is not JSON`)
  }
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new Error(`line ${line} is not a JSON object`)
  // A misspelt field ("metdata") would otherwise import the memory without what it meant to carry.
  const unknown = Object.keys(row).find((key) => !importFields.some(([from]) => from === key))
  if (unknown !== undefined) throw new Error(`line ${line}: unknown field "${unknown}" (an export line has ${importFields.map(([from]) => from).join(', ')})`)
  const item: Record<string, unknown> = {}
  for (const [from, to] of importFields) {
    const value = (row as Record<string, unknown>)[from]
    if (value !== undefined && value !== null) item[to] = value
  }
  const parsed = importItemSchema.safeParse(item)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = importFields.find(([, to]) => to === issue?.path[0])?.[0] ?? issue?.path.join('.')
    throw new Error(`line ${line}: ${field ? `${field}: ` : ''}${issue?.message ?? 'invalid'}`)
  }
  if (item['userId'] === undefined && item['agentId'] === undefined && item['runId'] === undefined) {
    throw new Error(`line ${line}: needs at least one of user_id, agent_id or run_id`)
  }
  return item as ImportItem
}

export async function reembedCommand(config: ServerConfig, o: { model?: string; modelPath?: string }) {
  if (o.model === undefined && o.modelPath === undefined) throw new Error('give --model or --model-path for the new model')
  const next = await createEmbedder({
    ...(o.model !== undefined && { model: o.model }),
    ...(o.modelPath !== undefined && { modelPath: o.modelPath }),
    progress: true,
  })
  try {
    await withMemory(
      config,
      'default',
      async (memory) => {
        const progress = bar('memories')
        progress.start(0, 0)
        await memory.reembed(next, {
          onProgress: ({ done, total }) => {
            progress.setTotal(total)
            progress.update(done)
          },
        })
        progress.stop()
        process.stderr.write(`re-embedded with ${next.modelId}; start the server with the same model from now on\n`)
      },
      { existing: true },
    )
  } finally {
    await next.close()
  }
}
