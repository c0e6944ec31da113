import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { lockFolder } from './folder-lock.js'
import { checkLanceEnvironment, openLanceProvider } from './lancedb-vector-store.js'
import type { PostgresCluster } from './postgres-cluster.js'
import { openSqliteMetadataStore } from './sqlite-metadata-store.js'
import type { MetadataStore, VectorStoreProvider } from './types.js'

export interface StoreLocation {
  /** The local folder: SQLite, the LanceDB tables and the lock, unless the URLs below move them. */
  path: string
  /** `postgres://…`: metadata in PostgreSQL instead of `path/metadata.db`. */
  metadataUrl?: string | undefined
  /** `s3://bucket/prefix` (or another LanceDB URI): memories there instead of `path/vectors`. */
  vectorsUrl?: string | undefined
  /** LanceDB storage options for `vectorsUrl` (endpoint, region, keys, allow_http); AWS_* variables are read too. */
  storageOptions?: Record<string, string> | undefined
}

export interface OpenedStores {
  metadata: MetadataStore
  provider: VectorStoreProvider
  /** With PostgreSQL: who leads the processes sharing the store (see postgres-cluster.ts). */
  cluster: PostgresCluster | undefined
  /** Closes the metadata store and gives up ownership (the folder lock, or the lead with the cluster connection). */
  close(): Promise<void>
}

/**
 * The one place that maps a store's location to implementations. With SQLite one process owns the
 * store (the folder lock); with PostgreSQL several may share it, one leading (see Memory.open).
 */
export async function openStores(location: StoreLocation): Promise<OpenedStores> {
  checkLanceEnvironment()
  mkdirSync(location.path, { recursive: true })
  const unlock = location.metadataUrl ? () => {} : lockFolder(join(location.path, 'LOCK'))
  let metadata: MetadataStore | undefined
  let cluster: PostgresCluster | undefined
  try {
    if (location.metadataUrl) {
      // Loaded only for stores on PostgreSQL: the embedded default never loads the driver.
      const [{ openPostgresMetadataStore }, { PostgresCluster }] = await Promise.all([import('./postgres-metadata-store.js'), import('./postgres-cluster.js')])
      metadata = await openPostgresMetadataStore(location.metadataUrl, { fence: () => cluster?.epoch })
      cluster = await PostgresCluster.open(location.metadataUrl)
    } else {
      metadata = await openSqliteMetadataStore(join(location.path, 'metadata.db'))
    }
    const provider = await openLanceProvider(location.vectorsUrl ?? join(location.path, 'vectors'), location.storageOptions)
    const opened = metadata
    const joined = cluster
    return {
      metadata,
      provider,
      cluster,
      async close() {
        try {
          await opened.close()
        } finally {
          await joined?.close()
          unlock()
        }
      },
    }
  } catch (e) {
    await metadata?.close().catch(() => {})
    await cluster?.close()
    unlock()
    throw e
  }
}
