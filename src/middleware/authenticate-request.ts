import type { MiddlewareHandler } from 'hono'
import { GatewayError } from '../core/errors.ts'
import type { Authenticator } from './authenticate.ts'
import type { GatewayEnv } from './gateway-env.ts'

/** The key a client presents: `Authorization: Bearer <key>` (OpenAI SDK) or `x-api-key: <key>` (Anthropic SDK). */
export const presentedKey = (headers: Headers): string | null => {
  const authorization = headers.get('authorization')
  if (authorization !== null) {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim())
    if (match) return match[1].trim()
  }
  return headers.get('x-api-key')?.trim() || null
}

/** Resolves the principal or answers 401 in the client's dialect (the key itself never reaches a log or a response). */
export const authenticateRequest = (authenticator: Authenticator): MiddlewareHandler<GatewayEnv> =>
  async function authenticateRequest(c, next) {
    const key = presentedKey(c.req.raw.headers)
    if (key === null) {
      throw new GatewayError(
        'authentication',
        'Missing API key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>`.'
      )
    }
    const principal = await authenticator.authenticate(key)
    if (principal === null)
      throw new GatewayError('authentication', 'Invalid API key.', {
        openaiCode: 'invalid_api_key',
      })
    c.set('principal', principal)
    await next()
  }
