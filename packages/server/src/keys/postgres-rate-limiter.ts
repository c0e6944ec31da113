import { sql } from 'drizzle-orm'
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import type pg from 'pg'
import type { RateLimit, RateLimitVerdict } from '../http/rate-limit.js'
import { openServerDatabase, unavailable } from './postgres-database.js'
import { rateLimitBuckets } from './postgres-schema.js'

/** Reserved tokens a replica has not spent by then are dropped: a token is spent within this of its grant. */
const reservationMs = 1_000

/** What this replica holds for one client. */
interface Reservation {
  tokens: number
  expiresAt: number
  /** The shared bucket was empty: until then every request is refused without asking PostgreSQL. */
  deniedUntil: number
  pending: Promise<void> | undefined
}

/**
 * The RateLimiter's token bucket (`perMinute` a minute, bursts up to `perMinute`), one per client
 * in PostgreSQL, shared by every replica. A request does not cost a round trip: a replica reserves
 * tokens in blocks of one second's refill (`ceil(perMinute / 60)`) and spends them locally within
 * `reservationMs`, so a busy client costs each replica about one query per block. Every admitted
 * request spent a token granted once by the shared bucket within the last second, so a client gets
 * at most one block more than a single bucket would admit, over all replicas; tokens a replica
 * reserved but did not spend are lost, so with traffic spread over replicas a client may get up
 * to a block per replica per second less. The bucket refills on PostgreSQL's clock, one for all.
 */
export class PostgresRateLimiter implements RateLimit {
  readonly #held = new Map<string, Reservation>()
  readonly #block: number
  readonly #perMs: number

  private constructor(
    private readonly db: NodePgDatabase,
    private readonly pool: pg.Pool,
    private readonly perMinute: number,
  ) {
    this.#block = Math.max(1, Math.ceil(perMinute / 60))
    this.#perMs = perMinute / 60_000
  }

  static async open(url: string, perMinute: number): Promise<PostgresRateLimiter> {
    const pool = await openServerDatabase(url, 4)
    return new PostgresRateLimiter(drizzle({ client: pool }), pool, perMinute)
  }

  async take(client: string): Promise<RateLimitVerdict> {
    let held = this.#held.get(client)
    if (!held) {
      held = { tokens: 0, expiresAt: 0, deniedUntil: 0, pending: undefined }
      this.#held.set(client, held)
      if (this.#held.size > 100_000) this.#forgetSpent()
    }
    for (;;) {
      const now = performance.now()
      if (held.tokens >= 1 && now < held.expiresAt) {
        held.tokens -= 1
        return { ok: true }
      }
      if (now < held.deniedUntil) return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((held.deniedUntil - now) / 1000)) }
      // Concurrent requests share one reservation; those it cannot serve reserve again.
      const reservation = held
      reservation.pending ??= this.#reserve(client, reservation).finally(() => {
        reservation.pending = undefined
      })
      await reservation.pending
    }
  }

  close(): Promise<void> {
    return this.pool.end()
  }

  /** Takes up to a block from the shared bucket, refilled first: one statement, one row lock. */
  async #reserve(client: string, held: Reservation): Promise<void> {
    const b = rateLimitBuckets
    const cap = sql`${this.perMinute}::float8`
    const block = sql`${this.#block}::int`
    const refilled = sql`LEAST(${cap}, ${b.tokens} + GREATEST(0, excluded.updated_at - ${b.updatedAt}) * ${this.#perMs}::float8)`
    const grant = sql`LEAST(${block}, floor(${refilled}))::int`
    const { rows } = await unavailable(() =>
      this.db.execute<{ granted: number; tokens: number }>(sql`
        INSERT INTO ${b} (client, tokens, granted, updated_at)
        VALUES (${client}, ${cap} - ${block}, ${block}, extract(epoch FROM clock_timestamp()) * 1000)
        ON CONFLICT (client) DO UPDATE SET
          granted = ${grant},
          tokens = ${refilled} - ${grant},
          updated_at = GREATEST(${b.updatedAt}, excluded.updated_at)
        RETURNING granted, tokens`),
    )
    const { granted, tokens } = rows[0] ?? { granted: 0, tokens: 0 }
    const now = performance.now()
    held.tokens = granted
    held.expiresAt = now + reservationMs
    held.deniedUntil = granted > 0 ? 0 : now + (1 - tokens) / this.#perMs
  }

  /** Clients with nothing held and no refusal pending carry no state worth keeping. */
  #forgetSpent(): void {
    const now = performance.now()
    for (const [client, held] of this.#held) {
      if (!held.pending && (held.tokens < 1 || now >= held.expiresAt) && now >= held.deniedUntil) this.#held.delete(client)
    }
  }
}
