/**
 * A bare `node:http` server for the search suite's calibration (run.ts `measureBareHttp`): it
 * reads each request's body, spins `BARE_WORK_US` µs of CPU on the main thread, and answers
 * `BARE_RESPONSE_BYTES` bytes of JSON, the size of a search response. What it manages at 16
 * connections says what this machine's HTTP stack leaves of a core to a handler of that cost.
 * It prints its port on stdout.
 */
import { createServer } from 'node:http'

const workUs = Number(process.env['BARE_WORK_US'] ?? 0)
const body = JSON.stringify({ results: 'x'.repeat(Math.max(0, Number(process.env['BARE_RESPONSE_BYTES'] ?? 0) - 15)) })

const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    const until = performance.now() + workUs / 1000
    while (performance.now() < until) {
      // Spinning: the work a handler would do, with no allocation to change the GC's share.
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
})
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`${typeof address === 'object' && address ? address.port : ''}\n`)
})
