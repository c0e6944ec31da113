import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe } from 'vitest'
import { KeyStore } from '../src/keys/key-store.js'
import { runKeyStoreContract } from './helpers/key-store-contract.js'

// The SQLite key store (the embedded default); keys-postgres.int.test.ts runs the same contract on PostgreSQL.

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentmem-keys-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('SQLite key store', () => {
  runKeyStoreContract((options) => KeyStore.open(join(dir, 'keys.db'), options))
})
