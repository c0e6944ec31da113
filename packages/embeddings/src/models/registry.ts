import type { ModelSpecInput } from './model-spec.js'

/** A file of a hub model (embedder or reranker); `sha256` and `size` are checked after download when known. */
export interface HubFile {
  path: string
  sha256?: string
  size?: number
}

export interface KnownModel {
  spec: ModelSpecInput & { id: string }
  /**
   * Hugging Face repository and the commit it is pinned to (never a moving branch). `quantized`
   * is the repository's int8 graph at that commit, fetched instead of the fp32 one (spec
   * `onnxFile`) for `quantized: true`.
   */
  hub: { repo: string; revision: string; files: HubFile[]; quantized?: HubFile }
}

const BGE_QUERY_PREFIX = 'Represent this sentence for searching relevant passages: '

/**
 * Models `createEmbedder({ model })` knows how to fetch and run. Revisions are commit ids
 * so a download is reproducible; hashes are listed where they were known offline.
 */
export const knownModels: Record<string, KnownModel> = {
  'all-MiniLM-L6-v2': {
    spec: { id: 'all-MiniLM-L6-v2', dimensions: 384, maxLength: 256, pooling: 'mean' },
    hub: {
      repo: 'sentence-transformers/all-MiniLM-L6-v2',
      revision: 'fa97f6e7cb1a59073dff9e6b13e2715cf7475ac9',
      files: [
        { path: 'config.json', sha256: '953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41' },
        { path: 'tokenizer.json', sha256: 'be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037' },
        {
          path: 'onnx/model.onnx',
          size: 90405214,
          sha256: '6fd5d72fe4589f189f8ebc006442dbb529bb7ce38f8082112682524616046452',
        },
      ],
      // sentence-transformers' dynamic int8 export with uint8 weights (its "avx2" file): unlike
      // the qint8 ones it cannot saturate in x86 kernels without VNNI, and it runs on ARM too.
      quantized: { path: 'onnx/model_quint8_avx2.onnx', sha256: 'b941bf19f1f1283680f449fa6a7336bb5600bdcd5f84d10ddc5cd72218a0fd21' },
    },
  },
  'bge-small-en-v1.5': {
    spec: { id: 'bge-small-en-v1.5', dimensions: 384, maxLength: 512, pooling: 'cls', queryPrefix: BGE_QUERY_PREFIX },
    hub: {
      repo: 'BAAI/bge-small-en-v1.5',
      revision: '5c38ec7c405ec4b44b94cc5a9bb96e735b38267a',
      files: [{ path: 'config.json' }, { path: 'tokenizer.json' }, { path: 'onnx/model.onnx' }],
    },
  },
  'bge-base-en-v1.5': {
    spec: { id: 'bge-base-en-v1.5', dimensions: 768, maxLength: 512, pooling: 'cls', queryPrefix: BGE_QUERY_PREFIX },
    hub: {
      repo: 'BAAI/bge-base-en-v1.5',
      revision: 'a5beb1e3e68b9ab74eb54cfd186867f64f240e1a',
      files: [{ path: 'config.json' }, { path: 'tokenizer.json' }, { path: 'onnx/model.onnx' }],
    },
  },
  'e5-small-v2': {
    spec: {
      id: 'e5-small-v2',
      dimensions: 384,
      maxLength: 512,
      pooling: 'mean',
      queryPrefix: 'query: ',
      passagePrefix: 'passage: ',
    },
    hub: {
      repo: 'intfloat/e5-small-v2',
      revision: 'e8b23a92af33fd81c865283d505f8f058a570cc8',
      files: [{ path: 'config.json' }, { path: 'tokenizer.json' }, { path: 'onnx/model.onnx' }],
    },
  },
}

/** How every cross-encoder runs: the graph's `logits`, one per (query, document) pair, taken as they are. */
export const crossEncoderSpec = { dimensions: 1, pooling: 'none', normalize: false, outputName: 'logits' } as const

/**
 * Cross-encoders `createReranker({ model })` knows how to fetch and run (pinned like
 * `knownModels`). Mem0's defaults, so results compare with peers that use them.
 */
export const knownRerankers: Record<string, KnownModel> = {
  'ms-marco-MiniLM-L-6-v2': {
    // English, 22M parameters, trained on MS MARCO passage ranking: the usual fast reranker.
    spec: { id: 'ms-marco-MiniLM-L-6-v2', ...crossEncoderSpec, maxLength: 512 },
    hub: {
      repo: 'cross-encoder/ms-marco-MiniLM-L6-v2',
      revision: 'c5ee24cb16019beea0893ab7796b1df96625c6b8',
      files: [
        { path: 'config.json' },
        { path: 'tokenizer.json' },
        { path: 'onnx/model.onnx', sha256: '5d3e70fd0c9ff14b9b5169a51e957b7a9c74897afd0a35ce4bd318150c1d4d4a' },
      ],
      quantized: { path: 'onnx/model_quint8_avx2.onnx' },
    },
  },
  'bge-reranker-base': {
    // Multilingual (XLM-RoBERTa base, 278M parameters): about 7x the time per pair (docs/benchmarks/rerank.md).
    spec: { id: 'bge-reranker-base', ...crossEncoderSpec, maxLength: 512 },
    hub: {
      repo: 'BAAI/bge-reranker-base',
      revision: '2cfc18c9415c912f9d8155881c133215df768a70',
      files: [{ path: 'config.json' }, { path: 'tokenizer.json' }, { path: 'onnx/model.onnx' }],
    },
  },
}
