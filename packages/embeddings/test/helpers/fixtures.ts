import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { miniLmShape, tinyBertShape, writeRandomBertModel } from '../../src/testing/random-bert.js'

/** ../shared beside the checkout: tests may read it, the product never does. */
export const sharedDir = fileURLToPath(new URL('../../../../../shared/', import.meta.url))
export const miniLmTokenizer = join(sharedDir, 'models/all-MiniLM-L6-v2')
export const bgeTokenizer = join(sharedDir, 'models/bge-small-en-v1.5')

export async function tempDir(prefix: string): Promise<{ path: string; [Symbol.asyncDispose](): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `agentmem-${prefix}-`))
  return { path, [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }) }
}

export function writeTinyBert(folder: string, pooling: 'mean' | 'cls' = 'mean', maxLength = 128) {
  return writeRandomBertModel({ folder, tokenizerFrom: pooling === 'cls' ? bgeTokenizer : miniLmTokenizer, shape: tinyBertShape, pooling, maxLength })
}

/** A tiny BERT cross-encoder (one logit per pair) with the MiniLM tokenizer, as ms-marco-MiniLM's. */
export function writeTinyCrossEncoder(folder: string, maxLength = 128) {
  return writeRandomBertModel({ folder, tokenizerFrom: miniLmTokenizer, shape: tinyBertShape, maxLength, head: 'sequence-classification' })
}

export function writeMiniLmShaped(folder: string) {
  return writeRandomBertModel({ folder, tokenizerFrom: miniLmTokenizer, shape: miniLmShape, pooling: 'mean', maxLength: 256 })
}

/** Sentences of mixed length, like conversation turns. */
export function sampleTexts(count: number): string[] {
  const base = [
    'I moved to Lisbon in May.',
    'My sister is a nurse and she works night shifts at the hospital near the river.',
    'Remind me to call the dentist.',
    'We adopted a dog called Pepper last year; she loves long walks on the beach and hates thunderstorms.',
    'Coffee, no sugar.',
  ]
  return Array.from({ length: count }, (_, i) => `${base[i % base.length]} (${i})`)
}
