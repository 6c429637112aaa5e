import type { Context } from 'hono'
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
 * Accounts for a `/v1` request refused before routing (a missing or wrong key, a body over the limit, a body that
 * fails validation, an unknown endpoint): one usage event, marked `refused`, so a flood of bad requests shows in the
 * usage like any other traffic. Called from the app's error handler, so requests that succeed pay nothing for it;
 * requests that reached a route record their own event (`usageRecorded`).
 */
export const recordRefusal = (options: {
  usage: UsageSink
  clock: Clock
  c: Context<GatewayEnv>
  status: number
  error: Error
}): void => {
  const { c } = options
  if (c.get('usageRecorded') === true || !c.req.path.startsWith('/v1/')) return
  const principal = c.get('principal')
  const startedAt = c.get('startedAt')
  options.usage.record({
    requestId: c.get('requestId'),
    principalId: principal?.id ?? null,
    tenantId: principal?.tenantId ?? null,
    keyId: principal?.kind === 'key' ? principal.id : null,
    userId: null,
    tags: [],
    dialect: c.get('dialect'),
    operation: operationByPath[c.req.path] ?? null,
    requestedModel: null,
    route: null,
    provider: null,
    model: null,
    stream: false,
    status: options.status,
    refused: true,
    usage: null,
    attempts: 0,
    startedAt,
    latencyMs: options.clock.now() - startedAt,
    ttfbMs: null,
    // Nothing went upstream: known to cost nothing, not a request of unknown price (`unpriced_requests`).
    costMicroUsd: 0,
    clientAborted: false,
    error: options.error.message,
  })
}
