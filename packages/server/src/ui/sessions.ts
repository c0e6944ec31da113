import { randomBytes, timingSafeEqual } from 'node:crypto'

/** One signed-in browser. The cookie carries only `id`; the key stays in this process. */
export interface Session {
  id: string
  /** The API key the session acts with; null on loopback while no key exists (tenant default). */
  key: string | null
  /** Sent back in every state-changing form (`_csrf`). */
  csrfToken: string
  lastSeen: number
}

export interface SessionStoreOptions {
  /** A session unused for this long is forgotten. Default 12 h. */
  idleMs?: number
  /** Most sessions held; the least recently used goes first. Default 10,000. */
  maxSessions?: number
}

/**
 * Dashboard sessions in process memory: an opaque random id in the cookie, the key server-side,
 * so neither the cookie nor a log line ever holds a key. A restart signs everyone out, which a
 * dashboard can afford. Requests still authenticate with the key on every call, so a revoked key
 * ends its sessions at their next request.
 */
export class SessionStore {
  readonly #sessions = new Map<string, Session>()
  readonly #idleMs: number
  readonly #maxSessions: number

  constructor(options: SessionStoreOptions = {}) {
    this.#idleMs = options.idleMs ?? 12 * 60 * 60 * 1000
    this.#maxSessions = options.maxSessions ?? 10_000
  }

  create(key: string | null): Session {
    const session = { id: token(), key, csrfToken: token(), lastSeen: Date.now() }
    this.#sessions.set(session.id, session)
    // Map order is insertion order, and `get` re-inserts: the first entry is the least recently used.
    for (const oldest of this.#sessions.keys()) {
      if (this.#sessions.size <= this.#maxSessions) break
      this.#sessions.delete(oldest)
    }
    return session
  }

  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined
    const session = this.#sessions.get(id)
    if (!session) return undefined
    this.#sessions.delete(id)
    if (Date.now() - session.lastSeen > this.#idleMs) return undefined
    session.lastSeen = Date.now()
    this.#sessions.set(id, session)
    return session
  }

  delete(id: string): void {
    this.#sessions.delete(id)
  }
}

/** Constant-time comparison of a submitted CSRF token with the session's. */
export function csrfTokenMatches(session: Session, submitted: unknown): boolean {
  if (typeof submitted !== 'string') return false
  const expected = Buffer.from(session.csrfToken)
  const given = Buffer.from(submitted)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

function token(): string {
  return randomBytes(32).toString('base64url')
}
