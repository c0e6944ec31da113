/**
 * @module Worker thread entry (embedders and rerankers): owns one tokenizer and one ONNX Runtime session (lane 0's
 * also a second one for solo runs), so the synchronous `session.run()` blocks this thread, never the caller's event loop.
 */
import { setPriority } from 'node:os'
import { parentPort, workerData } from 'node:worker_threads'
import { ModelRunner } from '../inference/model-runner.js'
import { type FromWorker, serializeError, type ToWorker, type WorkerInit } from './protocol.js'

const port = parentPort
if (!port) throw new Error('embed-worker must run in a worker thread')
const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer)

// On Linux the nice value is per thread: lowering ours (and that of the ORT threads this
// thread creates) lets the caller's event loop win the CPU whenever workers x threads =
// cores. Idle cores still go to inference, so throughput is unchanged.
try {
  setPriority(10)
} catch {
  // Not permitted on this platform: scheduling stays as it was.
}

try {
  const init = workerData as WorkerInit
  const runner = await ModelRunner.load(init)
  // One warm-up run per session checks the output dimensions before any caller depends on them.
  for (const solo of init.soloThreads ? [false, true] : [false]) {
    await (init.task === 'score'
      ? runner.score(
          [
            ['warm', 'up'],
            ['a second pair', 'proves one logit per pair'],
          ],
          solo,
        )
      : runner.embed(['warm up'], solo))
  }
  let crashNext = false
  port.on('message', async (message: ToWorker) => {
    switch (message.type) {
      case 'close':
        await runner.release()
        process.exit(0)
        break
      case 'crash-next':
        crashNext = true
        break
      case 'embed':
      case 'score':
        if (crashNext) throw new Error('simulated worker crash')
        try {
          const output = message.type === 'embed' ? await runner.embed(message.texts, message.solo) : await runner.score(message.pairs, message.solo)
          post({ type: 'result', id: message.id, output }, [output.buffer as ArrayBuffer])
        } catch (error) {
          post({ type: 'error', id: message.id, error: serializeError(error) })
        }
    }
  })
  post({ type: 'ready', soloThreads: runner.soloThreads })
} catch (error) {
  post({ type: 'failed', error: serializeError(error) })
}
