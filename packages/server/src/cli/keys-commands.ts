import { existsSync } from 'node:fs'
import type { ServerConfig } from '../config.js'
import { dataPaths } from '../data-paths.js'
import { KeyStore, toKeyJson } from '../keys/key-store.js'

async function withKeys<T>(config: ServerConfig, run: (keys: KeyStore) => Promise<T>): Promise<T> {
  const keys = await KeyStore.open(dataPaths(config.data).keys)
  try {
    return await run(keys)
  } finally {
    keys.close()
  }
}

/** Prints only the key on stdout, so scripts can capture it; the rest goes to stderr. */
export function keysCreate(config: ServerConfig, o: { tenant: string; name?: string; admin?: boolean }): Promise<void> {
  return withKeys(config, async (keys) => {
    const first = (await keys.activeCount()) === 0
    const { key, info } = await keys.create({ tenantId: o.tenant, role: o.admin ? 'admin' : 'tenant', ...(o.name !== undefined && { name: o.name }) })
    process.stdout.write(`${key}\n`)
    process.stderr.write(`created ${info.role} key ${info.id} for tenant ${info.tenantId}; it is not shown again\n`)
    // Before the first key, loopback clients act as tenant `default`: their memories would look lost behind a key for another tenant.
    if (first && info.tenantId !== 'default' && existsSync(dataPaths(config.data).memory)) {
      process.stderr.write(
        'note: memories stored before this first key belong to tenant default, which this key does not see; to reach them, create a key for it too: agentmem keys create --tenant default\n',
      )
    }
  })
}

export function keysList(config: ServerConfig, o: { tenant?: string }): Promise<void> {
  return withKeys(config, async (keys) => {
    for (const info of await keys.list(o.tenant === undefined ? {} : { tenantId: o.tenant })) process.stdout.write(`${JSON.stringify(toKeyJson(info))}\n`)
  })
}

export function keysRevoke(config: ServerConfig, id: string): Promise<void> {
  return withKeys(config, async (keys) => {
    if (!(await keys.revoke(id))) throw new Error(`no active key ${id}`)
    process.stderr.write(`revoked ${id}\n`)
  })
}
