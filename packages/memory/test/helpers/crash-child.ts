/**
 * Child process of crash.int.test.ts: opens the store, then adds memories as fast as it can, with
 * concurrent single adds and batches, printing `ACK <id> <text>` once each add resolves. The parent
 * SIGKILLs it at a random moment and checks that every acknowledged add survived.
 */
import { Memory } from '../../src/index.js'
import { createHashEmbedder } from '../../src/testing/index.js'

const [path, prefix] = process.argv.slice(2) as [string, string]
const memory = await Memory.open({ path, embedder: createHashEmbedder(), maintenanceEveryRows: 300 })
process.stdout.write('READY\n')

let n = 0
const text = () => `crash probe ${prefix} ${n} token${prefix}x${n++}`
const ack = (results: Array<{ id: string; memory: string }>) => {
  for (const r of results) process.stdout.write(`ACK ${r.id} ${r.memory}\n`)
}
for (;;) {
  const singles = Array.from({ length: 8 }, () => memory.add(text(), { userId: 'crash' }).then((r) => ack(r.results)))
  const batch = memory.addBatch(Array.from({ length: 25 }, () => ({ messages: text(), userId: 'crash' }))).then((r) => ack(r.results))
  await Promise.all([...singles, batch])
}
