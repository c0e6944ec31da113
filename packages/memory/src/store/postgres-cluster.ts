import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { storeUnavailable } from '../errors.js'
import { postgresFailed } from './postgres-metadata-store.js'

const leaderLock = `hashtext('agentmem:leader')`
const channel = 'agentmem_applied'
const reconnectMs = 1_000

export interface ClusterListener {
  /** The leader applied a change to the vector store: its notice (see replica-notice.ts), or undefined if unreadable. */
  applied(notice: unknown): void
  /** The connection that holds the leader lock and hears applies was lost: this process leads no more, and may have missed applies. */
  lost(): void
  /** Listening again after a loss. */
  reconnected(): void
}

/**
 * Replicas of one store on PostgreSQL: one leader writes (it holds a session advisory lock and a
 * new epoch that fences journal commits of any earlier leader), the others follow. The leader
 * publishes each apply with NOTIFY; followers LISTEN, so they re-read the vector store and drop
 * what they hold of the changed scopes within milliseconds. Both the lock and the LISTEN live on
 * one dedicated connection: losing it loses both, which is what `lost` reports.
 */
export class PostgresCluster {
  private client: pg.Client | undefined
  private listener: ClusterListener | undefined
  private closed = false
  private queries: Promise<unknown> = Promise.resolve()
  /** The epoch this process leads in; undefined while it follows. */
  epoch: number | undefined
  /** Authenticates calls followers forward to the leader. */
  secret = ''

  private constructor(private readonly url: string) {}

  /** Connects; call after the metadata store has migrated the database. */
  static async open(url: string): Promise<PostgresCluster> {
    const cluster = new PostgresCluster(url)
    await cluster.connect()
    const fresh = randomBytes(32).toString('base64url')
    await cluster.query('INSERT INTO cluster (id, epoch, secret, updated_at) VALUES (1, 0, $1, $2) ON CONFLICT (id) DO NOTHING', [fresh, Date.now()])
    const { rows } = await cluster.query<{ secret: string }>('SELECT secret FROM cluster WHERE id = 1')
    cluster.secret = rows[0]?.secret ?? fresh
    return cluster
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url })
    client.on('error', () => this.drop(client))
    client.on('end', () => this.drop(client))
    client.on('notification', (message) => {
      if (message.channel !== channel || !message.payload) return
      let notice: unknown
      try {
        notice = JSON.parse(message.payload)
      } catch {
        // Unreadable: the listener treats it as "anything may have changed".
      }
      this.listener?.applied(notice)
    })
    await client.connect()
    this.client = client
    this.queries = Promise.resolve() // not behind queries the lost connection never answers
    if (this.listener) await this.query(`LISTEN ${channel}`)
  }

  /**
   * Runs a query on the dedicated connection, after the ones sent before it: one client runs one
   * query at a time (pg deprecates queueing them implicitly). Failures are typed like the
   * metadata store's: a connection PostgreSQL terminates mid-query (a restart) is a 503 to a
   * forwarded write, never a raw driver error (a 500).
   */
  private query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    const client = this.client
    if (!client) return Promise.reject(storeUnavailable('PostgreSQL (the replicas connection) is unreachable'))
    const run = this.queries
      .then(() => client.query<R>(text, values))
      .catch((e: unknown) => {
        throw postgresFailed('a replicas query', e)
      })
    this.queries = run.catch(() => {})
    return run
  }

  /** The connection died: the lock and the LISTEN are gone. Reconnect in the background. */
  private drop(client: pg.Client): void {
    if (this.client !== client) return
    this.client = undefined
    this.epoch = undefined
    client.end().catch(() => {})
    if (this.closed) return
    this.listener?.lost()
    const retry = () => {
      if (this.closed) return
      this.connect().then(
        () => this.listener?.reconnected(),
        () => setTimeout(retry, reconnectMs).unref(),
      )
    }
    setTimeout(retry, reconnectMs).unref()
  }

  /** Runs `task` while no other process of the store runs one (opening: creating the table and its indexes must not race). */
  async exclusively<T>(task: () => Promise<T>): Promise<T> {
    await this.query(`SELECT pg_advisory_lock(hashtext('agentmem:open'))`)
    try {
      return await task()
    } finally {
      await this.query(`SELECT pg_advisory_unlock(hashtext('agentmem:open'))`).catch(() => {})
    }
  }

  /** Takes the lead if no live process holds it; on success starts a new epoch, which fences the previous leader's commits. */
  async tryLead(address: string | undefined): Promise<boolean> {
    const { rows } = await this.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(${leaderLock}) AS locked`)
    if (!rows[0]?.locked) return false
    const updated = await this.query<{ epoch: string }>(
      'UPDATE cluster SET epoch = epoch + 1, leader_address = $1, updated_at = $2 WHERE id = 1 RETURNING epoch',
      [address ?? null, Date.now()],
    )
    this.epoch = Number(updated.rows[0]?.epoch)
    return true
  }

  /** Gives up the lead (a takeover that failed), so that another process can take it. */
  async resign(): Promise<void> {
    if (this.epoch === undefined) return
    this.epoch = undefined
    await this.query(`SELECT pg_advisory_unlock(${leaderLock})`).catch(() => {})
  }

  /** Where followers forward writes; the leader sets it once it listens. */
  async setAddress(address: string): Promise<void> {
    if (this.epoch === undefined) return
    await this.query('UPDATE cluster SET leader_address = $1, updated_at = $2 WHERE id = 1 AND epoch = $3', [address, Date.now(), this.epoch])
  }

  async leaderAddress(): Promise<string | undefined> {
    const { rows } = await this.query<{ leader_address: string | null }>('SELECT leader_address FROM cluster WHERE id = 1')
    return rows[0]?.leader_address ?? undefined
  }

  /** Starts hearing applies (followers). */
  async listen(listener: ClusterListener): Promise<void> {
    this.listener = listener
    await this.query(`LISTEN ${channel}`)
  }

  /**
   * Tells followers what changed (leader); resolves whether PostgreSQL took the notice. Never
   * throws: a follower that misses one is bounded by its own checks.
   */
  async publish(notice: string): Promise<boolean> {
    if (this.epoch === undefined || !this.client) return false
    return this.query('SELECT pg_notify($1, $2)', [channel, notice]).then(
      () => true,
      () => false,
    )
  }

  async close(): Promise<void> {
    this.closed = true
    const client = this.client
    this.client = undefined
    this.epoch = undefined
    await client?.end().catch(() => {})
  }
}
