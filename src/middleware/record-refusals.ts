import type { MiddlewareHandler } from 'hono'
import type { Operation } from '../../providers/spec/operation.ts'
import type { Clock } from '../core/clock.ts'
import type { UsageSink } from '../core/usage.ts'
import type { GatewayEnv } from './gateway-env.ts'

const operationByPath: Readonly<Record<string, Operation>> = {
  '/v1/chat/completions': 'chat-completions',
  '/v1/messages': 'messages',
  '/v1/messages/count_tokens': 'count-tokens',
  '/v1/embeddings': 'embeddings',
  '/v1/responses': 'responses',
}

/**
 * Accounts for requests refused before routing (a missing or wrong key, a body over the limit, a body that fails
 * validation, an unknown endpoint): one usage event each, marked `refused`, so a flood of bad requests shows in the
 * usage like any other traffic. Requests that reach a route record their own event (`usageRecorded`).
 * Hono hands a thrown error to `onError` inside `next()`, which then resolves with `c.error` set.
 */
export const recordRefusals = (options: { usage: UsageSink; clock: Clock }): MiddlewareHandler<GatewayEnv> =>
  async function recordRefusals(c, next) {
    await next()
    if (c.error === undefined || c.get('usageRecorded') === true) return
    const principal = c.get('principal')
    const startedAt = c.get('startedAt')
    options.usage.record({
      requestId: c.get('requestId'),
      principalId: principal?.id ?? null,
      tenantId: principal?.tenantId ?? null,
      dialect: c.get('dialect'),
      operation: operationByPath[c.req.path] ?? null,
      requestedModel: null,
      route: null,
      provider: null,
      model: null,
      stream: false,
      status: c.res.status,
      refused: true,
      usage: null,
      attempts: 0,
      startedAt,
      latencyMs: options.clock.now() - startedAt,
      ttfbMs: null,
      error: c.error.message,
    })
  }
