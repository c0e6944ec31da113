#!/usr/bin/env node
/**
 * @module `agentmem-embed`: embeds texts from the command line and prints how similar they
 * are. `--demo` embeds a few built-in sentences.
 */
import { parseArgs } from 'node:util'
import { createEmbedder } from './create-embedder.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    demo: { type: 'boolean', default: false },
    model: { type: 'string' },
    'model-path': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
})

const usage = `usage: agentmem-embed [--model ID | --model-path DIR] TEXT [TEXT...]
       agentmem-embed --demo
With no --model the offline default model is used (built on first run, then cached).`

const demoTexts = ['I moved to Lisbon in May.', 'The user lives in Portugal.', 'My favourite food is sushi.', 'The stock market crashed today.']
const texts = values.demo ? demoTexts : positionals
if (values.help || texts.length === 0) {
  process.stdout.write(`${usage}\n`)
  process.exit(values.help ? 0 : 2)
}

const started = performance.now()
const embedder = await createEmbedder({ model: values.model, modelPath: values['model-path'] })
const ready = performance.now()
const vectors = await embedder.embed(texts)
const done = performance.now()
const cosine = (a: Float32Array, b: Float32Array) => a.reduce((sum, x, i) => sum + x * (b[i] as number), 0)

process.stdout.write(
  `model ${embedder.modelId} (${embedder.dimensions} dims): started in ${(ready - started).toFixed(0)} ms, embedded ${texts.length} texts in ${(done - ready).toFixed(1)} ms\n\n`,
)
process.stdout.write('cosine similarity\n')
texts.forEach((text, i) => {
  const row = vectors
    .map((v) =>
      cosine(vectors[i] as Float32Array, v)
        .toFixed(2)
        .padStart(6),
    )
    .join('')
  process.stdout.write(`${row}   ${text}\n`)
})
await embedder.close()
