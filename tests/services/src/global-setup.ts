import type { TestProject } from 'vitest/node'
import { startCephRgw } from './ceph-rgw.js'
import { startPostgres } from './postgres.js'

/** What the global setup provides to tests: `inject('services')`. */
export interface ServicesContext {
  postgres: { url: string; port: number }
  s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; storageOptions: Record<string, string> }
}

declare module 'vitest' {
  interface ProvidedContext {
    services: ServicesContext
  }
}

/**
 * Vitest globalSetup: one PostgreSQL and one Ceph RGW for the whole run (Ceph's start is the cost),
 * stopped after the last file. Tests make their own databases and buckets on them.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [pgResult, cephResult] = await Promise.allSettled([startPostgres(), startCephRgw()])
  if (pgResult.status === 'rejected' || cephResult.status === 'rejected') {
    // Stop the one that did start rather than leave it to the exit hook.
    await Promise.all([pgResult.status === 'fulfilled' && pgResult.value.stop(), cephResult.status === 'fulfilled' && cephResult.value.stop()])
    throw pgResult.status === 'rejected' ? pgResult.reason : (cephResult as PromiseRejectedResult).reason
  }
  const [postgres, ceph] = [pgResult.value, cephResult.value]
  const { endpoint, region, accessKeyId, secretAccessKey } = ceph
  project.provide('services', {
    postgres: { url: postgres.url, port: postgres.port },
    s3: { endpoint, region, accessKeyId, secretAccessKey, storageOptions: ceph.storageOptions() },
  })
  return async () => {
    await Promise.all([postgres.stop(), ceph.stop()])
  }
}
