import { defineConfig } from 'vitest/config'

// One config for every package. `turbo run test` runs it from each package folder (each package's
// `test` script passes --config), and `pnpm vitest run path/to/file.test.ts` runs it from the root.
export default defineConfig({
  // Workspace packages resolve to their TypeScript sources (the "agentmem-source" export condition): no
  // build before tests. Not plain "source": some dependencies (eventsource-parser) point it at .ts files.
  resolve: { conditions: ['agentmem-source'] },
  ssr: { resolve: { conditions: ['agentmem-source'] } },
  test: {
    include: ['{src,test}/**/*.test.ts', '{packages,apps,tests}/*/{src,test}/**/*.test.ts'],
    // Each run leaves its counts in test-results.json beside it; .ci/run adds them up.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results.json' },
    // Model builds and worker pools take seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Files share 2 cores with the worker pools they start; one file at a time keeps timing tests honest.
    fileParallelism: false,
    // MEM0_TELEMETRY: the mem0ai client used in compatibility tests would otherwise post to its analytics host.
    env: { LANCEDB_LOG: 'error', MEM0_TELEMETRY: 'false' },
  },
})
