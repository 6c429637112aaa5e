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
 * The gateway's own reads (`GET /v1/models`, `/v1/models/{id}`, `/v1/usage`) and a stored response's reads and
 * changes (`GET` and `DELETE /v1/responses/{id}`, its `input_items`, `POST` to its `cancel`): no model call, so an
 * answered one makes no usage event, and neither does one refused once its key was known (a 403 for another tenant's
 * usage, a 400 for a bad range, a 404 for an unknown model or response id), or a tenant's typo would count as a
 * request and an error of its own.
 */
const isGatewayRead = (method: string, path: string): boolean =>
  method === 'GET'
    ? path === '/v1/models' ||
      path.startsWith('/v1/models/') ||
      path === '/v1/usage' ||
      path.startsWith('/v1/responses/')
    : path.startsWith('/v1/responses/') &&
      (method === 'DELETE' || (method === 'POST' && path.endsWith('/cancel')))

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
  // A read refused for its key (a 401) is traffic like any other, and stays.
  if (options.status !== 401 && isGatewayRead(c.req.method, c.req.path)) return
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
    // A client that left while it sent its body (499) was not refused: it went away.
    clientAborted: options.status === 499,
    error: options.error.message,
  })
}
