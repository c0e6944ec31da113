/**
 * One contender of the `embeddings` suite in its own process (so that RSS and threads do not mix):
 * `child.ts <contender> <model folder> <texts>`. Prints its results as the last line of stdout.
 * fastembed-js is loaded without ever importing our ONNX Runtime (see measure.ts).
 */
import { FASTEMBED, fastembedContender } from './fastembed.js'
import { measureContender } from './measure.js'

const [name, folder, count] = process.argv.slice(2) as [string, string, string]
const contender = name === FASTEMBED ? await fastembedContender(folder) : await (await import('./run.js')).makeContender(name, folder)
process.stdout.write(`${JSON.stringify(await measureContender(name, contender, Number(count)))}\n`)
// ORT and worker handles would keep the process alive.
process.exit(0)
