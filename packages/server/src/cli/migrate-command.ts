import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { type CopyProgress, copyStore } from '@agentmem/memory'
import { SingleBar } from 'cli-progress'
import { z } from 'zod'
import { type ServerConfig, serverConfigSchema } from '../config.js'
import { ServerError, ServerErrorCode } from '../errors.js'
import { copyKeys } from '../keys/copy-keys.js'
import { openKeyStore } from '../keys/key-store.js'
import { redactUrl, storeLocation } from '../store-options.js'
import { print } from './output.js'

const { metadataUrl, vectorsUrl } = serverConfigSchema.shape

/** Where to migrate to: a folder, PostgreSQL + object storage, or a mix; the folder is needed for whatever the URLs leave local. */
const targetSchema = z
  .object({ toData: z.string().min(1).optional(), toMetadataUrl: metadataUrl, toVectorsUrl: vectorsUrl })
  .refine((t) => t.toData !== undefined || (t.toMetadataUrl !== undefined && t.toVectorsUrl !== undefined), {
    message: 'give --to-data, or both --to-metadata-url and --to-vectors-url (a local target part needs --to-data)',
  })

export type MigrateFlags = z.input<typeof targetSchema> & { batch: number }

/**
 * `agentmem migrate`: copies the configured store (memories, history, jobs, manifest) and its API
 * keys to another location, resumably (see copyStore); both must not be served meanwhile.
 * Ctrl-C stops after the current batch; running the same command again continues.
 */
export async function migrateCommand(config: ServerConfig, flags: MigrateFlags): Promise<void> {
  const parsed = targetSchema.safeParse(flags)
  if (!parsed.success) throw new ServerError(ServerErrorCode.InvalidConfig, parsed.error.issues.map((i) => i.message).join('; '), { cause: parsed.error })
  const { toData, toMetadataUrl, toVectorsUrl } = parsed.data
  // The target keeps the source's object-store credentials (s3* settings, AWS_*): one set of credentials, as for serving.
  const target: ServerConfig = { ...config, data: toData ?? config.data, metadataUrl: toMetadataUrl, vectorsUrl: toVectorsUrl }
  if (describe(resolved(config)) === describe(resolved(target))) throw new Error(`the source and the target are the same store (${describe(config)})`)
  // A mistyped --data must not leave an empty store behind, in either place.
  const source = storeLocation(config)
  if (!(source.metadataUrl && source.vectorsUrl) && !existsSync(source.path as string)) {
    throw new Error(`there is no store in ${resolve(config.data)} (no ${source.path}); check --data`)
  }
  process.stderr.write(`migrating ${describe(config)} -> ${describe(target)} (no server may run on either meanwhile)\n`)

  const abort = new AbortController()
  const interrupt = () => abort.abort()
  process.once('SIGINT', interrupt)
  const progress = new Progress()
  let keys: { source: number; target: number } | undefined
  try {
    const result = await copyStore(storeLocation(config), storeLocation(target), {
      batchSize: flags.batch,
      signal: abort.signal,
      onProgress: (p) => progress.update(p),
      alongside: async () => {
        const [from, to] = [await openKeyStore(config), await openKeyStore(target)]
        try {
          keys = await copyKeys(from, to)
        } finally {
          await Promise.all([from.close(), to.close()])
        }
      },
    })
    progress.stop()
    const tables = { ...result.source, keys: keys?.source ?? 0 }
    print({ resumed: result.resumed, model: result.manifest.embeddingModel, dimensions: result.manifest.dimensions, rows: tables })
    process.stderr.write(
      `migrated and verified: ${Object.entries(tables)
        .map(([table, rows]) => `${rows} ${table}`)
        .join(', ')}; serve the target with the same settings (${describe(target)})\n`,
    )
  } catch (e) {
    progress.stop()
    if (abort.signal.aborted) throw new Error('interrupted; run the same command again to continue where it stopped')
    throw e
  } finally {
    process.off('SIGINT', interrupt)
  }
}

/** The same location with its folder as an absolute path, to tell two locations apart. */
function resolved(config: ServerConfig): ServerConfig {
  return { ...config, data: resolve(config.data) }
}

/** A store's location for messages: folder and URLs, never a password. */
function describe(config: ServerConfig): string {
  const parts = [
    ...(config.metadataUrl && config.vectorsUrl ? [] : [config.data]),
    ...(config.metadataUrl ? [redactUrl(config.metadataUrl)] : []),
    ...(config.vectorsUrl ? [config.vectorsUrl] : []),
  ]
  return parts.join(' + ')
}

/** One bar per table, as reembed shows its progress. */
class Progress {
  private bar: SingleBar | undefined
  private table: string | undefined

  update({ table, done, total }: CopyProgress): void {
    if (table !== this.table) {
      this.stop()
      this.table = table
      this.bar = new SingleBar({
        format: `${table.padEnd(8)} {bar} {percentage}% | {value}/{total} | {eta_formatted} left`,
        stream: process.stderr,
        hideCursor: true,
        noTTYOutput: false,
      })
      this.bar.start(total, done)
    }
    this.bar?.update(done)
  }

  stop(): void {
    this.bar?.stop()
    this.bar = undefined
  }
}
