import fc from 'fast-check'
import { expect, it } from 'vitest'
import { createLogger, withoutRedaction } from '../src/logger.js'
import { logLines } from './helpers/log-lines.js'

function capture() {
  const { sink, lines } = logLines()
  // The time is the only field two otherwise identical lines may differ in.
  return { sink, lines: () => lines.map((l) => l.replace(/"time":\d+,/, '')) }
}

it('writes the access line byte for byte as the redacting logger does', () => {
  const header = fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 128 })
  fc.assert(
    fc.property(
      header,
      fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH'),
      fc.string(),
      fc.integer({ min: 100, max: 599 }),
      fc.nat(),
      (requestId, method, route, status, ms) => {
        const redacting = capture()
        const plain = capture()
        createLogger('info', redacting.sink).child({ requestId }).info({ method, route, status, ms }, 'http.request')
        withoutRedaction(createLogger('info', plain.sink)).info({ requestId, method, route, status, ms }, 'http.request')
        expect(plain.lines()).toEqual(redacting.lines())
      },
    ),
  )
})

it('still redacts keys and tokens everywhere else, request loggers included', () => {
  const { sink, lines } = capture()
  const log = createLogger('info', sink)
  const secret = 'am_secret'
  log.child({ requestId: 'r1' }).error({ err: Object.assign(new Error('boom'), { key: secret }), headers: { authorization: `Bearer ${secret}` } }, 'http.error')
  log.info({ config: { llmApiKey: secret, hubToken: secret }, token: secret }, 'x')
  withoutRedaction(log).info({ requestId: 'r2' }, 'http.request')
  expect(lines().join('\n')).not.toContain(secret)
  expect(lines()).toHaveLength(3)
  expect(JSON.parse(lines()[0] ?? '')).toMatchObject({ requestId: 'r1', err: { message: 'boom', key: '[redacted]' }, headers: { authorization: '[redacted]' } })
})
