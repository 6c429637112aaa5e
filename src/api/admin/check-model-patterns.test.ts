import { describe, expect, it } from 'vitest'
import type { ResolvedConfig } from '../../core/resolve-config.ts'
import { checkModelPatterns } from './check-model-patterns.ts'

const config = {
  providers: { openai: {}, anthropic: {} },
  routes: { 'team/fast': { name: 'team/fast' }, smart: { name: 'smart' } },
} as unknown as Pick<ResolvedConfig, 'providers' | 'routes'>

const check = (patterns: string[] | null) => () =>
  checkModelPatterns(patterns, config, 'allowed_models')

describe('checkModelPatterns', () => {
  it('accepts configured providers, wildcard providers, routes and unprefixed patterns', () => {
    expect(
      check([
        'openai/*',
        'anthropic/claude-*',
        '*/gpt-4o',
        'team/*',
        'team/fast',
        'gpt-4o*',
        'smart',
      ])
    ).not.toThrow()
    expect(check(null)).not.toThrow()
  })

  it('refuses a provider nobody configured, naming the pattern by its index', () => {
    expect(check(['openai/*', 'opnai/*'])).toThrow(
      expect.objectContaining({ param: 'allowed_models.1', status: 400 })
    )
    expect(check(['team/slow'])).toThrow(/no provider `team` \(configured: openai, anthropic\)/)
  })
})
