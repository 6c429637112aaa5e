/**
 * What the main thread and a model worker (`local-model-worker.ts`) say to each other. Token ids cross as plain
 * arrays; text crosses as it is decoded, one piece per generated token at most; embeddings cross as one transferred
 * `Float32Array` per request.
 */
import type { EmbedInput } from '../spec/embedding-types.ts'
import type { EmbeddingPooling, LocalModelDtype, LocalModelKind } from './read-model-folder.ts'

/** A chat message as chat templates read it. */
export type TemplateMessage = { role: 'system' | 'user' | 'assistant'; content: string }

export type LocalWorkerData = {
  models: {
    name: string
    folder: string
    dtype: LocalModelDtype
    /** Loaded as a causal LM (chat) or a base model (embeddings). */
    kind: LocalModelKind
    /** Embedding models only. */
    pooling?: EmbeddingPooling
  }[]
  intraOpNumThreads: number
  /** The most generations a worker runs together, sharing their forward passes (1: one at a time). */
  maxBatch: number
  /** The least time between two text messages of a generation (`create-generation-output.ts`; 0: one per piece). */
  streamIntervalMs: number
}

/** How the next token is chosen (`sample-token.ts`); `seed` is always set (a random one when the client sent none). */
export type SamplingJob = { temperature: number; topP: number; topK: number; seed: number }

export type GenerateJob = {
  model: string
  inputIds: number[]
  maxNewTokens: number
  sampling: SamplingJob
  stop: string[]
}

/** The inputs of one embeddings request, for an embedding model; token ids already checked against its vocabulary. */
export type EmbedJob = {
  model: string
  inputs: readonly EmbedInput[]
  /** The most tokens an input may have: a longer one is refused, never truncated. */
  maxInputTokens: number
}

export type ToWorker =
  | { type: 'prepare'; id: number; model: string; messages: TemplateMessage[] }
  | ({ type: 'embed'; id: number } & EmbedJob)
  | ({ type: 'generate'; id: number } & GenerateJob)
  | { type: 'cancel'; id: number }
  /** Stop: cancel what runs, release the models, end the thread (the pool's close). */
  | { type: 'close' }

/** Why a generation ended: an end-of-sequence token, a stop sequence, `maxNewTokens`, or a cancel. */
export type EndReason = 'end-token' | 'stop-sequence' | 'length' | 'cancelled'

export type FromWorker =
  | { type: 'ready' }
  | { type: 'load-failed'; message: string }
  | { type: 'prepared'; id: number; inputIds: number[] }
  /** The chat template refused the conversation (a template's `raise_exception`): the client's to fix. */
  | { type: 'prepare-failed'; id: number; message: string }
  | { type: 'started'; id: number }
  | { type: 'text'; id: number; text: string }
  | {
      type: 'end'
      id: number
      reason: EndReason
      /** The stop sequence that ended it (`reason: 'stop-sequence'`). */
      stopSequence: string | null
      /** Tokens generated, the end-of-sequence token included. */
      outputTokens: number
      /** With `reason: 'cancelled'`: the tokens there were when the worker read the cancel. */
      cancelledAt?: number
    }
  /** The generation threw (onnxruntime failed): the worker goes on serving. */
  | { type: 'failed'; id: number; message: string }
  /** An embeddings request's vectors, each unit length, `vectors.length / inputs` long, and each input's tokens. */
  | { type: 'embedded'; id: number; vectors: Float32Array; tokens: number[] }
  /** An input that cannot be embedded as it is: no token at all, or more than `maxInputTokens`. */
  | { type: 'embed-refused'; id: number; index: number; tokens: number }
  /** The embeddings request stopped after a cancel, or onnxruntime failed (`message`). */
  | { type: 'embed-failed'; id: number; message: string | null }
