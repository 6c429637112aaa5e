import { describe, it, expect } from 'vitest'
import { envConfig } from './env-config.ts'

describe('envConfig', () => {
  it('registers openai and anthropic providers from their keys', () => {
    const { config, errors } = envConfig({ OPENAI_API_KEY: 'sk-o', ANTHROPIC_API_KEY: 'sk-ant-a' })
    expect(errors).toEqual([])
    expect(config.providers).toEqual({
      openai: { type: 'openai', apiKey: 'sk-o' },
      anthropic: { type: 'anthropic', apiKey: 'sk-ant-a' },
    })
  })

  it('registers a provider from its base URL alone (a keyless local server)', () => {
    const { config } = envConfig({ OPENAI_BASE_URL: 'http://localhost:11434/v1' })
    expect(config.providers).toEqual({
      openai: { type: 'openai', baseUrl: 'http://localhost:11434/v1' },
    })
  })

  it('registers nothing for unset or empty variables', () => {
    expect(envConfig({ OPENAI_API_KEY: '', ANTHROPIC_BASE_URL: undefined, PORT: '' })).toEqual({
      config: {},
      errors: [],
    })
  })

  it('maps the master key, host and port', () => {
    const { config } = envConfig({ GATEHOUSE_MASTER_KEY: 'gh-k', HOST: '0.0.0.0', PORT: '9090' })
    expect(config.auth).toEqual({ masterKey: 'gh-k' })
    expect(config.server).toEqual({ host: '0.0.0.0', port: 9090 })
  })

  it.each(['abc', '80.5', '-1', '65536', '1e3', ' 80'])('rejects PORT=%j', (port) => {
    const { config, errors } = envConfig({ PORT: port })
    expect(errors).toEqual([`env.PORT: expected an integer from 0 to 65535, got "${port}"`])
    expect(config.server).toBeUndefined()
  })

  it('accepts PORT=0 (pick a free port)', () => {
    expect(envConfig({ PORT: '0' }).config.server).toEqual({ port: 0 })
  })

  it('maps USAGE_LOG=true|false, and names anything else', () => {
    expect(envConfig({ USAGE_LOG: 'true' }).config.usage).toEqual({ log: true })
    expect(envConfig({ USAGE_LOG: 'false' }).config.usage).toEqual({ log: false })
    expect(envConfig({ USAGE_LOG: 'yes' }).errors).toEqual([
      'env.USAGE_LOG: expected true or false, got "yes"',
    ])
  })
})
