import { describe, expect, it } from 'vitest'
import { isoTime } from './items.js'
import { seededRandom } from './testing/index.js'

describe('isoTime', () => {
  it('writes what Date#toISOString writes, at the edges and for random times of every era', () => {
    const edges = [0, 1, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000, 951_868_799_999, 4_107_542_399_999, 253_402_300_799_999]
    const next = seededRandom(7)
    const random = Array.from({ length: 20_000 }, () => Math.floor(next() * 253_402_300_800_000))
    for (const ms of [...edges, ...random]) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString())
  })

  it('takes the Date path outside 1970 to 9999, and for fractional times', () => {
    for (const ms of [-1, -62_198_755_200_000, 253_402_300_800_000, 1.5]) expect(isoTime(ms)).toBe(new Date(ms).toISOString())
  })
})
