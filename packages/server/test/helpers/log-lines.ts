import { Writable } from 'node:stream'

/** A log destination that keeps every line, for tests that read what the server logged. */
export function logLines() {
  const lines: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...chunk.toString().trim().split('\n'))
      done()
    },
  })
  return { sink, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) }
}
