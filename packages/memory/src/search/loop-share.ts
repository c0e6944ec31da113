/**
 * A resident search awaits only promises that are already resolved, so callers that chain
 * searches without pause run as one unbroken run of promise callbacks: timers, sockets and the
 * writer's commits wait until every chain stops (2,000 searches by 8 callers held the loop 1.7 s
 * in test/resident.int.test.ts). Once searches have run this long without the loop turning,
 * every search that starts waits for its next check phase, so all chains pause together and
 * I/O callbacks run in between.
 */
const sliceMs = 2

/** When the first search since the loop last turned started; undefined until one does. */
let sliceStart: number | undefined
let parked: { promise: Promise<void>; resolve(): void } | undefined

/** Undefined to go on at once, or a promise to await first: the loop's next turn. */
export function loopTurn(): Promise<void> | undefined {
  if (parked) return parked.promise
  const now = performance.now()
  if (sliceStart === undefined) {
    sliceStart = now
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
