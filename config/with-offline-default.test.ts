import { describe, expect, it } from 'vitest'
import { loadConfig } from './load-config.ts'
import { hasNoProvider, withOfflineDefault } from './with-offline-default.ts'

const load = (env: Record<string, string>, fileText?: string) => {
  const loaded = loadConfig({ env, fileText })
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'))
  return loaded.config
}

describe('withOfflineDefault', () => {
  it('applies to a config with no provider, from an empty environment or a file that names none', () => {
    for (const config of [load({}), load({ PORT: '0' }, 'server:\n  host: 0.0.0.0\n')]) {
      expect(hasNoProvider(config)).toBe(true)
      const offline = withOfflineDefault(config)
      expect(offline.providers).toEqual({ local: { type: 'local' } })
      expect(offline.defaultProvider).toEqual({ openai: 'local', anthropic: 'local' })
      expect(offline.server).toEqual(config.server)
    }
  })

  it('does not apply once any provider is configured, by key, base URL or file', () => {
    expect(hasNoProvider(load({ OPENAI_API_KEY: 'sk-x' }))).toBe(false)
    expect(hasNoProvider(load({ ANTHROPIC_BASE_URL: 'http://127.0.0.1:1' }))).toBe(false)
    expect(hasNoProvider(load({}, 'providers:\n  mine:\n    type: local\n'))).toBe(false)
  })
})
