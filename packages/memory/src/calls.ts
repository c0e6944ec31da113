/**
 * The public calls under way on one engine (every tenant view of a store shares it), so that
 * `Memory.close()` lets them finish instead of closing the stores under them: an add still being
 * embedded when close() began failed as MEMORY_STORAGE_FAILED, its journal commit on a closed
 * database. A call counts from its start until it returns (`using _call = this.call()` opens each
 * public method of Memory).
 */
export class Calls {
  private running = 0
  private idle: { promise: Promise<void>; resolve(): void } | undefined

  enter(): Disposable {
    this.running++
    let left = false
    return {
      [Symbol.dispose]: () => {
        if (left) return
        left = true
        if (--this.running === 0) {
          this.idle?.resolve()
          this.idle = undefined
        }
      },
    }
  }

  /** Resolves once no call is under way. */
  settled(): Promise<void> {
    if (this.running === 0) return Promise.resolve()
    if (!this.idle) {
      let resolve = () => {}
      const promise = new Promise<void>((r) => {
        resolve = r
      })
      this.idle = { promise, resolve }
    }
    return this.idle.promise
  }
}
