/**
 * What happens inside the executor, as events: attempts, retries, fallbacks, circuit breaker changes and how streams
 * end; beside it, the prompt cache's hits, misses and writes; and from a provider that runs its models itself (the
 * local model), each call's inference, by model version (`inference`). Metrics, traces and the attempt log subscribe
 * here (`Deps.observers`); the executor emits without knowing who listens. An observer must be cheap and must not
 * throw: a throw is caught and dropped (`fanOutObservers`), since watching a request must never fail it.
 */
import type { InferenceReport } from '../../providers/spec/inference-report.ts'
import type { Operation } from '../../providers/spec/operation.ts'
import type { BreakerState } from './circuit-breaker.ts'

type AttemptFields = {
  requestId: string
  operation: Operation
  provider: string
  model: string
  /** Attempts across targets so far, this one included (from 1). */
  attempt: number
}

export type ExecutionEvent =
  | ({ type: 'attempt-started'; forwarded: boolean } & AttemptFields)
  | ({
      type: 'attempt-ended'
      /** `aborted`: the client left or the deadline passed; it counts against nobody. */
      outcome: 'success' | 'failure' | 'aborted'
      /** The upstream's status, or the gateway's status for a failure without one (504 timeout, 502 connection). */
      status: number | null
      /** `ProviderError.kind` for a failure. */
      errorKind: string | null
      errorCode: string | null
      durationMs: number
    } & AttemptFields)
  | ({ type: 'retry'; delayMs: number } & AttemptFields)
  | {
      type: 'fallback'
      requestId: string
      operation: Operation
      from: { provider: string; model: string }
      to: { provider: string; model: string }
      /** Why the previous target was left. */
      reason: 'failed' | 'circuit-open'
    }
  | { type: 'breaker'; provider: string; model: string; from: BreakerState; to: BreakerState }
  | {
      type: 'stream-ended'
      requestId: string
      operation: Operation
      provider: string
      model: string
      /** `completed`: the upstream ended it; `broken`: it failed after its first byte; `client-gone`: the client left. */
      outcome: 'completed' | 'broken' | 'client-gone'
      durationMs: number
    }
  /**
   * The prompt cache's decision for one request, before anything goes upstream: `hit` (answered from the store, or
   * from an identical request in flight), `miss` (it goes upstream, and its answer will be stored), `bypass` (the
   * cache is on for the route, but this request is not read from it: its headers or its parameters say so).
   */
  | {
      type: 'cache'
      requestId: string
      operation: Operation
      outcome: 'hit' | 'miss' | 'bypass'
      /** Where a hit came from. */
      source: 'store' | 'flight' | null
      /** What a hit would have cost upstream, at today's prices; `null` for a miss, a bypass or an unknown price. */
      savedCostMicroUsd: number | null
    }
  /** The prompt cache stored an answer (`ttlMs` from now). */
  | { type: 'cache-stored'; requestId: string; operation: Operation; ttlMs: number }
  /**
   * A call a provider ran on its own model (the local model) ended: the model version that ran it, its inference time,
   * tokens per second, output length, finish reason or error (`providers/spec/inference-report.ts`). It comes beside
   * the attempt's own events (same `requestId`), from the provider, when the model is done: for a stream, before
   * `stream-ended`.
   */
  | ({ type: 'inference' } & InferenceReport)

export interface ExecutionObserver {
  observe(event: ExecutionEvent): void
  /**
   * Does nothing with an attempt's start, nor with its end when it succeeded (the attempt log, which writes failures
   * only): the executor then makes neither event, two objects less for nearly every call. Absent: it gets them all.
   */
  readonly ignoresSuccessfulAttempts?: boolean
}

/** One observer that hands each event to all of `observers`, in order; one that throws does not stop the rest. */
export const fanOutObservers = (observers: readonly ExecutionObserver[]): ExecutionObserver => {
  // Quiet on successful attempts only when every observer is.
  const ignoresSuccessfulAttempts = observers.every(
    (observer) => observer.ignoresSuccessfulAttempts === true
  )
  if (observers.length === 1) {
    const [only] = observers
    return {
      ignoresSuccessfulAttempts,
      observe: (event) => {
        try {
          only.observe(event)
        } catch {
          // An observer's failure is its own: the request goes on.
        }
      },
    }
  }
  return {
    ignoresSuccessfulAttempts,
    observe(event) {
      for (const observer of observers) {
        try {
          observer.observe(event)
        } catch {
          // As above.
        }
      }
    },
  }
}
