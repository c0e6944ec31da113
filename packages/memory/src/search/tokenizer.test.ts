import { describe, expect, it } from 'vitest'
import { tokenize } from './tokenizer.js'

describe('tokenize', () => {
  it('keeps every term right while its cache of analysed tokens turns over', () => {
    const text = 'Running runners ran to the stores'
    expect(tokenize(text)).toEqual(['run', 'runner', 'ran', 'store'])
    // More unique tokens (numbers, names) than both generations of the cache hold.
    for (let i = 0; i < 120_000; i++) expect(tokenize(`token${i} the`)).toEqual([`token${i}`])
    expect(tokenize(text)).toEqual(['run', 'runner', 'ran', 'store'])
    expect(tokenize('token5 token119999')).toEqual(['token5', 'token119999'])
  })
})
