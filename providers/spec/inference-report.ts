/**
 * What a provider that runs its models itself (the local model) reports of each call once it ends: which version of
 * the model ran it, how long it took, how fast and how much it generated, how it ended. The runtime hands each report
 * to the execution observers (`src/core/execution-observer.ts`, event `inference`), so metrics can be labelled by
 * version, and a new version that answers longer, slower or differently (its finish reasons) shows it: a drift signal.
 * An HTTP provider reports nothing here: the gateway does not see its model run.
 */

/** How a generation ended; `null` for embeddings, and for a call that failed or was cancelled. */
export type InferenceFinishReason = 'end-token' | 'stop-sequence' | 'length'

export type InferenceReport = {
  requestId: string
  /** Provider instance id (`local`). */
  provider: string
  /** As clients name it after the provider id. */
  model: string
  /** The version folder that ran it; `null` for a model folder with no versions. */
  modelVersion: string | null
  kind: 'generation' | 'embeddings'
  /** `cancelled`: the client left or its deadline passed. A failure includes a request the model refused (a 400). */
  outcome: 'completed' | 'failed' | 'cancelled'
  /** From the call reaching the provider to its end, in milliseconds. */
  durationMs: number
  /**
   * From the generation's start on a worker to its end (embeddings: the whole call), in milliseconds: the inference
   * itself, without the prompt's tokenization and the queue. `null` when it never started.
   */
  inferenceMs: number | null
  inputTokens: number | null
  /** Tokens generated, the end-of-sequence token included; 0 for embeddings; `null` when unknown (not completed). */
  outputTokens: number | null
  /**
   * Generations: output tokens per second of `inferenceMs`; embeddings: input tokens per second. `null` when a count
   * or the time is unknown or zero.
   */
  tokensPerSecond: number | null
  finishReason: InferenceFinishReason | null
  /** A failure's status (`ProviderError.status`): 400 for a refused request, 5xx for the model's own failures. */
  errorStatus: number | null
  /** A failure's `ProviderError.kind`. */
  errorKind: string | null
}

export type InferenceReporter = (report: InferenceReport) => void
