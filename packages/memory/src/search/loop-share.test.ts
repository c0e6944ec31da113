import { afterEach, describe, expect, it, vi } from 'vitest'
import { loopTurn } from './loop-share.js'

const turnOfTheLoop = () => new Promise((resolve) => setImmediate(resolve))

describe('loopTurn', () => {
  afterEach(() => {
    vi.useRealTimers()
    vi.restoreAllMocks()
  })

  it('lets searches go on within a slice, parks them after it until the loop turns, then opens a new slice', async () => {
    await turnOfTheLoop()
    const now = vi.spyOn(performance, 'now').mockReturnValue(1_000)
    expect(loopTurn()).toBeUndefined() // opens the slice
    now.mockReturnValue(1_001)
    expect(loopTurn()).toBeUndefined()
    now.mockReturnValue(1_003)
    const parked = loopTurn()
    expect(parked).toBeInstanceOf(Promise)
    expect(loopTurn()).toBe(parked) // every later start waits for the same turn
    await parked
    expect(loopTurn()).toBeUndefined() // a new slice
  })

  it("is not held up by a test's fake timers", async () => {
    await turnOfTheLoop()
    vi.useFakeTimers()
    expect(loopTurn()).toBeUndefined() // its setImmediate is the real one, not the fake
    vi.useRealTimers()
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(loopTurn()).toBeUndefined()
  })

  it('starts over when a slice outlived its turn by a second, rather than park for good', async () => {
    await turnOfTheLoop()
    const now = vi.spyOn(performance, 'now').mockReturnValue(5_000)
    expect(loopTurn()).toBeUndefined()
    now.mockReturnValue(5_003)
    const parked = loopTurn()
    expect(parked).toBeInstanceOf(Promise)
    // As if the loop had not turned for over a second: the parked searches go, a new slice opens.
    now.mockReturnValue(6_500)
    expect(loopTurn()).toBeUndefined()
    await parked
  })
})
