import { defineConfig } from 'vitest/config'

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources (the "source" export condition): no build before tests.
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'apps/*/src/**/*.test.ts'],
    // Model builds and worker pools take seconds, not milliseconds.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Files share 2 cores with the worker pools they start; one file at a time keeps timing tests honest.
    fileParallelism: false,
    // MEM0_TELEMETRY: the mem0ai client used in compatibility tests would otherwise post to its analytics host.
    env: { LANCEDB_LOG: 'error', MEM0_TELEMETRY: 'false' },
  },
})
