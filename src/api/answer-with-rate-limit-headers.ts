import type { Context } from 'hono'
import { peekRateLimitHeaders, withRateLimitHeaders } from '../core/rate-limit-headers.ts'
import type { Deps } from '../deps.ts'
import type { GatewayEnv } from '../middleware/gateway-env.ts'

/**
 * A route's answer with the `x-ratelimit-*` headers of the tenant key that asked (`peekRateLimitHeaders`), for the
 * routes that admit no call (model lists, usage reads, stored responses): the limits are read while the route works,
 * and the answer waits for them at most the store's timeout. The master key's answer is the route's own, with no
 * read and no promise added. A route that throws leaves the headers to `on-error.ts`.
 */
export const answerWithRateLimitHeaders = (
  c: Context<GatewayEnv, string>,
  deps: Pick<Deps, 'stores' | 'logger'>,
  answer: () => Response | Promise<Response>
): Response | Promise<Response> => {
  const pending = peekRateLimitHeaders({
    principal: c.get('principal'),
    store: deps.stores.admission,
    logger: deps.logger,
  })
  if (pending === null) return answer()
  c.set('rateLimitPeek', pending)
  const answered = answer()
  return answered instanceof Promise
    ? answered.then((response) => withRateLimitHeaders(response, pending))
    : withRateLimitHeaders(answered, pending)
}

/** `handler` answering through `answerWithRateLimitHeaders`, for a route's registration. */
export const withRouteRateLimitHeaders =
  <Path extends string>(
    deps: Pick<Deps, 'stores' | 'logger'>,
    handler: (c: Context<GatewayEnv, Path>) => Response | Promise<Response>
  ) =>
  (c: Context<GatewayEnv, Path>): Response | Promise<Response> =>
    answerWithRateLimitHeaders(c, deps, () => handler(c))
