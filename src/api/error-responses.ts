import type { z } from '@hono/zod-openapi'

/**
 * The error responses a proxied route documents in the OpenAPI document, in its dialect's error shape: the statuses
 * `on-error.ts` produces for a bad body, a missing key, a key not allowed the model, an unknown model, a body not
 * received in time (Node), an oversized body, a body that is not JSON, a limit or budget (or an upstream's 429), an
 * unavailable store or provider and upstream failures.
 */
export const errorResponses = (schema: z.ZodType) => {
  const content = { 'application/json': { schema } }
  return {
    400: { description: 'Invalid request', content },
    401: { description: 'Missing or invalid API key', content },
    403: { description: 'The key may not use this model', content },
    404: { description: 'Unknown model', content },
    408: {
      description: 'The request was not received whole in time (Node: `server.requestTimeoutMs`)',
    },
    413: { description: 'Body too large', content },
    415: { description: 'The body is not JSON', content },
    429: {
      description: "A tenant key's rate limit or budget, or the upstream's own rate limit",
      content,
    },
    502: { description: 'Upstream failure', content },
    503: {
      description: 'A store or every provider unavailable, or the gateway shutting down',
      content,
    },
    504: { description: 'Upstream timeout', content },
  }
}
