import { createRequire } from 'node:module'

/** This package's version, from its package.json (one folder up from both src/ and dist/). */
export const serverVersion: string = createRequire(import.meta.url)('../package.json').version
