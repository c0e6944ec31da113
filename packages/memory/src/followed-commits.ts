import { inScope, scopesOverlap } from './search/filter-match.js'
import type { BulkDeletes, RowImage } from './search/resident-cache.js'
import type { ScopeFilter, StoredMemory } from './store/types.js'

interface Commit {
  seq: number
  images: ReadonlyMap<string, RowImage>
  deletes: BulkDeletes | undefined
  rows: Map<string, StoredMemory | null>
}

/**
 * A follower's view of the leader's journaled groups that are not in the vector store yet: heard
 * from committed notices (replica-notice.ts), forgotten once an apply notice's `seq` covers them.
 * Reads lay them over the store as the leader lays its own pending list, so a write the leader
 * acknowledged reaches followers in milliseconds even while its LanceDB write waits for a
 * maintenance (seconds on object storage).
 */
export class FollowedCommits {
  private commits: Commit[] = []
  /** Groups whose notices have not all come yet: seq → the parts heard. */
  private readonly partial = new Map<number, Array<ReadonlyMap<string, RowImage> | undefined>>()
  private appliedSeq = 0
  /** The newest group heard whole: notices come in order, so every told group before it was heard too. */
  private heardSeq = 0
  /** `heardSeq` at the last clear: groups up to it may have been heard and forgotten unapplied. */
  private heardAtClear = 0
  private readonly waiters = new Set<{ seq: number; resolve: () => void }>()
  private readonly reachers = new Set<{ since: number; seq: number; resolve: (reached: boolean) => void }>()

  /**
   * Records one of a group's `parts` notices; once all have come, records the group and returns
   * its images to lay over (a group shows whole or not at all). Undefined until then, or when an
   * apply already covered the group.
   */
  part(seq: number, part: number, parts: number, images: ReadonlyMap<string, RowImage>): ReadonlyMap<string, RowImage> | undefined {
    if (parts === 1) return this.add(seq, images) ? images : undefined
    if (seq <= this.appliedSeq || part >= parts) return undefined
    const heard = this.partial.get(seq) ?? new Array<ReadonlyMap<string, RowImage> | undefined>(parts).fill(undefined)
    heard[part] = images
    this.partial.set(seq, heard)
    if (heard.some((p) => p === undefined)) return undefined
    this.partial.delete(seq)
    const whole = new Map(heard.flatMap((p) => [...(p as ReadonlyMap<string, RowImage>)]))
    return this.add(seq, whole) ? whole : undefined
  }

  /** Records a journaled group; false when an apply already covered it (nothing to lay over). */
  add(seq: number, images: ReadonlyMap<string, RowImage>, deletes?: BulkDeletes): boolean {
    if (seq <= this.appliedSeq) return false
    const rows = new Map<string, StoredMemory | null>()
    for (const [id, image] of images) rows.set(id, image.after)
    for (const id of deletes?.ids ?? []) rows.set(id, null)
    this.commits.push({ seq, images, deletes, rows })
    this.heardSeq = Math.max(this.heardSeq, seq)
    this.wake()
    return true
  }

  /**
   * Resolves true once reads here show the groups after `since` up to `seq` (those a forwarded
   * call's result may name: its own, or the leader's unapplied ones when it found a duplicate
   * among them): heard whole (notices are ordered, so hearing `seq` means hearing every told group
   * before it) and not forgotten at a clear since, or applied; false after `ms`.
   */
  reached(since: number, seq: number, ms: number): Promise<boolean> {
    if (this.shows(since, seq)) return Promise.resolve(true)
    return new Promise((resolve) => {
      const reacher = { since, seq, resolve }
      this.reachers.add(reacher)
      setTimeout(() => {
        if (this.reachers.delete(reacher)) resolve(false)
      }, ms).unref()
    })
  }

  /** An apply wrote every group up to `seq`: the store holds them now. */
  applied(seq: number): void {
    this.appliedSeq = Math.max(this.appliedSeq, seq)
    this.commits = this.commits.filter((c) => c.seq > seq)
    for (const partial of this.partial.keys()) if (partial <= seq) this.partial.delete(partial)
    this.wake()
  }

  /** Forgets every group (the follower dropped everything it held and re-reads the store). */
  clear(): void {
    this.commits = []
    this.partial.clear()
    // Groups heard before are forgotten: a write among them now shows once applied.
    this.heardAtClear = this.heardSeq
    this.wake()
  }

  /** Row images of groups not yet applied, oldest first (a snapshot). */
  rows(): Array<Map<string, StoredMemory | null>> {
    return this.commits.map((c) => c.rows)
  }

  /** Each unapplied group's images and bulk deletes, oldest first: laid again after an apply's, which may be older. */
  groups(): Array<{ images: ReadonlyMap<string, RowImage>; deletes: BulkDeletes | undefined }> {
    return this.commits.map(({ images, deletes }) => ({ images, deletes }))
  }

  /** The newest unapplied image of a row (null: deleted); undefined when the store is current for it. */
  row(id: string): StoredMemory | null | undefined {
    for (let i = this.commits.length - 1; i >= 0; i--) {
      const rows = this.commits[i]?.rows
      if (rows?.has(id)) return rows.get(id)
    }
    return undefined
  }

  /** Whether an unapplied group wrote a row of `scope`. */
  touches(scope: ScopeFilter): boolean {
    return this.lastTouching(scope) !== undefined
  }

  /** Resolves once every group heard so far that wrote a row of `scope` is in the store (or forgotten). */
  caughtUp(scope: ScopeFilter): Promise<void> {
    const seq = this.lastTouching(scope)
    if (seq === undefined) return Promise.resolve()
    return new Promise((resolve) => this.waiters.add({ seq, resolve }))
  }

  /** Groups forgotten at the last clear show once applied; a call's groups heard after it show at once. */
  private shows(since: number, seq: number): boolean {
    return this.appliedSeq >= seq || (this.heardSeq >= seq && (this.heardAtClear <= since || this.appliedSeq >= this.heardAtClear))
  }

  private lastTouching(scope: ScopeFilter): number | undefined {
    const wide = { ...scope, currentOnly: false }
    for (let i = this.commits.length - 1; i >= 0; i--) {
      const commit = this.commits[i] as Commit
      for (const { before, after } of commit.images.values()) {
        const memory = after ?? before
        if (memory && inScope(memory, wide)) return commit.seq
      }
      if (commit.deletes?.scopes.some((deleted) => scopesOverlap(deleted, scope))) return commit.seq
    }
    return undefined
  }

  private wake(): void {
    for (const reacher of this.reachers) {
      if (this.shows(reacher.since, reacher.seq)) {
        this.reachers.delete(reacher)
        reacher.resolve(true)
      }
    }
    for (const waiter of this.waiters) {
      if (!this.commits.some((c) => c.seq <= waiter.seq)) {
        this.waiters.delete(waiter)
        waiter.resolve()
      }
    }
  }
}
