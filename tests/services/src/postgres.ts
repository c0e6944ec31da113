import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort, runScript, serviceDir, teardownOnExit } from './daemons.js'

const psql = '/usr/lib/postgresql/15/bin/psql'

export interface PostgresOptions {
  /** Data folder, kept after stop(). Default: a temp folder that stop() removes. */
  dir?: string
}

export interface PostgresService {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` (trust auth: no password). */
  readonly url: string
  readonly port: number
  readonly dir: string
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>
  /** Fast shutdown; the data and the port are kept for start(). */
  shutdown(): Promise<void>
  /** Starts again on the same data folder and port (after shutdown() or kill()). */
  start(): Promise<void>
  /** shutdown() then start(): clients see their connections dropped, then the same server back. */
  restart(): Promise<void>
  /** SIGKILL the postmaster and its backends (a crash); start() then runs crash recovery. */
  kill(): Promise<void>
  /** Stops the server for good and removes a temp data folder. */
  stop(): Promise<void>
}

/**
 * A PostgreSQL 15 cluster on 127.0.0.1 and a free port, run as user `postgres` (initdb + pg_ctl),
 * with fsync and synchronous_commit on. Resolves once it accepts connections.
 */
export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresService> {
  const { dir, temporary } = await serviceDir('postgres', options.dir)
  const teardown = teardownOnExit('postgres.sh', temporary ? 'destroy' : 'stop', dir)
  // A kept data folder already has its port in postgresql.conf; a new one gets a free port.
  const port = (await configuredPort(dir)) ?? (await freePort())
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`
  const start = () => runScript('postgres.sh', ['start', dir, String(port)], 90_000)
  const shutdown = () => runScript('postgres.sh', ['stop', dir], 90_000)
  try {
    await start()
  } catch (error) {
    await teardown.release()
    throw error
  }
  return {
    url,
    port,
    dir,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name must be lower-case snake_case: ${name}`)
      await promisify(execFile)(psql, ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${name}`])
      return `postgres://postgres@127.0.0.1:${port}/${name}`
    },
    shutdown,
    start,
    async restart() {
      await shutdown()
      await start()
    },
    kill: () => runScript('postgres.sh', ['kill', dir], 30_000),
    stop: () => teardown.release(),
  }
}

async function configuredPort(dir: string): Promise<number | undefined> {
  const conf = await readFile(join(dir, 'data', 'postgresql.conf'), 'utf8').catch(() => '')
  const match = /^port = (\d+)$/m.exec(conf)
  return match ? Number(match[1]) : undefined
}
