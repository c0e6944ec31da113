export type RateLimitVerdict = { ok: true } | { ok: false; retryAfterSeconds: number }

/**
 * What the auth middleware asks of a limiter: a token for `client`, or how long to wait. In process
 * (RateLimiter, the embedded default) or shared by replicas (PostgresRateLimiter, with `metadataUrl`).
 */
export interface RateLimit {
  take(client: string): RateLimitVerdict | Promise<RateLimitVerdict>
}

/**
 * Token buckets per client: `perMinute` requests a minute on average, bursts up to the same number.
 * In process memory: limits are per server instance.
 */
export class RateLimiter implements RateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>()
  private readonly perMs: number

  constructor(private readonly perMinute: number) {
    this.perMs = perMinute / 60_000
  }

  /** Takes a token for `client`; when none is left, returns the seconds until one is. */
  take(client: string, now = Date.now()): RateLimitVerdict {
    const bucket = this.buckets.get(client) ?? { tokens: this.perMinute, at: now }
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * this.perMs)
    bucket.at = now
    this.buckets.set(client, bucket)
    if (this.buckets.size > 100_000) this.forgetFull(now)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return { ok: true }
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)) }
  }

  /** Full buckets carry no state worth keeping; dropping them bounds memory. */
  private forgetFull(now: number): void {
    for (const [client, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.at) * this.perMs >= this.perMinute) this.buckets.delete(client)
    }
  }
}
