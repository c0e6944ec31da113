import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { connect } from '@lancedb/lancedb'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { type CephRgwService, type PostgresService, startCephRgw, startPostgres } from '../src/index.js'

/** pgrep's pids (exit status 1 is "none"). */
function pgrep(...args: string[]): number[] {
  try {
    return execFileSync('pgrep', args, { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Running and not a zombie (a killed backend lingers as one until init reaps it). */
function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')
  } catch {
    return false
  }
}

async function eventually(check: () => boolean, ms = 10_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) if (check()) return true
  return check()
}

describe('test services', () => {
  let postgres: PostgresService | undefined
  let ceph: CephRgwService | undefined
  afterAll(async () => {
    await Promise.all([postgres?.stop(), ceph?.stop()])
  })

  it('start PostgreSQL and Ceph RGW', async () => {
    const t0 = performance.now()
    const pgStarted = startPostgres().then((service) => {
      console.log(`postgres up in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      return service
    })
    const cephStarted = startCephRgw().then((service) => {
      console.log(`ceph rgw up in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
      return service
    })
    ;[postgres, ceph] = await Promise.all([pgStarted, cephStarted])
    expect(postgres.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/)
    expect(ceph.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('PostgreSQL: durable settings, a table, and a client that reconnects after a restart and a crash', async () => {
    if (!postgres) throw new Error('postgres did not start')
    const url = await postgres.createDatabase('agentmem_test')
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    pool.on('error', () => {}) // idle clients die with the server on restart; the pool replaces them
    try {
      const { rows: settings } = await pool.query("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit') ORDER BY name")
      expect(settings).toEqual([
        { name: 'fsync', setting: 'on' },
        { name: 'synchronous_commit', setting: 'on' },
      ])
      await pool.query('CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)')
      await pool.query('INSERT INTO notes (body) VALUES ($1), ($2)', ['one', 'two'])

      await postgres.restart()
      await pool.query('INSERT INTO notes (body) VALUES ($1)', ['after restart'])

      await postgres.kill()
      await expect(pool.query('SELECT 1')).rejects.toThrow()
      await postgres.start()
      const { rows } = await pool.query('SELECT body FROM notes ORDER BY id')
      expect(rows.map((row) => row.body)).toEqual(['one', 'two', 'after restart'])
    } finally {
      await pool.end()
    }
  })

  it('LanceDB on s3://bucket/prefix: create, add, search, reopen', async () => {
    if (!ceph) throw new Error('ceph did not start')
    const bucket = await ceph.createBucket('agentmem-test')
    expect(await ceph.createBucket('agentmem-test')).toBe(bucket) // idempotent
    const uri = `${bucket}/stores/one`
    const rows = Array.from({ length: 100 }, (_, i) => ({ id: i, text: `memory ${i}`, vector: [Math.cos(i), Math.sin(i), i / 100] }))

    const db = await connect(uri, { storageOptions: ceph.storageOptions() })
    const table = await db.createTable('memories', rows)
    await table.add([{ id: 100, text: 'the newest', vector: [1, 0, 1] }])
    const [hit] = await table.search([1, 0, 1]).limit(1).toArray()
    expect(hit.text).toBe('the newest')
    table.close()
    db.close()

    const reopened = await connect(uri, { storageOptions: ceph.storageOptions() })
    expect(await reopened.tableNames()).toEqual(['memories'])
    const again = await reopened.openTable('memories')
    expect(await again.countRows()).toBe(101)
    expect(await again.countRows('id < 10')).toBe(10)
    reopened.close()
  })

  it('stop() leaves no daemon and no folder behind', async () => {
    if (!postgres || !ceph) throw new Error('services did not start')
    const dirs = [postgres.dir, ceph.dir]
    const pids = daemonPids(postgres.dir, ceph.dir)
    await Promise.all([postgres.stop(), ceph.stop()])
    ;[postgres, ceph] = [undefined, undefined]
    expect(await eventually(() => !pids.some(alive))).toBe(true)
    expect(dirs.filter(existsSync)).toEqual([])
  })

  it('a test process killed with SIGKILL leaves no daemon and no folder behind', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'start-and-hang.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string]
    const { pgDir, cephDir } = JSON.parse(line) as { pgDir: string; cephDir: string }
    const pids = daemonPids(pgDir, cephDir)
    child.kill('SIGKILL')
    expect(await eventually(() => !pids.some(alive))).toBe(true)
    expect(await eventually(() => !existsSync(pgDir) && !existsSync(cephDir))).toBe(true)
  })
})

/** The live daemons of a Postgres and a Ceph started in these folders, checked to be all there. */
function daemonPids(pgDir: string, cephDir: string): number[] {
  const postmaster = Number(readFileSync(join(pgDir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0])
  const postgresPids = [postmaster, ...pgrep('-P', String(postmaster))].filter(alive)
  const cephPids = pgrep('-f', '--', `-c ${cephDir}/ceph.conf`).filter(alive)
  expect(postgresPids.length).toBeGreaterThan(3) // postmaster, checkpointer, walwriter, …
  expect(cephPids).toHaveLength(3) // mon, osd, radosgw
  return [...postgresPids, ...cephPids]
}
