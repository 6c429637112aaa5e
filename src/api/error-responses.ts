import type { z } from '@hono/zod-openapi'

/**
 * The error responses a proxied route documents in the OpenAPI document, in its dialect's error shape: the statuses
 * `on-error.ts` produces for a bad body, a missing key, an unknown model, an oversized body and upstream failures.
 */
export const errorResponses = (schema: z.ZodType) => {
  const content = { 'application/json': { schema } }
  return {
    400: { description: 'Invalid request', content },
    401: { description: 'Missing or invalid API key', content },
    404: { description: 'Unknown model', content },
    413: { description: 'Body too large', content },
    502: { description: 'Upstream failure', content },
    504: { description: 'Upstream timeout', content },
  }
}
