import { createRequire } from 'node:module'
import { setImmediate as loopTurned } from 'node:timers/promises'
import * as lancedb from '@lancedb/lancedb'
import { MemoryError, MemoryErrorCode, storageFailed } from '../errors.js'
import type { FilterNode } from '../filters.js'
import type { ThreadRow } from '../search/context.js'
import { compileWhere, inList, literal } from './lancedb-predicate.js'
import type { ScopeCount, ScopeFilter, ScopeRow, ScoredMemory, StoreChange, StoredMemory, VectorStore, VectorStoreProvider } from './types.js'

// LanceDB is CommonJS and checks arrow classes with instanceof, so use the same (CommonJS) copy of
// apache-arrow it loads; the ESM build would be a second, incompatible set of classes.
const arrow = createRequire(import.meta.url)('apache-arrow') as typeof import('apache-arrow')

/**
 * Refuses, by name, a LanceDB setting it would panic on: LanceDB reads these once, at its first
 * CPU task, and a value it cannot parse (an empty string, 0 threads) failed the store call as
 * "Panic in async function". Checked before the store is opened.
 */
export function checkLanceEnvironment(env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, least] of [
    ['LANCE_CPU_THREADS', 1],
    ['LANCE_IO_CORE_RESERVATION', 0],
  ] as const) {
    const value = env[name]
    if (value !== undefined && !(/^\d{1,4}$/.test(value) && Number(value) >= least)) {
      throw new MemoryError(MemoryErrorCode.InvalidOptions, `${name} must be a whole number from ${least} to 9999; it is ${JSON.stringify(value)}`, {
        details: { variable: name },
      })
    }
  }
}

/** The only module that imports LanceDB: memories live in one table per embedding model. */
export async function openLanceProvider(uri: string, storageOptions?: Record<string, string>): Promise<VectorStoreProvider> {
  const db = await lancedb.connect(uri, storageOptions && { storageOptions }).catch((e: unknown) => Promise.reject(storageFailed('connect', e)))
  return {
    async open(name, dimensions) {
      try {
        const names = await db.tableNames()
        const table = names.includes(name) ? await openOrRecreate(db, name, dimensions) : await createTable(db, name, dimensions)
        await addMissingColumns(table)
        return new LanceVectorStore(table, dimensions, await tableEnd(table))
      } catch (e) {
        throw storageFailed('open table', e)
      }
    },
    async drop(name) {
      if ((await db.tableNames()).includes(name)) await db.dropTable(name)
    },
    tableNames: () => db.tableNames(),
  }
}

function tableSchema(dimensions: number): import('apache-arrow').Schema {
  const { Field, Utf8, Int64, Float32, FixedSizeList, Schema } = arrow
  const text = (name: string, nullable = false) => new Field(name, new Utf8(), nullable)
  return new Schema([
    text('id'),
    text('tenant_id'),
    text('user_id', true),
    text('agent_id', true),
    text('run_id', true),
    text('role', true),
    text('text'),
    text('dedup_key'),
    // Arrow's JSON extension: Lance stores it as JSONB, which the json_get_* filter functions read.
    new Field('metadata', new Utf8(), false, new Map([['ARROW:extension:name', 'arrow.json']])),
    new Field('created_at', new Int64(), false),
    new Field('updated_at', new Int64(), false),
    new Field('vector', new FixedSizeList(dimensions, new Field('item', new Float32(), true)), false),
    // Set when a newer fact superseded this memory (inference); null while it is current.
    new Field('valid_to', new Int64(), true),
  ])
}

/**
 * A table is only there once its first version is committed: one whose creation a crash cut
 * short (a folder without `_versions`) holds nothing, and is created anew instead of failing
 * every later open.
 */
async function openOrRecreate(db: lancedb.Connection, name: string, dimensions: number): Promise<lancedb.Table> {
  try {
    return await db.openTable(name)
  } catch (e) {
    if (!/_versions/.test(String(e)) || !/not found/i.test(String(e))) throw e
    await db.dropTable(name)
    return createTable(db, name, dimensions)
  }
}

async function createTable(db: lancedb.Connection, name: string, dimensions: number): Promise<lancedb.Table> {
  const table = await db.createEmptyTable(name, tableSchema(dimensions))
  await table.createIndex('text', { config: ftsIndex() })
  await table.createIndex('tenant_id', { config: lancedb.Index.bitmap() })
  for (const column of ['id', 'dedup_key', 'user_id', 'agent_id', 'run_id']) {
    await table.createIndex(column, { config: lancedb.Index.btree() })
  }
  return table
}

function ftsIndex(): lancedb.Index {
  return lancedb.Index.fts({ stem: true, removeStopWords: true, asciiFolding: true })
}

/** Tables created before `valid_to` existed get it, null for every row (nothing was superseded then). */
async function addMissingColumns(table: lancedb.Table): Promise<void> {
  const schema = await table.schema()
  if (!schema.fields.some((f) => f.name === 'valid_to')) await table.addColumns([{ name: 'valid_to', valueSql: 'CAST(NULL AS BIGINT)' }])
}

/**
 * The address past every row's (a row address is its fragment's id, shifted 32 bits, plus its
 * offset in the fragment; a table without stable row ids, as created here, reads it as `_rowid`):
 * a fragment written later starts there or beyond.
 */
async function tableEnd(table: lancedb.Table): Promise<bigint> {
  const rows = await table.countRows()
  if (rows === 0) return 0n
  // A plain scan reads fragments in order, so its last row is in the last fragment. Checked, since
  // the order is LanceDB's choice: an end too low would later lay out indexed rows again.
  const [last] = await table
    .query()
    .select(['id'])
    .withRowId()
    .offset(rows - 1)
    .limit(1)
    .toArray()
  const after = ((BigInt(last?._rowid ?? 0n) >> 32n) + 1n) << 32n
  if ((await table.query().where(`_rowaddr >= ${after}`).select(['id']).limit(1).toArray()).length === 0) return after
  let highest = 0n
  for await (const batch of table.query().select(['id']).withRowId()) {
    for (const id of batch.getChild('_rowid')?.toArray() ?? []) if (id > highest) highest = id
  }
  return ((highest >> 32n) + 1n) << 32n
}

/**
 * Rows per commit when maintenance lays rows out in scope order; each batch is read whole into
 * memory (~80 MB of 384-dimension rows).
 */
const layoutBatchRows = 50_000
/**
 * Fewer new rows than this are left in arrival order: rewriting them costs a pass over the whole
 * table's ids (~0.25 s at 1M rows) for little, as a few rows are as many seeks either way.
 */
const layoutMinRows = 1_000
/** Rows of one column reordered between two turns of the event loop (a few ms of work). */
const layoutSliceRows = 5_000

/** How long superseded table versions are kept for reads still using them. */
const versionRetentionMs = 60_000

const rowColumns = [
  'id',
  'tenant_id',
  'user_id',
  'agent_id',
  'run_id',
  'role',
  'text',
  'dedup_key',
  'metadata',
  'created_at',
  'updated_at',
  'vector',
  'valid_to',
]

type Row = Record<string, unknown> & { vector: { toArray(): Float32Array } | number[] }

function fromRow(row: Row): StoredMemory {
  const vector = row.vector
  const metadata = row['metadata']
  return {
    id: row['id'] as string,
    tenantId: row['tenant_id'] as string,
    userId: (row['user_id'] as string | null) ?? null,
    agentId: (row['agent_id'] as string | null) ?? null,
    runId: (row['run_id'] as string | null) ?? null,
    role: (row['role'] as string | null) ?? null,
    text: row['text'] as string,
    dedupKey: row['dedup_key'] as string,
    metadata: typeof metadata === 'string' ? JSON.parse(metadata) : {},
    createdAt: Number(row['created_at']),
    updatedAt: Number(row['updated_at']),
    validTo: row['valid_to'] === null || row['valid_to'] === undefined ? null : Number(row['valid_to']),
    vector: Array.isArray(vector) ? Float32Array.from(vector) : Float32Array.from(vector.toArray()),
  }
}

/** What places a row in its thread (search/context.ts). */
const threadColumns = ['id', 'user_id', 'agent_id', 'run_id', 'created_at'] as const

function toThreadRow(row: Record<string, unknown>): ThreadRow {
  return {
    id: row['id'] as string,
    userId: (row['user_id'] as string | null) ?? null,
    agentId: (row['agent_id'] as string | null) ?? null,
    runId: (row['run_id'] as string | null) ?? null,
    createdAt: Number(row['created_at']),
  }
}

class LanceVectorStore implements VectorStore {
  private readonly schema: import('apache-arrow').Schema
  /**
   * Rows written since the last index refresh (an upper bound: see keywordMatches). It starts at 0
   * because Memory.open refreshes the index when anything is unindexed, as the writer's duplicate
   * lookups also require.
   */
  private unindexed = 0

  constructor(
    private readonly table: lancedb.Table,
    readonly dimensions: number,
    /** Where rows written since the last maintenance begin, in arrival order (see layOutByScope); undefined when not known. */
    private newRowsFrom: bigint | undefined,
  ) {
    this.schema = tableSchema(dimensions)
  }

  /** Builds Arrow columns directly: vectors go in as one Float32Array, never as boxed numbers. */
  private toArrow(memories: readonly StoredMemory[]): import('apache-arrow').Table {
    const { makeData, vectorFromArray, RecordBatch, Struct, Table, Float32 } = arrow
    const fields = this.schema.fields
    const strings = (pick: (m: StoredMemory) => string | null, index: number) => vectorFromArray(memories.map(pick), fields[index]?.type).data[0]
    const times = (pick: (m: StoredMemory) => number) => makeData({ type: fields[9]?.type, data: BigInt64Array.from(memories, (m) => BigInt(pick(m))) })
    const validTo = vectorFromArray(
      memories.map((m) => (typeof m.validTo === 'number' ? BigInt(m.validTo) : null)),
      fields[12]?.type,
    ).data[0]
    const floats = new Float32Array(memories.length * this.dimensions)
    memories.forEach((m, i) => {
      floats.set(m.vector, i * this.dimensions)
    })
    const vectorType = fields[11]?.type
    const vectors = makeData({ type: vectorType, length: memories.length, nullCount: 0, child: makeData({ type: new Float32(), data: floats }) })
    const children = [
      strings((m) => m.id, 0),
      strings((m) => m.tenantId, 1),
      strings((m) => m.userId, 2),
      strings((m) => m.agentId, 3),
      strings((m) => m.runId, 4),
      strings((m) => m.role, 5),
      strings((m) => m.text, 6),
      strings((m) => m.dedupKey, 7),
      strings((m) => JSON.stringify(m.metadata), 8),
      times((m) => m.createdAt),
      times((m) => m.updatedAt),
      vectors,
      validTo,
    ]
    const data = makeData({ type: new Struct(fields), length: memories.length, nullCount: 0, children: children as never })
    return new Table([new RecordBatch(this.schema, data)])
  }

  /**
   * These rows in this order, as one batch. Arrow JS has no take kernel, and going through row
   * objects cost ~50 µs a row: this copies each column's bytes (strings, int64s, vectors).
   */
  private async reordered(rows: import('apache-arrow').Table, order: readonly number[]): Promise<import('apache-arrow').RecordBatch> {
    const { makeData, RecordBatch, Struct } = arrow
    const length = order.length
    // Where each output row comes from: which batch of the table, and where in it.
    const sizes = rows.batches.map((batch) => batch.numRows)
    const batchOf = new Int32Array(length)
    const indexIn = new Int32Array(length)
    order.forEach((row, to) => {
      let b = 0
      let index = row
      while (index >= (sizes[b] as number)) index -= sizes[b++] as number
      batchOf[to] = b
      indexIn[to] = index
    })
    // Searches go on meanwhile: the event loop turns every `layoutSliceRows` rows. Indexes need no
    // Data offset: Arrow JS slices the value buffers and offsets itself (the offset is for validity).
    const forEachRow = async (each: (to: number) => void) => {
      for (let to = 0; to < length; to++) {
        each(to)
        if (to % layoutSliceRows === layoutSliceRows - 1) await loopTurned()
      }
    }
    const children: import('apache-arrow').Data[] = []
    for (const field of this.schema.fields) {
      const chunks = (rows.getChild(field.name) as import('apache-arrow').Vector).data
      const chunk = (to: number) => chunks[batchOf[to] as number] as import('apache-arrow').Data
      // The copies below know the table's three column types only.
      if (chunks.some((c) => c.typeId !== field.type.typeId)) throw new Error(`column ${field.name} read as ${chunks[0]?.type}, not ${field.type}`)
      if (arrow.DataType.isFixedSizeList(field.type)) {
        // Vectors are never null.
        const floats = new Float32Array(length * this.dimensions)
        await forEachRow((to) => {
          const first = (indexIn[to] as number) * this.dimensions
          const values = (chunk(to).children[0] as import('apache-arrow').Data).values as Float32Array
          floats.set(values.subarray(first, first + this.dimensions), to * this.dimensions)
        })
        const child = makeData({ type: field.type.children[0]?.type, data: floats })
        children.push(makeData({ type: field.type, length, nullCount: 0, child }))
        continue
      }
      const valid = new Uint8Array(Math.ceil(length / 8))
      let nullCount = 0
      await forEachRow((to) => {
        if (chunk(to).getValid(indexIn[to] as number)) valid[to >> 3] = (valid[to >> 3] as number) | (1 << (to & 7))
        else nullCount++
      })
      const nullBitmap = nullCount > 0 ? valid : undefined
      if (arrow.DataType.isUtf8(field.type)) {
        const valueOffsets = new Int32Array(length + 1)
        await forEachRow((to) => {
          const { valueOffsets: from } = chunk(to)
          const index = indexIn[to] as number
          valueOffsets[to + 1] = (valueOffsets[to] as number) + (from[index + 1] as number) - (from[index] as number)
        })
        const data = new Uint8Array(valueOffsets[length] as number)
        await forEachRow((to) => {
          const { valueOffsets: from, values } = chunk(to)
          const index = indexIn[to] as number
          data.set((values as Uint8Array).subarray(from[index], from[index + 1]), valueOffsets[to] as number)
        })
        children.push(makeData({ type: field.type, length, nullCount, nullBitmap, valueOffsets, data }))
      } else {
        const data = new BigInt64Array(length)
        await forEachRow((to) => {
          data[to] = (chunk(to).values as BigInt64Array)[indexIn[to] as number] as bigint
        })
        children.push(makeData({ type: field.type, length, nullCount, nullBitmap, data }))
      }
    }
    return new RecordBatch(this.schema, makeData({ type: new Struct(this.schema.fields), length, nullCount: 0, children: children as never }))
  }

  private async rows(where: string, limit?: number, order = false): Promise<StoredMemory[]> {
    let query = this.table.query().where(where).select(rowColumns)
    if (order) query = query.orderBy({ columnName: 'id', ascending: true })
    if (limit !== undefined) query = query.limit(limit)
    return ((await query.toArray()) as Row[]).map(fromRow)
  }

  async getByIds(tenantId: string, ids: readonly string[]): Promise<StoredMemory[]> {
    if (ids.length === 0) return []
    try {
      return await this.rows(`${compileWhere({ tenantId }, undefined)} AND ${inList('id', ids)}`)
    } catch (e) {
      throw storageFailed('get', e)
    }
  }

  async ownersOf(ids: readonly string[]): Promise<Map<string, string>> {
    if (ids.length === 0) return new Map()
    try {
      const rows = await this.table.query().where(inList('id', ids)).select(['id', 'tenant_id']).toArray()
      return new Map(rows.map((r) => [r.id as string, r.tenant_id as string]))
    } catch (e) {
      throw storageFailed('id lookup', e)
    }
  }

  async findByDedupKeys(tenantId: string, keys: readonly string[], options: { indexedOnly?: boolean } = {}): Promise<Array<{ id: string; dedupKey: string }>> {
    if (keys.length === 0) return []
    try {
      let query = this.table
        .query()
        .where(`${compileWhere({ tenantId }, undefined)} AND ${inList('dedup_key', keys)}`)
        .select(['id', 'dedup_key'])
      // fastSearch skips fragments no index covers: 4 ms instead of a scan that grows with them.
      if (options.indexedOnly) query = query.fastSearch()
      const rows = await query.toArray()
      return rows.map((r) => ({ id: r.id as string, dedupKey: r.dedup_key as string }))
    } catch (e) {
      throw storageFailed('duplicate check', e)
    }
  }

  async list(scope: ScopeFilter, filter: FilterNode | undefined, afterId: string | undefined, limit: number | undefined): Promise<StoredMemory[]> {
    const where = compileWhere(scope, filter) + (afterId === undefined ? '' : ` AND id > ${literal(afterId)}`)
    try {
      return await this.rows(where, limit, true)
    } catch (e) {
      throw storageFailed('list', e)
    }
  }

  async count(scope: ScopeFilter, filter: FilterNode | undefined): Promise<number> {
    try {
      return await this.table.countRows(compileWhere(scope, filter))
    } catch (e) {
      throw storageFailed('count', e)
    }
  }

  async scopeCounts(tenantId: string): Promise<ScopeCount[]> {
    const counts = new Map<string, ScopeCount>()
    const bump = (type: ScopeCount['type'], id: unknown) => {
      if (typeof id !== 'string') return
      const key = `${type}\u0000${id}`
      const entry = counts.get(key)
      if (entry) entry.count++
      else counts.set(key, { type, id, count: 1 })
    }
    try {
      // Only the three scope columns are read; Lance is columnar, so this stays cheap per row.
      for await (const batch of this.table.query().where(compileWhere({ tenantId }, undefined)).select(['user_id', 'agent_id', 'run_id'])) {
        for (const [type, column] of [
          ['user', 'user_id'],
          ['agent', 'agent_id'],
          ['run', 'run_id'],
        ] as const) {
          for (const id of batch.getChild(column) ?? []) bump(type, id)
        }
      }
    } catch (e) {
      throw storageFailed('scope counts', e)
    }
    return [...counts.values()]
  }

  async vectorSearch(vector: Float32Array, scope: ScopeFilter, filter: FilterNode | undefined, k: number): Promise<ScoredMemory[]> {
    try {
      const rows = (await this.table
        .vectorSearch(Array.from(vector))
        .distanceType('cosine')
        .where(compileWhere(scope, filter))
        .select([...rowColumns, '_distance'])
        .limit(k)
        .toArray()) as Array<Row & { _distance: number }>
      return rows.map((row) => ({ memory: fromRow(row), score: 1 - row._distance }))
    } catch (e) {
      throw storageFailed('vector search', e)
    }
  }

  async keywordMatches(query: string, scope: ScopeFilter, filter: FilterNode | undefined, k: number): Promise<Array<{ id: string; text: string }>> {
    try {
      // LanceDB scans rows that are not in the full-text index yet and stops at the limit in row
      // order, before ranking: with limit k, the first k matches won, not the best k. So ask for
      // every unindexed row on top of the index's best k; the engine ranks them all.
      const rows = (await this.table
        .query()
        // A match query, not the query string: LanceDB reads a string in quotes as a phrase, which
        // an index without positions refuses. The engine's terms are words.
        .fullTextSearch(new lancedb.MatchQuery(query, 'text'))
        .where(compileWhere(scope, filter))
        // Two columns: every column read costs per scattered row (at 1M memories, ~480 matches of a
        // scope took 21 ms with these, 39 ms with whole rows). `_score` comes back anyway; a select
        // without it makes LanceDB log a deprecation warning on every search.
        .select(['id', 'text', '_score'])
        .limit(k + this.unindexed)
        .toArray()) as Array<{ id: string; text: string }>
      return rows.map((row) => ({ id: row.id, text: row.text }))
    } catch (e) {
      throw storageFailed('keyword search', e)
    }
  }

  async threadRows(
    scope: ScopeFilter,
    filter: FilterNode | undefined,
    windows: ReadonlyArray<{ thread: ThreadRow; from: number; to: number }>,
  ): Promise<ThreadRow[]> {
    if (windows.length === 0) return []
    const isValue = (column: string, value: string | null) => (value === null ? `${column} IS NULL` : `${column} = ${literal(value)}`)
    const stretches = windows.map(
      ({ thread, from, to }) =>
        `(${isValue('user_id', thread.userId)} AND ${isValue('agent_id', thread.agentId)} AND ${isValue('run_id', thread.runId)} AND created_at >= ${Math.floor(from)} AND created_at <= ${Math.ceil(to)})`,
    )
    try {
      const rows = await this.table
        .query()
        .where(`${compileWhere(scope, filter)} AND (${stretches.join(' OR ')})`)
        .select([...threadColumns])
        .toArray()
      return rows.map(toThreadRow)
    } catch (e) {
      throw storageFailed('thread read', e)
    }
  }

  scopeRows(scope: ScopeFilter, filter: FilterNode | undefined, limit: number, texts: true): Promise<ScopeRow[]>
  scopeRows(scope: ScopeFilter, filter: FilterNode | undefined, limit: number, texts: false): Promise<ThreadRow[]>
  async scopeRows(scope: ScopeFilter, filter: FilterNode | undefined, limit: number, texts: boolean): Promise<ThreadRow[]> {
    try {
      const rows = await this.table
        .query()
        .where(compileWhere(scope, filter))
        .select(texts ? [...threadColumns, 'text'] : [...threadColumns])
        .limit(limit)
        .toArray()
      return rows.map((row) => (texts ? Object.assign(toThreadRow(row), { text: row.text as string }) : toThreadRow(row)))
    } catch (e) {
      throw storageFailed('scope read', e)
    }
  }

  async apply(change: StoreChange, options: { replay?: boolean } = {}): Promise<void> {
    this.unindexed += change.inserts.length + change.updates.length
    try {
      if (options.replay) {
        // A replayed change may have partly landed: remove every row it touches, then write its final state.
        const touched = [...change.inserts, ...change.updates].map((m) => m.id).concat(change.deletes)
        if (touched.length > 0) await this.table.delete(inList('id', touched))
        const rows = [...change.inserts, ...change.updates]
        if (rows.length > 0) await this.table.add(this.toArrow(rows))
        return
      }
      if (change.inserts.length > 0) await this.table.add(this.toArrow(change.inserts))
      if (change.updates.length > 0) {
        await this.table.mergeInsert('id').whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(this.toArrow(change.updates))
      }
      if (change.deletes.length > 0) await this.table.delete(inList('id', change.deletes))
    } catch (e) {
      throw storageFailed('write', e)
    }
  }

  async *scan(batchSize: number, from?: string): AsyncIterable<StoredMemory[]> {
    let afterId = from
    for (;;) {
      const where = afterId === undefined ? 'true' : `id > ${literal(afterId)}`
      const batch = await this.rows(where, batchSize, true)
      if (batch.length === 0) return
      yield batch
      afterId = batch.at(-1)?.id
    }
  }

  async lastId(): Promise<string | undefined> {
    try {
      const [row] = await this.table.query().select(['id']).orderBy({ columnName: 'id', ascending: false }).limit(1).toArray()
      return row?.id as string | undefined
    } catch (e) {
      throw storageFailed('last id', e)
    }
  }

  async *scanTexts(tenantId: string): AsyncIterable<string[]> {
    try {
      for await (const batch of this.table.query().where(compileWhere({ tenantId }, undefined)).select(['text'])) {
        yield (batch.getChild('text')?.toArray() ?? []) as string[]
      }
    } catch (e) {
      throw storageFailed('scan', e)
    }
  }

  async *scanDedupKeys(): AsyncIterable<string[]> {
    try {
      for await (const batch of this.table.query().select(['dedup_key'])) {
        // A missing column must fail the scan: read as no keys, it would tell the writer no text is stored.
        const keys = batch.getChild('dedup_key')
        if (!keys) throw new Error('no dedup_key column')
        yield keys.toArray() as string[]
      }
    } catch (e) {
      throw storageFailed('scan', e)
    }
  }

  async version(): Promise<number> {
    try {
      return await this.table.version()
    } catch (e) {
      throw storageFailed('version', e)
    }
  }

  async refresh(): Promise<number> {
    try {
      const before = await this.table.version()
      await this.table.checkoutLatest()
      const after = await this.table.version()
      // Another process wrote: which of its rows its maintenance laid out is not known here, and
      // a compaction's fragments are new too. Laying them all out again, once this process leads,
      // could rewrite the whole table: its first maintenance lays out nothing instead.
      if (after !== before) this.newRowsFrom = undefined
      return after
    } catch (e) {
      throw storageFailed('refresh', e)
    }
  }

  async unindexedRows(): Promise<number> {
    try {
      const stats = await this.table.indexStats('dedup_key_idx')
      return stats?.numUnindexedRows ?? (await this.table.countRows())
    } catch (e) {
      throw storageFailed('index stats', e)
    }
  }

  countRows(): Promise<number> {
    return this.table.countRows()
  }

  async maintain(options: { purge: boolean; annIndexThreshold: number }): Promise<void> {
    try {
      // Compaction merges small fragments and folds new rows into every index (FTS included).
      // Old versions are dropped after a minute (LanceDB's default keeps them a week, which grew
      // a 100k-memory store to 10x its size); a purge drops them all at once.
      // Unknown until this maintenance ends: one that fails after compacting would otherwise
      // leave an end below the compacted fragments, and the next would move indexed rows, which
      // the writer's duplicate lookups (index only, plus the rows it wrote since) would miss.
      const newRowsFrom = this.newRowsFrom
      this.newRowsFrom = undefined
      if (options.purge) {
        await this.layOutByScope(0n, { everyRow: true })
        await this.table.createIndex('text', { config: ftsIndex(), replace: true })
      } else if (newRowsFrom !== undefined) {
        // Only an optimisation: compaction and the index refresh must not wait on it.
        await this.layOutByScope(newRowsFrom, { everyRow: false }).catch(() => undefined)
      }
      const cleanupOlderThan = new Date(options.purge ? Date.now() : Date.now() - versionRetentionMs)
      await this.table.optimize({ cleanupOlderThan, deleteUnverified: false })
      this.unindexed = 0
      this.newRowsFrom = await tableEnd(this.table)
      const indices = await this.table.listIndices()
      if (!indices.some((i) => i.columns.includes('vector')) && (await this.table.countRows()) >= options.annIndexThreshold) {
        await this.table.createIndex('vector', { config: lancedb.Index.ivfPq({ distanceType: 'cosine' }) })
      }
    } catch (e) {
      throw storageFailed('maintenance', e)
    }
  }

  /**
   * Rewrites the rows from address `from` on grouped by scope (tenant, user, agent, run), in
   * arrival order within each. Writes land in arrival order, so a scope's rows end up scattered
   * over the whole table, and reading a scope (a first search, a list) costs a seek per row: at
   * 1M memories, a first hybrid search of a 1,000-memory scope took 123 ms (p50) with its rows
   * scattered, 50 with them together. Compaction keeps the order of what it merges, so each
   * maintenance adds one run (a stretch of adjacent rows) per scope it saw writes for.
   *
   * Each batch is an update by id (one commit: a crash midway loses and duplicates nothing) whose
   * new rows land in the order given. That holds for LanceDB's hash join (`useIndex(false)`) fed
   * one Arrow batch (measured up to 100k rows; several batches, or 200k rows, came out
   * interleaved), not for its index lookup, which writes in the old rows' order. `everyRow` (a
   * purge) rewrites every row, which also leaves no deleted row's bytes in the old fragments;
   * otherwise the rows stay where they are unless laying them out at least halves their runs.
   */
  private async layOutByScope(from: bigint, options: { everyRow: boolean }): Promise<void> {
    const keys = await this.table.query().where(`_rowaddr >= ${from}`).select(['tenant_id', 'user_id', 'agent_id', 'run_id']).withRowId().toArrow()
    const count = keys.numRows
    if (count === 0 || (!options.everyRow && count < layoutMinRows)) return
    const column = (name: string) => keys.getChild(name) as import('apache-arrow').Vector
    const [tenants, users, agents, runs] = [column('tenant_id'), column('user_id'), column('agent_id'), column('run_id')]
    // Each row's scope as a number, and how many rows each scope has.
    const scopeOf = new Int32Array(count)
    const scopes = new Map<string, number>()
    const sizes: number[] = []
    let runsNow = 0
    for (let i = 0; i < count; i++) {
      // Searches go on meanwhile: no stretch of this work holds the event loop for long.
      if (i % layoutSliceRows === layoutSliceRows - 1) await loopTurned()
      const key = `${tenants.get(i)}\u0000${users.get(i) ?? ''}\u0000${agents.get(i) ?? ''}\u0000${runs.get(i) ?? ''}`
      let scope = scopes.get(key)
      if (scope === undefined) {
        scope = scopes.size
        scopes.set(key, scope)
      }
      scopeOf[i] = scope
      sizes[scope] = (sizes[scope] ?? 0) + 1
      if (i === 0 || scopeOf[i - 1] !== scope) runsNow++
    }
    if (!options.everyRow && scopes.size * 2 > runsNow) return
    // A counting sort: scopes in their keys' order, each scope's rows in arrival (address) order.
    const next = new Int32Array(scopes.size)
    let place = 0
    for (const [, scope] of [...scopes].sort(([a], [b]) => (a < b ? -1 : 1))) {
      next[scope] = place
      place += sizes[scope] as number
    }
    const addresses = column('_rowid').toArray() as BigUint64Array
    const ordered = new BigUint64Array(count)
    for (let i = 0; i < count; i++) {
      const scope = scopeOf[i] as number
      const at = next[scope] as number
      ordered[at] = addresses[i] as bigint
      next[scope] = at + 1
    }
    for (let start = 0; start < count; start += layoutBatchRows) {
      const batch = ordered.subarray(start, start + layoutBatchRows)
      // A take returns rows in address order: put them back in the batch's.
      const taken = await this.table.takeRowIds(Array.from(batch)).select(rowColumns).withRowId().toArrow()
      const takenFrom = taken.getChild('_rowid')?.toArray() as BigUint64Array
      const position = new Map(Array.from(takenFrom, (address, i) => [address, i] as const))
      const reordered = await this.reordered(
        taken,
        Array.from(batch, (address) => position.get(address) as number),
      )
      // One batch: the merge keeps the order of the rows in a batch, not that of several batches.
      // A row changed since it was read (by a writer that took over while this one was deposed)
      // keeps its newer image: every change sets updated_at.
      await this.table
        .mergeInsert('id')
        .useIndex(false)
        .whenMatchedUpdateAll({ where: 'target.updated_at = source.updated_at' })
        .execute(new arrow.Table([reordered]))
    }
  }

  close(): void {
    this.table.close()
  }
}
