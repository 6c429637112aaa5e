import type { Dialect } from '../../providers/spec/chat-types.ts'
import type { Principal } from './authenticate.ts'

/** Per-request values shared by middleware and routes (Hono `c.var`). */
export type GatewayVariables = {
  requestId: string
  /** The dialect errors are answered in: Anthropic for `/v1/messages*` and for requests carrying `anthropic-version`. */
  dialect: Dialect
  principal: Principal
  /** Epoch ms when the request arrived. */
  startedAt: number
  /** Set once a route has taken over the request's usage event (else `recordRefusals` records a refusal). */
  usageRecorded?: boolean
  /** Set when a route put the request id headers on its response itself (see `takeRequestIdHeaders`). */
  requestIdHeadersSet?: boolean
  /** A JSON route's body as the client sent it, once read (`open-json-route.ts`): what a passthrough may forward. */
  jsonText?: string
  /**
   * The tenant key's `x-ratelimit-*` headers being read for a route that admits nothing (`answerWithRateLimitHeaders`):
   * an error the route throws reuses them rather than reading the limits again (`withErrorRateLimitHeaders`).
   */
  rateLimitPeek?: Promise<Record<string, string>>
}

export type GatewayEnv = { Variables: GatewayVariables }
