/**
 * What someone who installs the published tarballs gets: each package is packed (`pnpm pack`,
 * which builds it), installed with npm into a project outside the workspace (only the registry
 * is reached), and used from plain `node`, with no tsx and no source condition. One project
 * grows package by package (embeddings alone, then memory, then server), so each step checks
 * what a user of just those packages has, and npm unpacks the heavy native dependencies once.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const packagesDir = fileURLToPath(new URL('../../../packages/', import.meta.url))
const packages = ['embeddings', 'memory', 'server'] as const
type PackageName = (typeof packages)[number]

let root: string
let project: string
const tarballs = {} as Record<PackageName, string>

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'agentmem-standalone-'))
  const packs = join(root, 'packs')
  await mkdir(packs)
  for (const name of packages) {
    await run('pnpm', ['pack', '--pack-destination', packs], { cwd: join(packagesDir, name) })
  }
  for (const file of await readdir(packs)) {
    const name = packages.find((p) => file.startsWith(`agentmem-${p}-`))
    if (!name) continue
    tarballs[name] = join(packs, file)
    console.log(`${file}: ${((await stat(tarballs[name])).size / 1024).toFixed(0)} KiB`)
  }
  project = join(root, 'project')
  await mkdir(project)
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'standalone', private: true, type: 'module' }))
})

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true })
})

/** Installs one more tarball into the project, as `npm install <tarball>` would for a user. */
async function install(name: PackageName): Promise<void> {
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarballs[name]], {
    cwd: project,
    // onnxruntime-node's postinstall only fetches optional CUDA files (the CPU binaries ship in the tarball).
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
    maxBuffer: 16 * 1024 * 1024,
  })
}

/** Runs plain node (no loader, no conditions) in `dir` and parses the JSON line it prints last. */
async function node(dir: string, args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, args, { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } })
  return JSON.parse(stdout.trim().split('\n').at(-1) as string)
}

const embedScript = `
import { createEmbedder } from '@agentmem/embeddings'
const embedder = await createEmbedder({ workers: 1 })
const vectors = await embedder.embed(['I moved to Lisbon in May', 'my dog is called Pepper'])
await embedder.close()
const norm = Math.hypot(...vectors[0])
console.log(JSON.stringify({ model: embedder.modelId, count: vectors.length, dims: vectors[0].length, norm }))
`

describe('the published packages, outside the workspace', () => {
  it('@agentmem/embeddings alone: createEmbedder + embed from a file and from `node --input-type=module -e`', async () => {
    await install('embeddings')
    await writeFile(join(project, 'embed.mjs'), embedScript)
    for (const args of [['embed.mjs'], ['--input-type=module', '-e', embedScript]]) {
      const out = await node(project, args)
      expect(out).toMatchObject({ count: 2, dims: 100 })
      expect(out['norm']).toBeCloseTo(1, 5)
    }
    // Only what was asked for is installed: the engine and server are not dependencies of embeddings.
    await expect(stat(join(project, 'node_modules/@agentmem/memory'))).rejects.toThrow()
  })

  it('@agentmem/memory + embeddings: Memory.open, add and search', async () => {
    await install('memory')
    const script = `
import { Memory } from '@agentmem/memory'
const memory = await Memory.open({ path: './data' })
await memory.add('I moved to Lisbon in May', { userId: 'alice' })
await memory.add('My dog is called Pepper', { userId: 'alice' })
const { results } = await memory.search('which city did alice move to?', { userId: 'alice', topK: 1 })
await memory.close()
console.log(JSON.stringify({ top: results[0]?.memory }))
`
    expect(await node(project, ['--input-type=module', '-e', script])).toEqual({ top: 'I moved to Lisbon in May' })
  })

  it('@agentmem/server: the installed agentmem bin serves /health with plain node', async () => {
    await install('server')
    const bin = join(project, 'node_modules/.bin/agentmem')
    const child = spawn(bin, ['serve', '--port', '0', '--data', join(project, 'server-data')], { cwd: project, env: { ...process.env, NODE_OPTIONS: '' } })
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let stderr = ''
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString()
          const match = /listening on (http:\/\/\S+)/.exec(stderr)
          if (match) resolve(match[1] as string)
        })
        child.once('exit', (code) => reject(new Error(`agentmem serve exited (${code}):\n${stderr}`)))
      })
      const health = await fetch(`${url}/health`)
      expect(health.status).toBe(200)
      expect(await health.json()).toEqual({ status: 'ok' })
    } finally {
      child.kill('SIGTERM')
    }
    const code = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)))
    expect(code).toBe(0)
  })
})
