import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { EmbeddingError, EmbeddingErrorCode } from '../errors.js'
import type { ModelSpec } from '../models/model-spec.js'
import { createSession, int64Tensor, type OrtSession, runSession } from '../onnx/session.js'
import { normalizeRows, pool } from './pooling.js'
import { type EncodedBatch, TextTokenizer } from './text-tokenizer.js'

export interface ModelRunnerOptions {
  folder: string
  spec: ModelSpec
  intraOpThreads: number
  /** Also load a second session with this many threads, for `solo` runs. */
  soloThreads?: number
}

/**
 * Tokenise, run, pool, normalise: the whole pipeline for one model on the current thread.
 * A worker owns one; benchmarks and parity tests use it directly as the "raw" baseline.
 */
export class ModelRunner {
  readonly spec: ModelSpec
  /** Threads of the solo session, 0 when there is none. */
  readonly soloThreads: number
  readonly #tokenizer: TextTokenizer
  readonly #session: OrtSession
  readonly #soloSession: OrtSession | undefined
  readonly #outputName: string

  private constructor(spec: ModelSpec, tokenizer: TextTokenizer, session: OrtSession, soloSession: OrtSession | undefined, soloThreads: number) {
    this.spec = spec
    this.#tokenizer = tokenizer
    this.#session = session
    this.#soloSession = soloSession
    this.soloThreads = soloSession ? soloThreads : 0
    const outputs = session.outputNames
    this.#outputName =
      spec.outputName ?? ['last_hidden_state', 'sentence_embedding', 'token_embeddings', 'logits'].find((n) => outputs.includes(n)) ?? (outputs[0] as string)
  }

  static async load({ folder, spec, intraOpThreads, soloThreads }: ModelRunnerOptions): Promise<ModelRunner> {
    const onnxPath = join(folder, spec.onnxFile)
    for (const file of [join(folder, 'tokenizer.json'), onnxPath]) {
      try {
        await access(file)
      } catch (cause) {
        throw new EmbeddingError(EmbeddingErrorCode.ModelNotFound, `model file missing: ${file}`, {
          cause,
          details: { folder, file },
        })
      }
    }
    let tokenizer: TextTokenizer
    let session: OrtSession | undefined
    let soloSession: OrtSession | undefined
    try {
      tokenizer = await TextTokenizer.load(folder)
      session = await createSession(onnxPath, { intraOpThreads })
      // ORT's spinning stays on: with it off, a lone text measured ~25% slower (threads wake per operator).
      if (soloThreads) soloSession = await createSession(onnxPath, { intraOpThreads: soloThreads })
    } catch (cause) {
      await session?.release()
      throw new EmbeddingError(EmbeddingErrorCode.ModelLoadFailed, `cannot load model ${spec.id} from ${folder}: ${(cause as Error).message}`, {
        cause,
        details: { folder },
      })
    }
    const missing = spec.outputName !== undefined && !session.outputNames.includes(spec.outputName)
    if (missing) {
      await Promise.all([session.release(), soloSession?.release()])
      const hint = spec.outputName === 'logits' ? ': a reranker needs a cross-encoder (sequence-classification) graph' : ''
      throw new EmbeddingError(
        EmbeddingErrorCode.ModelLoadFailed,
        `model ${spec.id} has no output "${spec.outputName}" (it has ${session.outputNames.join(', ')})${hint}`,
        { details: { folder } },
      )
    }
    return new ModelRunner(spec, tokenizer, session, soloSession, soloThreads ?? 0)
  }

  /**
   * Embeds texts (prefixes already applied) into one `[texts.length, dimensions]` buffer.
   * `solo`: on the session with `soloThreads`, when loaded with one.
   */
  async embed(texts: readonly string[], solo = false): Promise<Float32Array> {
    const { spec } = this
    const encoded = this.#tokenizer.encodeBatch(texts, spec.maxLength)
    const output = await this.#run(encoded, solo)
    const dims = output.dims.at(-1) ?? 0
    const pooled =
      output.dims.length === 3 && spec.pooling !== 'none'
        ? pool({ hidden: output.data, batch: encoded.batch, seqLen: encoded.seqLen, dims, attentionMask: encoded.attentionMask }, spec.pooling)
        : Float32Array.from(output.data)
    return spec.normalize ? normalizeRows(pooled, dims) : pooled
  }

  /** A cross-encoder's logits for (query, document) pairs, one per pair (its spec has `dimensions: 1`). */
  async score(pairs: readonly (readonly [string, string])[], solo = false): Promise<Float32Array> {
    const output = await this.#run(this.#tokenizer.encodePairBatch(pairs, this.spec.maxLength), solo)
    if (output.data.length !== pairs.length) {
      throw new EmbeddingError(
        EmbeddingErrorCode.DimensionMismatch,
        `model ${this.spec.id} returned ${output.data.length} logits for ${pairs.length} pairs: a reranker needs one logit per pair`,
        { details: { expected: pairs.length, actual: output.data.length } },
      )
    }
    return Float32Array.from(output.data)
  }

  async #run(encoded: EncodedBatch, solo: boolean): Promise<{ data: Float32Array; dims: readonly number[] }> {
    const { spec } = this
    const session = (solo && this.#soloSession) || this.#session
    const shape = [encoded.batch, encoded.seqLen]
    const available = {
      input_ids: int64Tensor(encoded.inputIds, shape),
      attention_mask: int64Tensor(encoded.attentionMask, shape),
      token_type_ids: int64Tensor(encoded.tokenTypeIds, shape),
    }
    const feeds = Object.fromEntries(
      session.inputNames.map((name) => {
        const tensor = available[name as keyof typeof available]
        if (!tensor) throw new EmbeddingError(EmbeddingErrorCode.ModelLoadFailed, `model input ${name} is not supported`)
        return [name, tensor]
      }),
    )
    const output = await runSession(session, feeds, this.#outputName)
    const dims = output.dims.at(-1) ?? 0
    if (dims !== spec.dimensions) {
      throw new EmbeddingError(
        EmbeddingErrorCode.DimensionMismatch,
        `model ${spec.id} produces ${dims}-dimensional vectors but its spec says ${spec.dimensions}`,
        { details: { expected: spec.dimensions, actual: dims } },
      )
    }
    return output
  }

  async release(): Promise<void> {
    await Promise.all([this.#session.release(), this.#soloSession?.release()])
  }
}
