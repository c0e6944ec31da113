import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { envName, loadConfig, serverConfigSchema } from './config.js'
import { statusByCode } from './errors.js'

describe('loadConfig', () => {
  it('has working defaults with no configuration', () => {
    expect(loadConfig({ env: {} })).toMatchObject({ data: '.agentmem', host: '127.0.0.1', port: 8787, maxTopK: 100, rateLimitPerMinute: 600 })
  })

  it('takes the file, then the environment, then flags', () => {
    const folder = mkdtempSync(join(tmpdir(), 'agentmem-config-'))
    onTestFinished(() => rmSync(folder, { recursive: true, force: true }))
    const file = join(folder, 'config.json')
    writeFileSync(file, JSON.stringify({ port: 9000, maxTopK: 50, host: '127.0.0.2' }))
    const config = loadConfig({ env: { AGENTMEM_CONFIG: file, AGENTMEM_PORT: '9100', AGENTMEM_MAX_TOP_K: '60' }, flags: { port: 9200 } })
    expect(config).toMatchObject({ port: 9200, maxTopK: 60, host: '127.0.0.2' })
  })

  it('names the source of every bad value', () => {
    expect(() => loadConfig({ env: { AGENTMEM_PORT: 'eighty', AGENTMEM_MAX_TOP_K: '5000' } })).toThrow(/AGENTMEM_PORT: .*\n.*AGENTMEM_MAX_TOP_K/)
    expect(() => loadConfig({ env: {}, flags: { port: -1 } })).toThrow(/--port/)
    // A plain folder for the shared vectors is refused with both forms it could take.
    expect(() => loadConfig({ env: { AGENTMEM_VECTORS_URL: '/srv/vectors' } })).toThrow(/AGENTMEM_VECTORS_URL: .*s3:\/\/.*file:\/\/\//)
    expect(loadConfig({ env: { AGENTMEM_VECTORS_URL: 'file:///srv/vectors' } }).vectorsUrl).toBe('file:///srv/vectors')
    expect(() => loadConfig({ env: { AGENTMEM_CONFIG: '/nonexistent/agentmem.json' } })).toThrow(/Cannot read the config file/)
  })
})

describe('docs', () => {
  const docs = (name: string) => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8')
  it('docs/config.md documents every setting', () => {
    const text = docs('config.md')
    for (const key of Object.keys(serverConfigSchema.shape)) expect(text).toContain(`\`${envName(key)}\``)
  })
  it('docs/errors.md lists every code with its HTTP status', () => {
    const text = docs('errors.md')
    for (const [code, status] of Object.entries(statusByCode)) expect(text).toMatch(new RegExp(`\\| \`${code}\`\\s*\\| ${status} `))
  })
})
