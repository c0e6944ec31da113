import { createHash } from 'node:crypto'
import { expect, it } from 'vitest'
import { KeyFilter } from './key-filter.js'

const key = (i: number) => createHash('sha256').update(String(i)).digest('hex').slice(0, 32)

it('holds every key it was given, and rarely another, until it is full', () => {
  const filter = new KeyFilter(100_000)
  for (let i = 0; i < 100_000; i++) filter.add(key(i))
  for (let i = 0; i < 100_000; i++) expect(filter.mightHold(key(i))).toBe(true)
  let wrong = 0
  for (let i = 100_000; i < 200_000; i++) if (filter.mightHold(key(i))) wrong++
  // 16 bits a key and 7 probes: ~0.07% in theory.
  expect(wrong / 100_000).toBeLessThan(0.003)
  expect(filter.mightHold('')).toBe(false)
  // It has at least 2^23 bits (1 MiB), room for 2^19 keys at 16 bits each; full past twice that.
  for (let i = 100_000; i < 2 ** 20; i++) filter.add(`key ${i}`)
  expect(filter.full).toBe(false)
  filter.add('one more')
  expect(filter.full).toBe(true)
})
