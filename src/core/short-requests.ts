/**
 * A route's short requests (`routes[].shortRequests`): requests that bound their output within a limit and whose input
 * is estimated within another go to the route's short target first (typically the local model), its own targets
 * following as fallbacks. The executor resolves the target with the route (`CallRoute.short`); the chat handler, which
 * knows the request, reorders (`preferShortTarget`).
 */
import type { CallRoute } from './chat-call.ts'
import type { ProviderRegistry } from './provider-registry.ts'
import { mergeRetry, mergeTimeouts, type ResolvedConfig } from './resolve-config.ts'

/**
 * The route's target for short requests (`routes[].shortRequests`), resolved like its other targets; `undefined` when
 * the route has none, or its provider is not in this runtime (the local model on Workers).
 */
export const shortTargetOf = (
  model: string,
  config: ResolvedConfig,
  registry: ProviderRegistry
): CallRoute['short'] => {
  const route = config.routes[model]
  const short = route?.shortRequests
  if (short === undefined) return undefined
  const provider = registry.get(short.provider)
  if (provider === undefined) return undefined
  return {
    target: {
      provider,
      model: short.model,
      routeName: route.name,
      timeouts: mergeTimeouts(provider.config.timeouts, route.timeouts),
      retry: mergeRetry(provider.config.retry, route.retry),
      fallbackOn: route.fallbackOn,
    },
    maxInputTokens: short.maxInputTokens,
    maxOutputTokens: short.maxOutputTokens,
  }
}

/**
 * `route` with its short-request target first, when the request is short: it bounds its output within the route's
 * limit (no bound is not short) and its input is estimated within the other (estimated only then). The route's own
 * targets follow as fallbacks (the short target is not tried twice).
 */
export const preferShortTarget = (
  route: CallRoute,
  request: { maxOutputTokens: number | null; estimateInputTokens: () => number }
): CallRoute => {
  const short = route.short
  if (short === undefined || request.maxOutputTokens === null) return route
  if (request.maxOutputTokens > short.maxOutputTokens) return route
  if (request.estimateInputTokens() > short.maxInputTokens) return route
  const { target } = short
  const rest = route.targets.filter(
    (other) => other.provider !== target.provider || other.model !== target.model
  )
  return { name: route.name, targets: [target, ...rest] }
}
