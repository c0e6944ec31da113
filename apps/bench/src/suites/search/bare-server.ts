/**
 * A bare `node:http` server for the search suite's calibration (run.ts `measureBareHttp`): it
 * reads each request's body, spins `BARE_WORK_US` µs of CPU on the main thread, and answers
 * `BARE_RESPONSE_BYTES` bytes of JSON, the size of a search response. What it manages at 16
 * connections says what this machine's HTTP stack leaves of a core to a handler of that cost.
 *
 * With `BARE_WORKER_US`, each request also spins that many µs on a worker thread, which answers
 * ten hits of the response's size (a structured-clone hop each way) for the main thread to
 * serialise: the shape of a server whose engine runs on the second core while HTTP stays on the
 * main one. It prints its port on stdout.
 */
import { createServer } from 'node:http'
import { Worker } from 'node:worker_threads'

function spin(us: number): void {
  const until = performance.now() + us / 1000
  while (performance.now() < until) {
    // Spinning: the work a handler would do, with no allocation to change the GC's share.
  }
}

/**
 * The worker, as plain JavaScript (a worker does not get tsx's loader): it spins, then answers ten
 * hits shaped like a search's, their texts filling the response to its size.
 */
const workerSource = `
const { parentPort, workerData: { workerUs, responseBytes } } = require('node:worker_threads')
const text = 'x'.repeat(Math.max(0, Math.floor(responseBytes / 10) - 354))
parentPort.on('message', ({ id, request }) => {
  JSON.parse(request)
  const until = performance.now() + workerUs / 1000
  while (performance.now() < until) {}
  const now = new Date().toISOString()
  const hits = Array.from({ length: 10 }, (_, rank) => ({
    id: crypto.randomUUID(), memory: text, metadata: { source: 'bench' }, user_id: 'user-1', agent_id: null, run_id: null,
    role: 'user', created_at: now, updated_at: now, valid_to: null, score: 1 - rank / 10,
    explain: { vector: { score: 0.5, rank: rank + 1 }, keyword: { score: 3.2, rank: rank + 1 }, fused: 0.6 },
  }))
  parentPort.postMessage({ id, hits })
})
`

const workUs = Number(process.env['BARE_WORK_US'] ?? 0)
const workerUs = Number(process.env['BARE_WORKER_US'] ?? 0)
const responseBytes = Math.max(0, Number(process.env['BARE_RESPONSE_BYTES'] ?? 0))
const body = JSON.stringify({ results: 'x'.repeat(Math.max(0, responseBytes - 15)) })
const worker = workerUs > 0 ? new Worker(workerSource, { eval: true, workerData: { workerUs, responseBytes } }) : undefined
const waiting = new Map<number, (hits: unknown) => void>()
let next = 0
worker?.on('message', ({ id, hits }: { id: number; hits: unknown }) => {
  waiting.get(id)?.(hits)
  waiting.delete(id)
})

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => chunks.push(chunk))
  req.on('end', () => {
    spin(workUs)
    const answer = (json: string) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
      res.end(json)
    }
    if (!worker) return answer(body)
    const id = next++
    waiting.set(id, (hits) => answer(JSON.stringify({ results: hits })))
    worker.postMessage({ id, request: Buffer.concat(chunks).toString() })
  })
})
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`${typeof address === 'object' && address ? address.port : ''}\n`)
})
