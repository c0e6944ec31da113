import { createHash } from 'node:crypto'
import { expect, it } from 'vitest'
import { KeyFilter } from './key-filter.js'

const key = (i: number) => createHash('sha256').update(String(i)).digest('hex').slice(0, 32)

it('holds every key it was given, and rarely another: ~0.1% at 16 bits a key, a few % at 8, when it is full', () => {
  // The smallest filter: 2^23 bits, room for 2^19 keys at 16 bits each.
  const filter = new KeyFilter(1)
  const misses = (from: number) => {
    let wrong = 0
    for (let i = from; i < from + 100_000; i++) if (filter.mightHold(key(i))) wrong++
    return wrong / 100_000
  }
  for (let i = 0; i < 2 ** 19; i++) filter.add(key(i))
  for (let i = 0; i < 2 ** 19; i += 97) expect(filter.mightHold(key(i))).toBe(true)
  // 7 probes at 16 bits a key: 0.07% in theory.
  expect(misses(10_000_000)).toBeLessThan(0.002)
  expect(filter.full).toBe(false)
  for (let i = 2 ** 19; i < 2 ** 20; i++) filter.add(key(i))
  for (let i = 0; i < 2 ** 20; i += 97) expect(filter.mightHold(key(i))).toBe(true)
  // At 8 bits a key: 2.2% in theory.
  expect(misses(20_000_000)).toBeLessThan(0.03)
  expect(filter.full).toBe(false)
  filter.add('one more')
  expect(filter.full).toBe(true)
})
