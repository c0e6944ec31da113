import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { keysCreateCommand, type ServerConfig } from '../config.js'
import { dataPaths } from '../data-paths.js'
import { ServerError, ServerErrorCode } from '../errors.js'
import { checkNewTenant } from '../keys/cached-key-store.js'
import { type KeyStore, openKeyStore, toKeyJson } from '../keys/key-store.js'

/**
 * The server's key store: the data folder's, or PostgreSQL's with `metadataUrl` (a running server
 * sees changes within 100 ms). A command that only reads or revokes needs one already there, so a
 * mistyped --data is an error, not a new empty folder; one that creates a key says where it starts one.
 */
async function withKeys<T>(config: ServerConfig, run: (keys: KeyStore) => Promise<T>, { creates = false } = {}): Promise<T> {
  const file = dataPaths(config.data).keys
  if (config.metadataUrl === undefined && !existsSync(file)) {
    if (!creates) throw new Error(`there are no keys in ${resolve(config.data)} (no ${file}); check --data`)
    process.stderr.write(`agentmem: creating a new key store in ${resolve(config.data)}\n`)
  }
  try {
    const keys = await openKeyStore(config)
    try {
      return await run(keys)
    } finally {
      await keys.close()
    }
  } catch (e) {
    // An operator reads this: the database's own reason (never its URL) says more than "retry".
    if (e instanceof ServerError && e.code === ServerErrorCode.KeysUnavailable && e.cause instanceof Error) e.message += ` (${e.cause.message})`
    throw e
  }
}

/** Prints only the key on stdout, so scripts can capture it; the rest goes to stderr. */
export async function keysCreate(config: ServerConfig, o: { tenant: string; name?: string; admin?: boolean }): Promise<void> {
  // Before a key store is started for it: a refused tenant leaves no empty one behind.
  checkNewTenant(o.tenant)
  return await withKeys(
    config,
    async (keys) => {
      const first = !(await keys.authRequired())
      const { key, info } = await keys.create({ tenantId: o.tenant, role: o.admin ? 'admin' : 'tenant', ...(o.name !== undefined && { name: o.name }) })
      process.stdout.write(`${key}\n`)
      process.stderr.write(`created ${info.role} key ${info.id} for tenant ${info.tenantId}; it is not shown again\n`)
      // Before the first key, loopback clients act as tenant `default`: their memories would look lost behind a key for another tenant.
      if (first && info.tenantId !== 'default' && existsSync(dataPaths(config.data).memory)) {
        process.stderr.write(
          `note: memories stored before this first key belong to tenant default, which this key does not see; to reach them, create a key for it too: ${keysCreateCommand(config, 'default')}\n`,
        )
      }
    },
    { creates: true },
  )
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
    if ((await keys.activeCount()) === 0)
      process.stderr.write(`note: no active key is left: every request is refused until you create one: ${keysCreateCommand(config)}\n`)
  })
}
