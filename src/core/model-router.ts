/**
 * Turns the model name a client sent into the ordered targets to try. Precedence (ARCHITECTURE.md "Spine
 * decisions", Routing): `provider/model` for a configured provider ▸ an alias (route) ▸ the one provider whose model
 * list has the name ▸ the dialect's default provider (or the only provider). Unchanged app code sends bare names like
 * `gpt-4o-mini`, so the bare-name steps matter as much as the explicit prefix.
 */
import type { Dialect } from '../../providers/spec/chat-types.ts'
import { GatewayError, invalidRequest, modelNotFound } from './errors.ts'
import type { ModelCatalog } from './model-catalog.ts'
import type { ProviderEntry, ProviderRegistry } from './provider-registry.ts'
import {
  mergeRetry,
  mergeTimeouts,
  type ResolvedConfig,
  type ResolvedRoute,
  type RetryPolicy,
  type Timeouts,
} from './resolve-config.ts'

export type Target = {
  provider: ProviderEntry
  /** Upstream model name (no `provider/` prefix). */
  model: string
  /** The alias this target came from. */
  routeName?: string
  /** Provider settings, overridden per field by the route's. */
  timeouts: Timeouts
  retry: RetryPolicy
  /** Upstream statuses that move on to the next target at once. */
  fallbackOn: number[]
  /**
   * A target of the config's global `fallbacks`, not of the model itself: the prompt cache neither keys on it nor
   * stores what it answers (a stand-in's answer must not outlive the outage it covered).
   */
  standIn?: true
}

export type ResolveTargetsOptions = {
  model: string
  dialect: Dialect
  config: ResolvedConfig
  registry: ProviderRegistry
  catalog: ModelCatalog
  /** Uniform in [0, 1); injected so weighted order can be tested. */
  random?: () => number
}

const directTarget = (provider: ProviderEntry, model: string): Target => ({
  provider,
  model,
  timeouts: provider.config.timeouts,
  retry: provider.config.retry,
  fallbackOn: [],
})

/**
 * Weighted random order without replacement: the first target is drawn with probability weight / total, the next
 * from the rest, and so on, so every target stays a fallback. Targets without a weight follow, in config order.
 */
export const orderByWeight = <T extends { weight?: number }>(
  items: readonly T[],
  random: () => number
): T[] => {
  const weighted = items.filter((item) => item.weight !== undefined)
  const rest = items.filter((item) => item.weight === undefined)
  const ordered: T[] = []
  while (weighted.length > 0) {
    const total = weighted.reduce((sum, item) => sum + (item.weight ?? 0), 0)
    let draw = random() * total
    let index = weighted.findIndex((item) => (draw -= item.weight ?? 0) < 0)
    if (index === -1) index = weighted.length - 1
    ordered.push(...weighted.splice(index, 1))
  }
  return [...ordered, ...rest]
}

/** A route target's timeouts and retry policy: the provider's, overridden by the route's. */
type TargetPolicies = Pick<Target, 'timeouts' | 'retry'>

/** Merged once per route and provider (both config), not for every request: targets share them, read-only. */
const mergedPolicies = new WeakMap<ResolvedRoute, WeakMap<ProviderEntry, TargetPolicies>>()

const policiesOf = (route: ResolvedRoute, provider: ProviderEntry): TargetPolicies => {
  let byProvider = mergedPolicies.get(route)
  if (byProvider === undefined) {
    byProvider = new WeakMap()
    mergedPolicies.set(route, byProvider)
  }
  let policies = byProvider.get(provider)
  if (policies === undefined) {
    policies = {
      timeouts: mergeTimeouts(provider.config.timeouts, route.timeouts),
      retry: mergeRetry(provider.config.retry, route.retry),
    }
    byProvider.set(provider, policies)
  }
  return policies
}

const routeTargets = (
  route: ResolvedRoute,
  registry: ProviderRegistry,
  random: () => number
): Target[] => {
  const targets: Target[] = []
  const weighted = route.targets.some((target) => target.weight !== undefined)
  for (const target of weighted ? orderByWeight(route.targets, random) : route.targets) {
    const provider = registry.get(target.provider)
    if (!provider) continue
    const { timeouts, retry } = policiesOf(route, provider)
    targets.push({
      provider,
      model: target.model,
      routeName: route.name,
      timeouts,
      retry,
      fallbackOn: route.fallbackOn,
    })
  }
  return targets
}

const ambiguity = (model: string, providers: string[]): string => {
  const names = providers.join(', ')
  const uses = providers.map((id) => `${id}/${model}`)
  const choices = `${uses.slice(0, -1).join(', ')} or ${uses.at(-1)}`
  return `The model \`${model}\` is served by providers ${names}: use ${choices} to choose one.`
}

/**
 * The targets of a model without a route of its own: `targets`, then the config's global fallbacks, each once: one that
 * is already a target, or whose provider this runtime does not have (the local model on Workers), is left out.
 */
const withFallbacks = (
  targets: Target[],
  config: ResolvedConfig,
  registry: ProviderRegistry
): Target[] => {
  if (config.fallbacks.length === 0) return targets
  const out = targets
  for (const fallback of config.fallbacks) {
    const provider = registry.get(fallback.provider)
    if (provider === undefined) continue
    if (out.some((target) => target.provider === provider && target.model === fallback.model))
      continue
    out.push({ ...directTarget(provider, fallback.model), standIn: true })
  }
  return out
}

/**
 * Where `model` leads: the targets, directly when every model list is known (the catalog's index), else through a
 * promise. Rejects, never throws, with `modelNotFound` (404) when nothing serves `model`, `invalidRequest` (400) when
 * several providers could.
 */
export const resolveTargets = (options: ResolveTargetsOptions): Target[] | Promise<Target[]> => {
  try {
    const { model, config, registry, catalog, random = Math.random } = options
    const slash = model.indexOf('/')
    if (slash > 0 && slash < model.length - 1) {
      const provider = registry.get(model.slice(0, slash))
      if (provider)
        return withFallbacks([directTarget(provider, model.slice(slash + 1))], config, registry)
    }

    const route = config.routes[model]
    if (route) {
      const targets = routeTargets(route, registry, random)
      if (targets.length > 0) return targets
    }

    const serving = catalog.providersOf(model)
    return serving instanceof Promise
      ? serving.then((ids) => targetsServing(options, ids))
      : targetsServing(options, serving)
  } catch (error) {
    return Promise.reject(error)
  }
}

/**
 * The rest of `resolveTargets`, once the providers listing the model are known. Answers directly when it can, and
 * its refusals reach the caller as a rejected promise, never a throw: the caller waits only when it has to.
 */
const targetsServing = (options: ResolveTargetsOptions, listing: readonly string[]): Target[] => {
  const { model, dialect, config, registry } = options
  const slash = model.indexOf('/')
  const serving = listing.filter((id) => registry.get(id) !== undefined)
  if (serving.length > 1) throw invalidRequest(ambiguity(model, serving), 'model')
  if (serving.length === 1)
    return withFallbacks([directTarget(registry.get(serving[0])!, model)], config, registry)

  if (slash === -1) {
    const defaultId = config.defaultProvider[dialect]
    const byDefault = defaultId === undefined ? undefined : registry.get(defaultId)
    if (byDefault) return withFallbacks([directTarget(byDefault, model)], config, registry)
    const all = registry.list()
    if (all.length === 1) return withFallbacks([directTarget(all[0], model)], config, registry)
  }
  const configured = slash > 0 ? config.providers[model.slice(0, slash)] : undefined
  if (configured !== undefined)
    // Configured, but left out of this runtime (the local model on Workers).
    throw new GatewayError(
      'not_found',
      `The model \`${model}\` cannot be served here: provider \`${configured.id}\` (type ${configured.type}) does not run in this runtime.`,
      { param: 'model', openaiCode: 'model_not_found' }
    )
  throw modelNotFound(model)
}
