/**
 * The attempt log: an execution observer that writes what an operator needs to see in the logs (failed attempts,
 * circuit breaker changes) and leaves the rest at debug level. Never an upstream body or a key: only ids, statuses
 * and error kinds.
 */
import type { ExecutionObserver } from './execution-observer.ts'
import type { Logger } from './logger.ts'

export const createExecutionLog = (logger: Logger): ExecutionObserver => ({
  // It writes failed attempts only: an attempt's start and success are not made for it.
  ignoresSuccessfulAttempts: true,
  observe(event) {
    switch (event.type) {
      case 'attempt-ended': {
        if (event.outcome === 'success') return
        const fields = {
          requestId: event.requestId,
          provider: event.provider,
          model: event.model,
          attempt: event.attempt,
          status: event.status,
          kind: event.errorKind,
          code: event.errorCode,
        }
        if (event.outcome === 'aborted')
          logger.info(fields, 'upstream attempt aborted: the client left')
        else logger.warn(fields, 'upstream attempt failed')
        return
      }
      case 'breaker': {
        const fields = {
          provider: event.provider,
          model: event.model,
          from: event.from,
          to: event.to,
        }
        if (event.to === 'open') logger.warn(fields, 'circuit breaker opened')
        else logger.info(fields, `circuit breaker ${event.to}`)
        return
      }
      case 'retry':
        logger.debug(
          {
            requestId: event.requestId,
            provider: event.provider,
            model: event.model,
            attempt: event.attempt,
            delayMs: event.delayMs,
          },
          'retrying upstream'
        )
        return
      case 'fallback':
        logger.debug(
          { requestId: event.requestId, from: event.from, to: event.to, reason: event.reason },
          'falling back to the next target'
        )
        return
      case 'stream-ended':
        if (event.outcome === 'broken') {
          logger.warn(
            { requestId: event.requestId, provider: event.provider, model: event.model },
            'upstream stream broke after its first byte'
          )
        }
        return
      case 'cache':
        logger.debug(
          { requestId: event.requestId, outcome: event.outcome, source: event.source },
          'prompt cache'
        )
        return
      case 'inference':
        logger.debug(
          {
            requestId: event.requestId,
            provider: event.provider,
            model: event.model,
            modelVersion: event.modelVersion,
            outcome: event.outcome,
            inferenceMs: event.inferenceMs,
            outputTokens: event.outputTokens,
            tokensPerSecond: event.tokensPerSecond,
            finishReason: event.finishReason,
          },
          'local inference'
        )
        return
      case 'attempt-started':
      case 'cache-stored':
        return
    }
  },
})
