import type { Logger } from '@agentmem/embeddings'
import { z } from 'zod'
import { MemoryError, MemoryErrorCode, storeUnavailable } from './errors.js'
import { FollowedCommits } from './followed-commits.js'
import {
  appliedNoticeSchema,
  committedNoticeSchema,
  encodeCommittedNotices,
  encodeJournalNotice,
  encodeNotice,
  maintainingNoticeSchema,
  noticeImages,
} from './replica-notice.js'
import type { BulkDeletes, RowImage } from './search/resident-cache.js'
import type { PostgresCluster } from './store/postgres-cluster.js'
import type { ScopeFilter } from './store/types.js'
import type { AppliedChange } from './writer.js'

/** The Memory methods a follower sends to the leader; every other call runs where it is made. */
export const forwardedMethods = ['add', 'addBatch', 'import', 'update', 'delete', 'deleteAll', 'reset', 'optimize'] as const
export type ForwardedMethod = (typeof forwardedMethods)[number]

export const forwardedCallSchema = z.strictObject({
  tenantId: z.string().min(1).max(256),
  method: z.enum(forwardedMethods),
  args: z.array(z.unknown()).max(4),
})
export type ForwardedCall = z.infer<typeof forwardedCallSchema>

/**
 * The leader's answer to a forwarded call (Memory.serveForwarded): the method's result, the
 * groups it may name (after `since`, up to `seq`, the newest committed when it answered), and
 * whether they are in the vector store (`applied`: the follower re-reads it) or were told to
 * followers in committed notices. An answer without `seq` is an applied one.
 */
export const forwardedAnswerSchema = z.object({
  result: z.unknown(),
  /** Groups after this one are those the result may name (the call's own, or unapplied ones it found a duplicate among). */
  since: z.number().optional(),
  seq: z.number().optional(),
  applied: z.boolean().default(true),
})
export type ForwardedAnswer = z.input<typeof forwardedAnswerSchema>

/**
 * How a follower reaches the leader: `address` is what the leader advertised (the server's URL),
 * `secret` authenticates the call (see PostgresCluster.secret). Resolves with the leader's answer
 * (Memory.serveForwarded's ForwardedAnswer, as received: it is validated here); rejects with the
 * leader's MemoryError, or MEMORY_UNAVAILABLE when the leader cannot be reached.
 */
export type Forward = (address: string, secret: string, call: ForwardedCall) => Promise<unknown>

const defaultCheckEveryMs = 1_000
/** How long a forwarded write waits for the leader's notice before re-reading instead (it normally arrives within milliseconds). */
const noticeWaitMs = 500
/**
 * How long a write the leader answered at its commit waits to show here: its committed notice
 * normally arrives within milliseconds (the leader answers at the commit only once PostgreSQL
 * took it); without it (this replica's connection dropped), its apply shows it. Well under the
 * server's request timeout: past it the caller gets a 503 to retry, not a 504.
 */
const commitShowWaitMs = 5_000
/**
 * How long a maintenance's notice keeps a follower from taking version moves for lost notices, at
 * most: its end (an apply notice) normally comes first. Longer than the longest maintenance
 * measured (30 s on the bench's Ceph), shorter than anyone would wait for a lost write.
 */
const maintenanceQuietMs = 120_000

export const replicationOptionsSchema = z.strictObject({
  /** Sends a call to the leader (the server does it over HTTP). */
  forward: z.custom<Forward>((f) => typeof f === 'function', 'must be a function'),
  /** Where other replicas reach this process when it leads (its server's URL); settable later with Memory.advertise. */
  address: z.string().min(1).optional(),
  /** How often a follower tries to take over a vanished leader, and re-reads the store in case a change notice was lost (ms). */
  checkEveryMs: z.number().int().min(50).max(60_000).default(1_000),
})
export type ReplicationOptions = z.input<typeof replicationOptionsSchema>

/** What replication needs from the engine. */
export interface ReplicaEngine {
  logger: Logger
  /** Re-reads the vector store's newest version; returns its number. */
  refresh(): Promise<number>
  /** Drops what this process holds of these scopes (undefined: everything); `keepStats` when notices keep the keyword statistics current. */
  invalidate(scopes: ScopeFilter[] | undefined, options?: { keepStats?: boolean }): void
  /** Lays the leader's row images of one apply, which moved the store from version `from` to `to`, over what this process holds. */
  follow(images: Map<string, RowImage>, from: number, to: number): void
  /** Lays the rows of a group the leader journaled (not in the store yet) over the resident scopes; the statistics wait for its apply. */
  followCommitted(images: ReadonlyMap<string, RowImage>): void
  /** A journaled group read from the journal (a bulk group told by number): its rows and deleted ids; undefined once pruned (it is in the store). */
  journalGroup(seq: number): Promise<{ images: ReadonlyMap<string, RowImage>; deletedIds: string[] } | undefined>
  /** Drops a bulk group's deleted ids from the resident scopes overlapping its scopes. */
  followDeletes(deletes: BulkDeletes): void
  /** The texts one apply changed (its rows did not fit a notice), for the keyword statistics. */
  followTexts(texts: Array<{ tenantId: string; before: string | null; after: string | null }>, from: number, to: number): void
  /** Makes this process the writer: replays the journal and starts the writer's work. */
  promote(): Promise<void>
  /** This process no longer writes: it stops its writer. */
  demote(): void
}

/**
 * The replicas of one store (PostgreSQL metadata): one leads and writes, the others follow, forward
 * writes to it and lay its notices over what they hold. A follower whose leader vanishes (its
 * PostgreSQL session ended, e.g. the process was killed) takes over within `checkEveryMs`,
 * replaying the journal, so no acknowledged write is lost. See docs/architecture.md, "Replicas".
 */
export class Replication {
  private timer: NodeJS.Timeout | undefined
  private promoting: Promise<void> | undefined
  private checking: Promise<void> | undefined
  /** Applies are handled one at a time, in order. */
  private chain: Promise<void> = Promise.resolve()
  private heardSinceCheck = false
  /** A re-read failed: what this process holds may be stale, so the next successful check drops everything. */
  private unsure = false
  private lastVersion = -1
  /**
   * The version the last notice moved the store to (or the one this process re-read when it last
   * dropped everything): the next notice must start there, or changes were made without one.
   * Undefined once this process led (it hears none of its own notices) or lost its connection,
   * until it re-reads the store: the next notice then drops everything.
   */
  private chainedTo: number | undefined
  /** The store's version when the last check found it past the last notice. */
  private behindAtLastCheck: number | undefined
  /** Forwarded writes waiting for the notice that shows them (see forward). */
  private readonly waiters = new Set<{ version: number; resolve: (reached: boolean) => void }>()
  private stopped = false
  private address: string | undefined
  /** On a follower: the leader's groups journaled but not applied yet, which reads lay over the store. */
  readonly commits = new FollowedCommits()
  /** On the leader: the newest group followers were not told of (they see it at its apply). */
  private lastUntoldSeq = 0
  /** On the leader: the committed notices going out (in order, on one connection). */
  private publishing: Promise<void> = Promise.resolve()
  /** On a follower: until when the leader's maintenance moves the store's versions (see maintainingNoticeSchema). */
  private quietUntil = 0

  constructor(
    private readonly cluster: PostgresCluster,
    private readonly engine: ReplicaEngine,
    private readonly options: z.output<typeof replicationOptionsSchema> | undefined,
  ) {
    this.address = options?.address
  }

  /** Authenticates calls forwarded to the leader. */
  get secret(): string {
    return this.cluster.secret
  }

  get leading(): boolean {
    return this.cluster.epoch !== undefined && this.promoting === undefined
  }

  /** Tries to lead at open (a process opened without replication options); false means another process leads. */
  tryLead(): Promise<boolean> {
    return this.cluster.tryLead(this.address)
  }

  /**
   * Starts following and watching for a vanished leader; call after open, whichever the role. A
   * replica leads through the same check as a takeover, once others can reach it (it has an
   * address): a replica that is still opening, or not listening yet, never holds the lead.
   */
  async start(): Promise<void> {
    await this.cluster.listen({
      applied: (event) => this.heard(event),
      lost: () => {
        this.engine.logger.warn('memory.replica_connection_lost', { leading: this.cluster.epoch !== undefined })
        this.engine.demote()
        this.dropAll()
        this.chainedTo = undefined
      },
      reconnected: () => {
        this.engine.logger.info('memory.replica_reconnected', {})
        this.background(async () => {
          this.chainedTo = await this.engine.refresh()
          this.dropAll()
        })
      },
    })
    await this.serially(async () => {
      this.lastVersion = await this.engine.refresh()
      this.chainedTo = this.lastVersion
    })
    if (this.options && this.address !== undefined) await this.checkNow()
    this.schedule()
  }

  /** Where this process is reached when it leads (the server knows its URL only once it listens); leads at once if no one does. */
  async advertise(address: string): Promise<void> {
    this.address = address
    await this.cluster.setAddress(address)
    await this.checkNow()
  }

  /** The leader's applies: after each, tell followers what changed. */
  applied(change: AppliedChange): void {
    const { epoch } = this.cluster
    if (epoch === undefined) return
    let notice: string
    try {
      notice = encodeNotice(epoch, change)
    } catch (e) {
      // Never the applier's failure: followers told "everything" re-read everything.
      this.engine.logger.error('memory.replica_notice_failed', { error: String(e) })
      notice = JSON.stringify({ epoch, all: true })
    }
    void this.cluster.publish(notice)
  }

  /**
   * The leader journaled a group (before acknowledging it): tell followers its rows now, since its
   * apply may wait for a maintenance. A bulk group is told by number, for followers to read from
   * the journal (with the scopes of the rows it deletes, unless too many for a notice: then it
   * reaches them with its apply only).
   */
  committed(seq: number, images: ReadonlyMap<string, RowImage>): void {
    const { epoch } = this.cluster
    if (epoch === undefined) return
    let notices: string[] = []
    try {
      notices = encodeCommittedNotices(epoch, seq, images)
      const byNumber = notices.length === 0 ? encodeJournalNotice(epoch, seq, images) : undefined
      if (byNumber) notices = [byNumber]
    } catch (e) {
      this.engine.logger.error('memory.replica_notice_failed', { error: String(e) })
    }
    if (notices.length === 0) {
      this.lastUntoldSeq = seq
      return
    }
    // A notice PostgreSQL did not take (the connection is down) told nobody.
    const sent = Promise.all(notices.map((notice) => this.cluster.publish(notice)))
    this.publishing = sent.then((taken) => {
      if (!taken.every(Boolean)) this.lastUntoldSeq = Math.max(this.lastUntoldSeq, seq)
    })
  }

  /** The leader began a maintenance: tell followers, so that its versions do not make them drop what they hold. */
  maintenanceStarted(): void {
    const { epoch } = this.cluster
    if (epoch === undefined) return
    void this.cluster.publish(JSON.stringify({ epoch, maintaining: true } satisfies z.infer<typeof maintainingNoticeSchema>))
  }

  /** On the leader: whether followers were told every group committed after `seq`, once the notices sent so far have gone out. */
  async toldSince(seq: number): Promise<boolean> {
    await this.publishing
    return this.lastUntoldSeq <= seq
  }

  /** Runs a write on the leader; resolves once this process reads what it wrote. */
  async forward(call: ForwardedCall, touched: (result: unknown) => ScopeFilter[]): Promise<unknown> {
    if (!this.options) throw storeUnavailable('Another process leads this store, and this one was opened without replication options')
    const address = await this.cluster.leaderAddress()
    if (!address) throw storeUnavailable('No replica leads this store right now; retry shortly')
    const answer = forwardedAnswerSchema.safeParse(await this.options.forward(address, this.cluster.secret, call))
    if (!answer.success) throw storeUnavailable('The replica that leads the store answered a forwarded write unreadably; retry reads shortly')
    const { result, since, seq, applied } = answer.data
    if (!applied && seq !== undefined) {
      // Answered at its commit (journaled, durable): once the committed notices up to it are heard
      // here, reads lay them over the store, so the caller reads what the result names.
      if (await this.commits.reached(since ?? 0, seq, commitShowWaitMs)) return result
      this.unsure = true
      throw new MemoryError(MemoryErrorCode.Unavailable, 'The write was journaled, but this replica has not heard of it yet; retry reads shortly')
    }
    // The leader answers once the write is in the vector store, and its notice is on the way:
    // once the notices reach the version that holds the write, this process shows it (scopes
    // and keyword statistics current, nothing dropped). A notice that lags: re-read the store and
    // drop what the write changed.
    try {
      const holding = await this.serially(() => this.engine.refresh())
      if (await this.reached(holding, noticeWaitMs)) return result
      // The statistics stay: the notices still to come bring them to the write (see follow).
      await this.serially(async () => {
        await this.engine.refresh()
        this.engine.invalidate(touched(result), { keepStats: true })
      })
    } catch (cause) {
      this.unsure = true
      throw new MemoryError(
        MemoryErrorCode.Unavailable,
        'The write was applied, but this replica could not re-read the store to show it; retry reads shortly',
        { cause },
      )
    }
    return result
  }

  /** Resolves true once notices have brought this process to `version`, false after `ms`. */
  private reached(version: number, ms: number): Promise<boolean> {
    if (this.chainedTo !== undefined && this.chainedTo >= version) return Promise.resolve(true)
    return new Promise((resolve) => {
      const waiter = { version, resolve }
      this.waiters.add(waiter)
      setTimeout(() => {
        this.waiters.delete(waiter)
        resolve(false)
      }, ms).unref()
    })
  }

  /** Waits for a promotion in progress, so that writes arriving meanwhile run here. */
  async settledRole(): Promise<boolean> {
    await this.promoting?.catch(() => undefined)
    return this.leading
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
  }

  private heard(raw: unknown): void {
    if (this.cluster.epoch !== undefined) return // our own notice
    if (maintainingNoticeSchema.safeParse(raw).success) {
      this.quietUntil = Date.now() + maintenanceQuietMs
      return
    }
    if (raw !== null && typeof raw === 'object' && 'committed' in raw) {
      // Not a store change: it moves no version, and one lost costs only staleness until its apply.
      const parsed = committedNoticeSchema.safeParse(raw)
      if (!parsed.success) return
      const { committed, part, parts, rows, journal, deletedScopes } = parsed.data
      this.background(async () => {
        if (journal) {
          // A group told by number: it is in the journal until its apply prunes it.
          const group = await this.engine.journalGroup(committed)
          const deletes = group && { ids: group.deletedIds, scopes: (deletedScopes ?? []).map(parseScopeKey) }
          if (group && this.commits.add(committed, group.images, deletes)) this.lay(group.images, deletes)
          return
        }
        const whole = this.commits.part(committed, part, parts, noticeImages(rows))
        if (whole) this.lay(whole, undefined)
      })
      return
    }
    this.heardSinceCheck = true
    // Applies wait for a maintenance: any apply notice, its own included, means it ended.
    this.quietUntil = 0
    const parsed = appliedNoticeSchema.safeParse(raw)
    this.background(async () => {
      this.lastVersion = await this.engine.refresh()
      const notice = parsed.success ? parsed.data : undefined
      const { from, to } = notice ?? {}
      // A notice that does not start where the last one ended: changes were made without one (a
      // new leader's journal replay, a deposed leader's last write), so anything held may be stale.
      const missed = from === undefined || to === undefined || from !== this.chainedTo
      this.chainedTo = to
      if (!notice || missed || notice.all) {
        this.engine.logger.info('memory.replica_dropped', {
          reason: !notice ? 'unreadable notice' : missed ? 'notice out of chain' : 'notice says all',
          from,
          to,
        })
        this.dropAll()
        // Whatever it covers is in the store this process just re-read.
        if (notice?.seq !== undefined) this.commits.applied(notice.seq)
      } else {
        if (notice.seq !== undefined) this.commits.applied(notice.seq)
        if (notice.rows) {
          this.engine.follow(noticeImages(notice.rows), from, to)
          // Groups journaled after this apply began may have changed its rows again.
          for (const { images, deletes } of this.commits.groups()) this.lay(images, deletes)
        } else if (notice.scopes && notice.texts) {
          this.engine.invalidate(notice.scopes.map(parseScopeKey), { keepStats: true })
          this.engine.followTexts(notice.texts, from, to)
        } else if (notice.scopes) this.engine.invalidate(notice.scopes.map(parseScopeKey))
        else this.engine.invalidate((notice.tenants ?? []).map((tenantId) => ({ tenantId })))
      }
      for (const waiter of this.waiters) {
        if (to !== undefined && to >= waiter.version) {
          this.waiters.delete(waiter)
          waiter.resolve(true)
        }
      }
    })
  }

  /** Lays a group the leader journaled over the resident scopes. */
  private lay(images: ReadonlyMap<string, RowImage>, deletes: BulkDeletes | undefined): void {
    this.engine.followCommitted(images)
    if (deletes && deletes.ids.length > 0) this.engine.followDeletes(deletes)
  }

  /** Drops everything held (a re-read of the store follows), the leader's unapplied groups included. */
  private dropAll(): void {
    this.engine.invalidate(undefined)
    this.commits.clear()
  }

  /**
   * Runs `task` after the re-reads queued before it, and before later ones; rejects with its
   * failure. The resident index scans a tenant's keyword statistics this way: no notice's re-read
   * moves the store's version under the scan, so the version it read tells which notices to fold
   * in. (Re-reads outside this chain, a promotion or Memory.invalidate, also bump the index's
   * epoch, which discards a scan they overlap.)
   */
  serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task)
    this.chain = run.then(
      () => {},
      () => {},
    )
    return run
  }

  /** `serially`, for callers that do not wait: a failure is logged, and the next check drops everything. */
  private background(task: () => Promise<void>): void {
    this.serially(task).catch((e: unknown) => {
      this.unsure = true
      this.engine.logger.warn('memory.replica_refresh_failed', { error: String(e) })
    })
  }

  /**
   * Checks on a timer, also without replication options: a process that led and lost its
   * PostgreSQL connection takes the lead back once it reconnects.
   */
  private schedule(): void {
    if (this.stopped) return
    this.timer = setTimeout(() => void this.checkNow().finally(() => this.schedule()), this.options?.checkEveryMs ?? defaultCheckEveryMs)
    this.timer.unref()
  }

  /** One check at a time (the timer's and advertise's): taking the session lock twice would need two unlocks. */
  private checkNow(): Promise<void> {
    this.checking ??= this.check().finally(() => {
      this.checking = undefined
    })
    return this.checking
  }

  /** The periodic check: take over a vanished leader (or take the lead back after a lost connection); drop everything if the store changed unannounced. */
  private async check(): Promise<void> {
    if (this.cluster.epoch !== undefined || this.stopped) return
    // A replica others cannot reach yet does not lead: their forwarded writes would have nowhere to go.
    const mayLead = this.options === undefined || this.address !== undefined
    try {
      if (mayLead && (await this.cluster.tryLead(this.address))) {
        this.engine.logger.info('memory.replica_promoting', { epoch: this.cluster.epoch })
        // The journal's replay writes every group heard of; this process's own writer lays them from now on.
        this.commits.clear()
        // A leader hears none of its own notices: should it follow again, its chain is unknown.
        this.chainedTo = undefined
        this.promoting = this.engine.promote()
        try {
          await this.promoting
        } catch (e) {
          // Half a takeover must not keep the lead: give it up, so this or another replica tries again.
          this.engine.demote()
          await this.cluster.resign()
          throw e
        }
        this.engine.logger.info('memory.replica_leads', { epoch: this.cluster.epoch })
        return
      }
      if (!this.options) return // nothing to follow: a process without replication options only ever leads
      const heard = this.heardSinceCheck
      this.heardSinceCheck = false
      await this.serially(async () => {
        const version = await this.engine.refresh()
        // Every version the leader makes comes with a notice; a store still past the last notice
        // one check later, at the same version, changed without one (even if other notices came).
        const behind = this.chainedTo !== undefined && version > this.chainedTo ? version : undefined
        const unannounced = behind !== undefined && behind === this.behindAtLastCheck
        // During the leader's maintenance versions move with no row changed: not a lost notice.
        const quiet = Date.now() < this.quietUntil
        // A change with no notice (the leader died between its write and its notice), or a re-read
        // that failed: forget everything.
        if ((!quiet && ((version !== this.lastVersion && !heard) || unannounced)) || this.unsure) {
          this.dropAll()
          this.chainedTo = version
        }
        this.behindAtLastCheck = unannounced || quiet ? undefined : behind
        this.unsure = false
        this.lastVersion = version
      })
    } catch (e) {
      this.engine.logger.warn('memory.replica_check_failed', { error: String(e) })
    } finally {
      this.promoting = undefined
    }
  }
}

/** A scope key (scopeKey) back to the scope it names; an absent id matches any, so the filter is as wide or wider. */
function parseScopeKey(key: string): ScopeFilter {
  const [tenantId = '', userId, agentId, runId] = key.split('\u0000')
  const id = (value: string | undefined) => (value === undefined || value === '\u0001' ? undefined : value)
  return { tenantId, userId: id(userId), agentId: id(agentId), runId: id(runId) }
}

/** The scope filter of a call's (or a memory's) scope ids; a missing id matches any. */
export function scopeOfIds(tenantId: string, ids: { userId?: string | null; agentId?: string | null; runId?: string | null } | undefined): ScopeFilter {
  return { tenantId, userId: ids?.userId ?? undefined, agentId: ids?.agentId ?? undefined, runId: ids?.runId ?? undefined }
}

export function notLeading(): MemoryError {
  return new MemoryError(MemoryErrorCode.Unavailable, 'This replica does not lead the store (a change of leader is in progress); retry shortly')
}
