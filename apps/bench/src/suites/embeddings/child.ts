/**
 * One contender of the `embeddings` suite in its own process (so that RSS and threads do not mix):
 * `child.ts <contender> <model folder> <texts>`. Prints its results as the last line of stdout.
 */
import { runContender } from './run.js'

const [name, folder, count] = process.argv.slice(2)
process.stdout.write(`${JSON.stringify(await runContender(name as string, folder as string, Number(count)))}\n`)
// ORT and worker handles would keep the process alive.
process.exit(0)
