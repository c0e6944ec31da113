import { describe, expect, it } from 'vitest'
import type { Logger } from '../types.js'
import { logProgress } from './progress.js'

function collectingLogger() {
  const events: Array<{ event: string; fields: Record<string, unknown> | undefined }> = []
  const record = (event: string, fields?: Record<string, unknown>) => events.push({ event, fields })
  const logger: Logger = { debug: record, info: record, warn: record, error: record }
  return { logger, events }
}

describe('logProgress (progress when stderr is not a terminal)', () => {
  it('logs one model.progress event per tenth of a download, not one per chunk', () => {
    const { logger, events } = collectingLogger()
    const report = logProgress(logger)
    for (let done = 0; done <= 1000; done += 5) report({ task: 'downloading model.onnx', done, total: 1000, unit: 'bytes' })
    expect(events.map((e) => e.event)).toEqual(Array(11).fill('model.progress'))
    expect(events.map((e) => e.fields?.['percent'])).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    expect(events.at(-1)?.fields).toEqual({ task: 'downloading model.onnx', done: 1000, total: 1000, unit: 'bytes', percent: 100 })
  })

  it('logs every step of a short task, and each task separately', () => {
    const { logger, events } = collectingLogger()
    const report = logProgress(logger)
    for (let done = 0; done <= 4; done++) report({ task: 'building default model', done, total: 4, unit: 'steps' })
    report({ task: 'downloading tokenizer.json', done: 0, total: 0, unit: 'bytes' })
    expect(events.map((e) => [e.fields?.['task'], e.fields?.['done']])).toEqual([
      ['building default model', 0],
      ['building default model', 1],
      ['building default model', 2],
      ['building default model', 3],
      ['building default model', 4],
      ['downloading tokenizer.json', 0],
    ])
  })
})
