/** Flags and output shared by the data commands, over HTTP and on the store (no heavy imports here: `--url` runs load only this). */

export interface ScopeFlags {
  user?: string
  agent?: string
  run?: string
}
export interface SearchFlags {
  topK: number
  mode: 'hybrid' | 'vector' | 'keyword'
  filters?: Record<string, unknown>
}
export interface ListFlags {
  filters?: Record<string, unknown>
  limit?: number
}

/** One JSON value per line on stdout, in the HTTP API's field names. */
export const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

/** Prints pages from `page` (at most 1000 items each, the API's limit) until the cursor ends or `limit` items are out. */
export async function printPages(
  limit: number | undefined,
  page: (size: number, cursor: string | undefined) => Promise<{ results: unknown[]; next: string | null }>,
): Promise<void> {
  let left = limit ?? Number.POSITIVE_INFINITY
  let cursor: string | undefined
  while (left > 0) {
    const { results, next } = await page(Math.min(left, 1000), cursor)
    for (const item of results) print(item)
    left -= results.length
    if (next === null) return
    cursor = next
  }
}
