import { setImmediate } from 'node:timers'

/**
 * A resident search awaits only promises that are already resolved, so callers that chain
 * searches without pause run as one unbroken run of promise callbacks: timers, sockets and the
 * writer's commits wait until every chain stops (2,000 searches by 8 callers held the loop 1.7 s
 * in test/resident.int.test.ts). So the first search after the loop turned opens a slice; a
 * search that starts more than `sliceMs` after that waits for the loop's next check phase, so
 * all chains pause together and I/O callbacks run in between. Only starts are counted: the
 * searches that started within the slice (a `Promise.all` of thousands) all run to their end
 * before the loop turns.
 */
const sliceMs = 2
/** A slice whose turn has not come in this long lost its `setImmediate` (fake timers): start over rather than park forever. */
const staleMs = 1000

/** When the first search since the loop last turned started; undefined until one does. */
let sliceStart: number | undefined
let parked: { promise: Promise<void>; resolve(): void } | undefined

/** Undefined to go on at once, or a promise to await first: the loop's next turn. */
export function loopTurn(): Promise<void> | undefined {
  const now = performance.now()
  if (sliceStart !== undefined && now - sliceStart > staleMs) turned()
  if (parked) return parked.promise
  if (sliceStart === undefined) {
    sliceStart = now
    // Imported from node:timers when this module loads, so a test's fake timers cannot swallow it.
    setImmediate(turned)
    return undefined
  }
  if (now - sliceStart < sliceMs) return undefined
  let resolve = () => {}
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  parked = { promise, resolve }
  return promise
}

function turned(): void {
  sliceStart = undefined
  parked?.resolve()
  parked = undefined
}
