/**
 * Refuses a model pattern that can match nothing this gateway serves: one that names a provider the config does not
 * have (`opnai/*`, `antropic/claude-*`) and no route either. Such a list is a typo that would lock a key out of the
 * models it was meant for, found out only when its requests fail. The shape of each pattern is the schema's check;
 * this one needs the config. A pattern without a provider (`gpt-4o*`) may name an alias or a model any provider
 * lists, which changes with the providers' catalogues, so it is taken as written.
 */
import { invalidRequest } from '../../core/errors.ts'
import type { ResolvedConfig } from '../../core/resolve-config.ts'

const toRegExp = (pattern: string): RegExp =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+]/g, '\\$&'))
      .join('.*')}$`
  )

export const checkModelPatterns = (
  patterns: readonly string[] | null | undefined,
  config: Pick<ResolvedConfig, 'providers' | 'routes'>,
  param: string
): void => {
  if (patterns === null || patterns === undefined) return
  const providers = Object.keys(config.providers)
  const routeNames = Object.values(config.routes).map((route) => route.name)
  patterns.forEach((pattern, index) => {
    const slash = pattern.indexOf('/')
    if (slash === -1) return
    const provider = pattern.slice(0, slash)
    if (provider.includes('*') || providers.includes(provider)) return
    const matcher = toRegExp(pattern)
    if (routeNames.some((name) => matcher.test(name))) return
    throw invalidRequest(
      `${param}.${index}: \`${pattern}\` matches no model: there is no provider \`${provider}\` (configured: ${providers.length === 0 ? 'none' : providers.join(', ')}) and no route matches it.`,
      `${param}.${index}`
    )
  })
}
