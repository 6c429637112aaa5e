/**
 * One local call, from the moment it has a model version to its end, told once: the end lets go of the model set the
 * call ran on (`LocalModelSet.enter`), so a version an activation replaced is released after its last call, and reports
 * what the model did (`InferenceReport`: version, times, tokens, tokens per second, finish reason, error) to the
 * provider's reporter. Whatever ends the call first (its end, a failure, a cancel) is the end; the rest is ignored.
 */
import type {
  InferenceFinishReason,
  InferenceReport,
  InferenceReporter,
} from '../spec/inference-report.ts'
import { ProviderError } from '../spec/provider-error.ts'

export type LocalCallRecord = {
  /** The generation began on a worker (its prompt tokenized, its turn in the queue come). */
  started(): void
  completed(end: {
    inputTokens: number
    outputTokens: number
    finishReason: InferenceFinishReason | null
  }): void
  /** A `ProviderError` of kind `aborted` (the client left, a deadline) counts as a cancel. */
  failed(error: unknown, inputTokens?: number | null): void
  cancelled(): void
}

const tenths = (value: number): number => Math.round(value * 10) / 10

export const openLocalCallRecord = (options: {
  report: InferenceReporter | undefined
  /** Ends the call's hold on its model set. */
  leave: () => void
  provider: string
  model: string
  modelVersion: string | null
  requestId: string
  kind: InferenceReport['kind']
}): LocalCallRecord => {
  const openedAt = performance.now()
  /** Embeddings have no queue: their inference is the whole call. */
  let startedAt: number | null = options.kind === 'embeddings' ? openedAt : null
  let ended = false

  const end = (
    fields: Pick<
      InferenceReport,
      'outcome' | 'inputTokens' | 'outputTokens' | 'finishReason' | 'errorStatus' | 'errorKind'
    >
  ): void => {
    if (ended) return
    ended = true
    options.leave()
    if (options.report === undefined) return
    const endedAt = performance.now()
    const inferenceMs = startedAt === null ? null : endedAt - startedAt
    const counted = options.kind === 'embeddings' ? fields.inputTokens : fields.outputTokens
    options.report({
      requestId: options.requestId,
      provider: options.provider,
      model: options.model,
      modelVersion: options.modelVersion,
      kind: options.kind,
      ...fields,
      durationMs: tenths(endedAt - openedAt),
      inferenceMs: inferenceMs === null ? null : tenths(inferenceMs),
      tokensPerSecond:
        counted === null ||
        inferenceMs === null ||
        inferenceMs <= 0 ||
        fields.outcome !== 'completed'
          ? null
          : tenths((counted * 1000) / inferenceMs),
    })
  }

  return {
    started() {
      startedAt ??= performance.now()
    },
    completed({ inputTokens, outputTokens, finishReason }) {
      end({
        outcome: 'completed',
        inputTokens,
        outputTokens,
        finishReason,
        errorStatus: null,
        errorKind: null,
      })
    },
    failed(error, inputTokens = null) {
      const known = error instanceof ProviderError ? error : null
      end({
        outcome: known?.kind === 'aborted' ? 'cancelled' : 'failed',
        inputTokens,
        outputTokens: null,
        finishReason: null,
        errorStatus: known?.kind === 'aborted' ? null : (known?.status ?? 500),
        errorKind: known?.kind === 'aborted' ? null : (known?.kind ?? 'internal'),
      })
    },
    cancelled() {
      end({
        outcome: 'cancelled',
        inputTokens: null,
        outputTokens: null,
        finishReason: null,
        errorStatus: null,
        errorKind: null,
      })
    },
  }
}
