import { readFileSync } from 'node:fs'
import { describe, it, expect } from 'vitest'
import { z } from 'zod'
import { configSchema } from './config-schema.ts'
import { loadConfig } from './load-config.ts'
import { resolveConfig } from '../src/core/resolve-config.ts'
import type { LoadConfigResult } from './load-config.ts'

const errorsOf = (result: LoadConfigResult): string[] => {
  if (result.ok) throw new Error(`expected errors, got a config: ${JSON.stringify(result.config)}`)
  return result.errors
}

const configOf = (result: LoadConfigResult) => {
  if (!result.ok) throw new Error(`expected a config, got:\n${result.errors.join('\n')}`)
  return result.config
}

describe('loadConfig: environment only', () => {
  it('builds a config from the environment with no file', () => {
    const config = configOf(loadConfig({ env: { OPENAI_API_KEY: 'sk-test', PORT: '9000' } }))
    expect(config.providers).toEqual({ openai: { type: 'openai', apiKey: 'sk-test' } })
    expect(config.server).toEqual({ port: 9000 })
    expect(config.routes).toEqual([])
  })

  it('listens on 127.0.0.1:8080 when nothing says otherwise, and takes HOST and PORT from the environment', () => {
    expect(resolveConfig(configOf(loadConfig({ env: {} }))).server).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
    })
    expect(
      resolveConfig(configOf(loadConfig({ env: { HOST: '0.0.0.0', PORT: '9001' } }))).server
    ).toMatchObject({
      host: '0.0.0.0',
      port: 9001,
    })
  })

  it('reports a non-numeric PORT', () => {
    expect(errorsOf(loadConfig({ env: { PORT: 'abc' } }))).toEqual([
      'env.PORT: expected an integer from 0 to 65535, got "abc"',
    ])
  })
})

describe('loadConfig: merging the file over the environment', () => {
  it('lets the file win where both set an option and keeps the rest from the environment', () => {
    const config = configOf(
      loadConfig({
        env: {
          OPENAI_API_KEY: 'sk-env',
          OPENAI_BASE_URL: 'http://env.example/v1',
          PORT: '9000',
          HOST: '0.0.0.0',
        },
        fileText:
          'server:\n  port: 7000\nproviders:\n  openai:\n    type: openai\n    baseUrl: http://file.example/v1\n',
      })
    )
    expect(config.server).toEqual({ port: 7000, host: '0.0.0.0' })
    expect(config.providers.openai).toEqual({
      type: 'openai',
      apiKey: 'sk-env',
      baseUrl: 'http://file.example/v1',
    })
  })

  it('treats an empty section (all options commented out) as not set', () => {
    const config = configOf(
      loadConfig({ env: { PORT: '9000' }, fileText: 'server:\n  # port: 1\nroutes:\n' })
    )
    expect(config.server).toEqual({ port: 9000 })
    expect(config.routes).toEqual([])
  })

  it('accepts an empty file', () => {
    expect(configOf(loadConfig({ env: {}, fileText: '' })).providers).toEqual({})
  })
})

describe('loadConfig: interpolation', () => {
  const file = (value: string): string =>
    `providers:\n  x:\n    type: openai-compatible\n    baseUrl: http://h/v1\n    apiKey: ${value}\n`

  it('expands ${VAR} and ${VAR:-default} inside strings', () => {
    const config = configOf(
      loadConfig({ env: { KEY: 'abc' }, fileText: file('"pre-${KEY}-${MISSING:-dflt}"') })
    )
    expect(config.providers.x.apiKey).toBe('pre-abc-dflt')
  })

  it('uses the default when the variable is set but empty', () => {
    expect(
      configOf(loadConfig({ env: { KEY: '' }, fileText: file('${KEY:-fallback}') })).providers.x
        .apiKey
    ).toBe('fallback')
  })

  it('keeps a literal ${ written as $${', () => {
    expect(
      configOf(loadConfig({ env: {}, fileText: file('"$${NOT_A_VAR}"') })).providers.x.apiKey
    ).toBe('${NOT_A_VAR}')
  })

  it('names the path and the variable when a variable is unset', () => {
    expect(errorsOf(loadConfig({ env: {}, fileText: file('${GROQ_KEY}') }))).toEqual([
      'providers.x.apiKey: environment variable GROQ_KEY is not set (use ${GROQ_KEY:-default} for a default)',
    ])
  })

  it('reports an unset variable once, alongside the other problems', () => {
    const text =
      'server:\n  port: ${UNSET_PORT}\n  colour: blue\nproviders:\n  x: { type: openai-compatible, baseUrl: "${UNSET_URL}" }\n'
    expect(errorsOf(loadConfig({ env: {}, fileText: text }))).toEqual([
      'server.port: environment variable UNSET_PORT is not set (use ${UNSET_PORT:-default} for a default)',
      'providers.x.baseUrl: environment variable UNSET_URL is not set (use ${UNSET_URL:-default} for a default)',
      'server.colour: unknown option',
    ])
  })

  it('reports every unset variable, in sequences too', () => {
    const text =
      'routes:\n  - name: ${ROUTE_NAME}\n    targets:\n      - provider: ${P}\n        model: m\n'
    expect(errorsOf(loadConfig({ env: {}, fileText: text }))).toEqual([
      'routes[0].name: environment variable ROUTE_NAME is not set (use ${ROUTE_NAME:-default} for a default)',
      'routes[0].targets[0].provider: environment variable P is not set (use ${P:-default} for a default)',
    ])
  })

  it('types an unquoted whole reference like the YAML scalar it expands to, and keeps quoted ones strings', () => {
    const numeric = loadConfig({ env: { P: '8081' }, fileText: 'server:\n  port: ${P}\n' })
    expect(configOf(numeric).server?.port).toBe(8081)
    const quoted = loadConfig({ env: { P: '8081' }, fileText: 'server:\n  port: "${P}"\n' })
    expect(errorsOf(quoted)).toEqual([
      'server.port: Invalid input: expected number, received string',
    ])
  })

  it('reports malformed references', () => {
    expect(errorsOf(loadConfig({ env: {}, fileText: file('"${1BAD}"') }))).toEqual([
      'providers.x.apiKey: invalid variable reference "${1BAD}"',
    ])
    expect(errorsOf(loadConfig({ env: {}, fileText: file('"${OPEN"') }))).toEqual([
      'providers.x.apiKey: unterminated "${" (write "$${" for a literal "${")',
    ])
  })
})

describe('loadConfig: errors', () => {
  it('reports a YAML syntax error as one line with file, line and column', () => {
    const errors = errorsOf(
      loadConfig({
        env: {},
        fileName: 'gatehouse.yaml',
        fileText: 'server:\n  port: 1\nroutes: [a, b\nmodels: {}\n',
      })
    )
    expect(errors).toEqual([
      'gatehouse.yaml:4:1: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ])
    expect(errors[0]).not.toContain('\n')
  })

  it('reports duplicate YAML keys with their position', () => {
    const errors = errorsOf(
      loadConfig({ env: {}, fileName: 'g.yaml', fileText: 'server:\n  port: 1\n  port: 2\n' })
    )
    expect(errors).toEqual(['g.yaml:3:3: Map keys must be unique'])
  })

  it('lists ALL problems at once, each as "path: message"', () => {
    const text = [
      'server:',
      '  port: 70000',
      '  colour: blue',
      'providers:',
      '  openai: { type: openai }',
      '  anthropic: { type: anthropic }',
      '  groq: { type: openai-compatible }',
      '  Bad_Name: { type: openai }',
      '  other: { type: grok }',
      'routes:',
      '  - name: fast',
      '    targets: [{ provider: openai, model: gpt-4o-mini }]',
      '  - name: fast',
      '    targets: [{ provider: openai, model: gpt-4o }]',
      '  - name: smart',
      '    targets:',
      '      - { provider: opnai, model: gpt-4o }',
      '      - { provider: anthropic }',
      'defaultProvider:',
      '  anthropic: claude',
      '',
    ].join('\n')
    const errors = errorsOf(loadConfig({ env: {}, fileText: text }))
    expect(errors).toEqual(
      expect.arrayContaining([
        'server.port: Too big: expected number to be <=65535',
        'server.colour: unknown option',
        'providers.Bad_Name: invalid name (lower-case letters, digits, - and _)',
        'providers.other.type: Invalid option: expected one of "openai"|"anthropic"|"openai-compatible"|"local"',
        'routes[2].targets[1].model: required (expected string)',
        'providers.groq.baseUrl: required for type openai-compatible',
        'routes[1].name: duplicate route name "fast" (also routes[0])',
        'routes[2].targets[0].provider: unknown provider "opnai" (configured: openai, anthropic, groq, Bad_Name, other)',
        'defaultProvider.anthropic: unknown provider "claude" (configured: openai, anthropic, groq, Bad_Name, other)',
      ])
    )
    expect(errors).toHaveLength(9)
  })

  it('checks the providers of the global fallbacks', () => {
    const text = [
      'providers:',
      '  openai: { type: openai }',
      'fallbacks:',
      '  - { provider: openai, model: gpt-4o-mini }',
      '  - { provider: lcoal, model: tiny }',
      '',
    ].join('\n')
    expect(errorsOf(loadConfig({ env: {}, fileText: text }))).toEqual([
      'fallbacks[1].provider: unknown provider "lcoal" (configured: openai)',
    ])
  })

  it('says when no provider is configured at all', () => {
    const text =
      'routes:\n  - name: fast\n    targets: [{ provider: openai, model: gpt-4o-mini }]\n'
    expect(errorsOf(loadConfig({ env: {}, fileText: text }))).toEqual([
      'routes[0].targets[0].provider: unknown provider "openai" (none configured)',
    ])
  })

  it('accepts route targets that name a provider registered from the environment', () => {
    const text =
      'routes:\n  - name: fast\n    targets: [{ provider: openai, model: gpt-4o-mini }]\n'
    expect(loadConfig({ env: { OPENAI_API_KEY: 'sk-x' }, fileText: text }).ok).toBe(true)
  })

  it('reports a top-level list instead of a mapping', () => {
    expect(errorsOf(loadConfig({ env: {}, fileText: '- a\n- b\n' }))).toEqual([
      '(root): Invalid input: expected object, received array',
    ])
  })

  it('quotes names that are not plain identifiers in paths', () => {
    const text = 'models:\n  claude-3.5-haiku:\n    maxOutputTokens: 0\n'
    expect(errorsOf(loadConfig({ env: {}, fileText: text }))).toEqual([
      'models["claude-3.5-haiku"].maxOutputTokens: Too small: expected number to be >0',
    ])
  })
})

describe('models.<name>.api', () => {
  it('marks a model served only through the Responses API, over the built-in list either way', () => {
    const text = [
      'models:',
      '  my-deployment:',
      '    api: responses',
      '  o3-pro:',
      '    api: chat',
    ].join('\n')
    const config = resolveConfig(configOf(loadConfig({ env: {}, fileText: `${text}\n` })))
    expect(config.modelApi('my-deployment')).toBe('responses')
    expect(config.modelApi('o3-pro')).toBe('chat')
    expect(config.modelApi('gpt-5-pro')).toBe('responses')
    expect(config.modelApi('gpt-4o')).toBe('chat')
  })

  it('refuses an API it does not know', () => {
    const errors = errorsOf(
      loadConfig({ env: {}, fileText: 'models:\n  o3-pro:\n    api: completions\n' })
    )
    expect(errors).toEqual([
      'models.o3-pro.api: Invalid option: expected one of "chat"|"responses"',
    ])
  })
})

describe('models.<name>.reasoning', () => {
  it('sets the reasoning control of a model, over the built-in table', () => {
    const text = [
      'models:',
      '  gpt-4o:',
      '    reasoning: openai',
      '  my-model:',
      '    reasoning: budget',
    ]
    const config = resolveConfig(
      configOf(loadConfig({ env: {}, fileText: `${text.join('\n')}\n` }))
    )
    expect(config.reasoningControl('gpt-4o')).toBe('openai')
    expect(config.reasoningControl('my-model')).toBe('budget')
    expect(config.reasoningControl('gpt-4o-mini')).toBe('none')
    expect(config.reasoningControl('unknown-model')).toBeUndefined()
  })

  it('refuses a control it does not know', () => {
    const errors = errorsOf(
      loadConfig({ env: {}, fileText: 'models:\n  gpt-5:\n    reasoning: thinking\n' })
    )
    expect(errors).toEqual([
      'models.gpt-5.reasoning: Invalid option: expected one of "effort"|"budget"|"openai"|"none"',
    ])
  })
})

describe('upstream pool settings', () => {
  const resolvedPools = (fileText: string) =>
    Object.fromEntries(
      Object.entries(resolveConfig(configOf(loadConfig({ env: {}, fileText }))).providers).map(
        ([id, provider]) => [id, provider.pool]
      )
    )

  it('gives every provider a bounded pool, the global settings over the defaults, its own over both, per field', () => {
    const pools = resolvedPools(
      [
        'pool: { connections: 64, keepAliveTimeoutMs: 10000 }',
        'providers:',
        '  plain: { type: openai, apiKey: k }',
        '  tuned: { type: anthropic, apiKey: k, pool: { connections: 2, pipelining: 0 } }',
        '',
      ].join('\n')
    )
    expect(pools.plain).toEqual({
      connections: 64,
      keepAliveTimeoutMs: 10_000,
      keepAliveMaxTimeoutMs: 600_000,
      pipelining: 1,
    })
    expect(pools.tuned).toEqual({
      connections: 2,
      keepAliveTimeoutMs: 10_000,
      keepAliveMaxTimeoutMs: 600_000,
      pipelining: 0,
    })
    expect(resolvedPools('providers:\n  plain: { type: openai, apiKey: k }\n').plain).toEqual({
      connections: 1024,
      keepAliveTimeoutMs: 4_000,
      keepAliveMaxTimeoutMs: 600_000,
      pipelining: 1,
    })
  })

  it('rejects a pool without connections, or with an unknown option, naming the path', () => {
    const text =
      'providers:\n  p: { type: openai, apiKey: k, pool: { connections: 0, maxSockets: 10 } }\n'
    expect(errorsOf(loadConfig({ env: {}, fileText: text }))).toEqual(
      expect.arrayContaining([
        'providers.p.pool.connections: Too small: expected number to be >0',
        'providers.p.pool.maxSockets: unknown option',
      ])
    )
  })
})

describe('local model providers', () => {
  const resolvedLocal = (fileText: string) =>
    resolveConfig(configOf(loadConfig({ env: {}, fileText }))).providers.local

  it('loads every model under models/ on one worker with one thread, in float32, by default', () => {
    const local = resolvedLocal('providers:\n  local: { type: local }\n')
    expect(local.local).toEqual({
      directory: 'models',
      models: null,
      workers: 1,
      intraOpNumThreads: 1,
      maxBatch: 8,
      streamIntervalMs: 5,
      dtype: 'fp32',
      versions: {},
      dtypes: {},
    })
    expect(local.models).toEqual([])
  })

  it('takes its folder, models, workers, threads, dtypes and pinned versions from the config', () => {
    const local = resolvedLocal(
      [
        'providers:',
        '  local:',
        '    type: local',
        '    directory: /srv/models',
        '    models: [gatehouse-tiny, qwen2.5-0.5b-instruct]',
        '    workers: 2',
        '    intraOpNumThreads: 4',
        '    maxBatch: 1',
        '    streamIntervalMs: 0',
        '    dtype: q8',
        '    versions: { gatehouse-tiny: "2", qwen2.5-0.5b-instruct: 2025-06-01 }',
        '    dtypes: { gatehouse-tiny: fp32 }',
        '',
      ].join('\n')
    )
    expect(local.local).toEqual({
      directory: '/srv/models',
      models: ['gatehouse-tiny', 'qwen2.5-0.5b-instruct'],
      workers: 2,
      intraOpNumThreads: 4,
      maxBatch: 1,
      streamIntervalMs: 0,
      dtype: 'q8',
      versions: { 'gatehouse-tiny': '2', 'qwen2.5-0.5b-instruct': '2025-06-01' },
      dtypes: { 'gatehouse-tiny': 'fp32' },
    })
  })

  it('refuses options of the other kind of provider, bad model names, and bad settings, naming each', () => {
    const text = [
      'providers:',
      '  local:',
      '    type: local',
      '    apiKey: k',
      '    baseUrl: http://h/v1',
      '    models: [ok, ../escape, a/b]',
      '    workers: 0',
      '    dtype: fp16',
      '    versions: { ok: "../1", a/b: "1", other: "2", ok2: 3 }',
      '    dtypes: { ok: int4, other: q8 }',
      '  openai: { type: openai, apiKey: k, workers: 2, directory: models, versions: { x: "1" } }',
      '',
    ].join('\n')
    expect(errorsOf(loadConfig({ env: {}, fileText: text }))).toEqual([
      'providers.local.workers: Too small: expected number to be >=1',
      'providers.local.dtype: Invalid option: expected one of "fp32"|"q8"',
      'providers.local.versions.ok2: Invalid input: expected string, received number',
      'providers.local.dtypes.ok: Invalid option: expected one of "fp32"|"q8"',
      'providers.local.apiKey: not an option of type local',
      'providers.local.baseUrl: not an option of type local',
      'providers.local.models[1]: "../escape" is not a model folder name (letters, digits, ., - and _)',
      'providers.local.models[2]: "a/b" is not a model folder name (letters, digits, ., - and _)',
      'providers.local.versions.ok: "../1" is not a version folder name (letters, digits, ., - and _: "2", "2025-06-01")',
      'providers.local.versions["a/b"]: "a/b" is not a model folder name (letters, digits, ., - and _)',
      "providers.local.versions.other: not one of the provider's models (ok, ../escape, a/b)",
      "providers.local.versions.ok2: not one of the provider's models (ok, ../escape, a/b)",
      "providers.local.dtypes.other: not one of the provider's models (ok, ../escape, a/b)",
      'providers.openai.directory: only for type local',
      'providers.openai.workers: only for type local',
      'providers.openai.versions: only for type local',
    ])
  })
})

describe('usage retention settings', () => {
  const usageOf = (usage: string) =>
    resolveConfig(
      configOf(loadConfig({ env: { OPENAI_API_KEY: 'k' }, fileText: `usage: ${usage}\n` }))
    ).usage

  it('keeps raw events 90 days and hourly roll-ups 400 by default; `forever` keeps them for good', () => {
    expect(usageOf('{}')).toMatchObject({ retentionDays: 90, hourlyRetentionDays: 400 })
    expect(usageOf('{ retentionDays: 30, hourlyRetentionDays: forever }')).toMatchObject({
      retentionDays: 30,
      hourlyRetentionDays: null,
    })
    expect(usageOf('{ retentionDays: forever }')).toMatchObject({
      retentionDays: null,
      hourlyRetentionDays: 400,
      batchSize: 500,
    })
  })

  it('refuses 0, a fraction, a word other than forever, or more than a century, naming the field', () => {
    const errors = errorsOf(
      loadConfig({
        env: { OPENAI_API_KEY: 'k' },
        fileText: 'usage: { retentionDays: 0, hourlyRetentionDays: 1.5 }\n',
      })
    )
    const message = 'a whole number of days from 1 to 36500, or `forever`'
    expect(errors).toEqual([
      `usage.retentionDays: ${message}`,
      `usage.hourlyRetentionDays: ${message}`,
    ])
    for (const value of ['never', '-3', '36501', '"90"'])
      expect(
        errorsOf(
          loadConfig({
            env: { OPENAI_API_KEY: 'k' },
            fileText: `usage: { retentionDays: ${value} }\n`,
          })
        )
      ).toEqual([`usage.retentionDays: ${message}`])
  })
})

describe('prompt cache settings', () => {
  const load = (fileText: string) => loadConfig({ env: { OPENAI_API_KEY: 'k' }, fileText })

  it('is off by default, with an hour TTL, in memory, and built for nothing', () => {
    const { cache } = resolveConfig(configOf(load('{}')))
    expect(cache).toMatchObject({ enabled: false, backend: 'memory', maxBytes: 134_217_728 })
    expect(cache.defaults).toMatchObject({ enabled: false, ttlMs: 3_600_000, maxTemperature: 1 })
  })

  it('gives each route the global settings with its own over them, and is on when any route is', () => {
    const { cache } = resolveConfig(
      configOf(
        load(
          [
            'cache: { ttlSeconds: 60, excludeFinishReasons: [length] }',
            'routes:',
            '  - { name: a, targets: [{ provider: openai, model: m }], cache: { enabled: true, shareAcrossTenants: true } }',
            '  - { name: b, targets: [{ provider: openai, model: m }] }',
          ].join('\n')
        )
      )
    )
    expect(cache.enabled).toBe(true)
    expect(cache.defaults.enabled).toBe(false)
    expect(cache.routes.a).toMatchObject({
      enabled: true,
      ttlMs: 60_000,
      shareAcrossTenants: true,
      excludeFinishReasons: ['length'],
    })
    expect(cache.routes.b).toMatchObject({ enabled: false, ttlMs: 60_000 })
  })

  it('refuses the redis backend without a Redis URL, and unknown finish reasons', () => {
    expect(errorsOf(load('cache: { enabled: true, backend: redis }'))).toEqual([
      'cache.backend: redis needs redis.url (or REDIS_URL)',
    ])
    expect(errorsOf(load('cache: { excludeFinishReasons: [content-filter] }'))[0]).toMatch(
      /^cache\.excludeFinishReasons\[0\]: /
    )
  })
})

describe('config/gatehouse.example.yaml', () => {
  const text = readFileSync(new URL('./gatehouse.example.yaml', import.meta.url), 'utf8')

  it('loads with the environment variables it references', () => {
    const config = configOf(
      loadConfig({
        env: { OPENAI_API_KEY: 'sk-o', ANTHROPIC_API_KEY: 'sk-ant-a', GROQ_API_KEY: 'gsk-g' },
        fileText: text,
        fileName: 'gatehouse.example.yaml',
      })
    )
    expect(Object.keys(config.providers)).toEqual([
      'openai',
      'anthropic',
      'groq',
      'local-vllm',
      'local',
    ])
    expect(config.providers['local-vllm'].baseUrl).toBe('http://localhost:8000/v1')
    expect(config.server?.port).toBe(8080)
    expect(config.routes.map((route) => route.name)).toEqual(['fast', 'smart'])
  })

  it('names the variables it needs when they are missing', () => {
    const errors = errorsOf(loadConfig({ env: {}, fileText: text }))
    expect(errors.map((error) => error.split(':')[0])).toEqual([
      'providers.openai.apiKey',
      'providers.anthropic.apiKey',
      'providers.groq.apiKey',
    ])
  })

  it('documents every option of the schema', () => {
    const missing: string[] = []
    const visit = (schema: z.ZodType, path: string): void => {
      const inner =
        schema instanceof z.ZodOptional || schema instanceof z.ZodDefault ? schema.unwrap() : schema
      if (inner instanceof z.ZodObject) {
        for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) {
          // As a key: at the start of a line (commented out or not, maybe a list item), or inside a flow map.
          if (!new RegExp(`(^[ \\t]*(# ?)?[ \\t]*(- )?|[{,][ \\t]*)${key}:`, 'm').test(text))
            missing.push(`${path}${key}`)
          visit(child, `${path}${key}.`)
        }
      } else if (inner instanceof z.ZodRecord) {
        visit(inner.valueType as z.ZodType, `${path}*.`)
      } else if (inner instanceof z.ZodArray) {
        visit(inner.element as z.ZodType, `${path}[].`)
      }
    }
    visit(configSchema, '')
    expect(missing).toEqual([])
  })
})
