import { describe, expect, it } from 'vitest'
import { fullScenarios, jobFor, targetsOf } from './bench-scenarios.ts'

describe('the tenant scenarios', () => {
  const tenantScenarios = fullScenarios.filter((scenario) => scenario.tenant !== undefined)

  it('are the max-throughput and fixed-rate loads, each run right after its master-key namesake', () => {
    expect(tenantScenarios.map((scenario) => scenario.name)).toEqual([
      'max-throughput-tenant',
      'fixed-rate-tenant',
    ])
    for (const scenario of tenantScenarios) {
      const masterName = scenario.tenant?.masterScenario
      const index = fullScenarios.findIndex((candidate) => candidate.name === masterName)
      const { name, tenant, ...load } = scenario
      const { name: masterScenarioName, ...masterLoad } = fullScenarios[index]
      expect([name, tenant, masterScenarioName]).toEqual([
        `${masterName}-tenant`,
        { masterScenario: masterName },
        masterName,
      ])
      expect(load).toEqual(masterLoad)
      expect(fullScenarios[index + 1]).toBe(scenario)
    }
  })

  it('drive the reference and the gateway only, with the key each target is given', () => {
    const [tenantScenario] = tenantScenarios
    expect(targetsOf(tenantScenario)).toEqual(['reference', 'gateway'])
    expect(targetsOf(fullScenarios[0])).toEqual(['direct', 'reference', 'gateway'])
    const job = jobFor({
      scenario: tenantScenario,
      target: { url: 'http://127.0.0.1:1', pid: null, key: 'gh-abc' },
      verifyBodies: true,
      seconds: { measured: 2, leadIn: 1 },
    })
    expect(job.headers.authorization).toBe('Bearer gh-abc')
    expect(job.connections).toBe(64)
    expect(job.verify).toBe('json')
  })
})

describe('the converted streams', () => {
  const scenario = fullScenarios.find((candidate) => candidate.converted === true)
  if (scenario === undefined) throw new Error('no converted scenario')

  it('run after the streaming scenarios, on their connections, through the gateway only', () => {
    const names = fullScenarios.map((candidate) => candidate.name)
    // Last of the main gateway's scenarios; the cache scenarios, on gateways of their own, come after.
    const mainGateway = fullScenarios.filter((candidate) => candidate.cache === undefined)
    expect(mainGateway.at(-1)?.name).toBe('streaming-converted')
    expect(names.slice(mainGateway.length)).toEqual([
      'cache-hit-memory',
      'cache-hit-redis',
      'cache-hit-vs-miss',
    ])
    expect(scenario.connections).toBe(
      fullScenarios.find((candidate) => candidate.name === 'streaming')?.connections
    )
    expect(targetsOf(scenario)).toEqual(['responses', 'messages'])
  })

  it('call the Responses API and the Messages API on the converted route, each stream checked even when bodies are not', () => {
    const gateway = { url: 'http://127.0.0.1:1', pid: 7, key: 'bench-master' }
    const jobOf = (api: 'responses' | 'messages') =>
      jobFor({
        scenario,
        target: { ...gateway, api },
        verifyBodies: false,
        seconds: { measured: 2, leadIn: 1 },
      })
    const responses = jobOf('responses')
    expect(responses.url).toBe('http://127.0.0.1:1/v1/responses')
    expect(responses.headers.authorization).toBe('Bearer bench-master')
    expect(responses.verify).toBe('responses-sse')
    expect(JSON.parse(responses.body)).toMatchObject({
      model: 'bench-converted',
      stream: true,
      store: false,
    })
    const messages = jobOf('messages')
    expect(messages.url).toBe('http://127.0.0.1:1/v1/messages')
    expect(messages.headers['x-api-key']).toBe('bench-master')
    expect(messages.headers.authorization).toBeUndefined()
    expect(messages.verify).toBe('messages-sse')
    expect(JSON.parse(messages.body)).toMatchObject({ model: 'bench-converted', stream: true })
    // The chat scenarios leave bodies unchecked at full length, as before.
    const chat = jobFor({
      scenario: fullScenarios[0],
      target: gateway,
      verifyBodies: false,
      seconds: { measured: 2, leadIn: 1 },
    })
    expect([chat.url, chat.verify]).toEqual(['http://127.0.0.1:1/v1/chat/completions', undefined])
  })
})

describe('the prompt cache scenarios', () => {
  const scenarioNamed = (name: string) => {
    const found = fullScenarios.find((candidate) => candidate.name === name)
    if (found === undefined) throw new Error(`no ${name}`)
    return found
  }
  const cacheGateway = { url: 'http://127.0.0.1:2', pid: 9, key: 'bench-master' }

  it('set hits at 200 req/s against the direct call, paced, every answer checked and required to be a hit', () => {
    for (const name of ['cache-hit-memory', 'cache-hit-redis']) {
      const scenario = scenarioNamed(name)
      expect(scenario.overallRate).toBe(200)
      expect(scenario.overallRate).toBe(scenarioNamed('fixed-rate').overallRate)
      expect(targetsOf(scenario)).toEqual(['direct', 'gateway'])
      const seconds = { measured: 2, leadIn: 1 }
      const hit = jobFor({
        scenario,
        target: { ...cacheGateway, cache: 'hit' },
        verifyBodies: false,
        seconds,
      })
      const direct = jobFor({
        scenario,
        target: { url: 'http://127.0.0.1:1', pid: null, key: 'bench' },
        verifyBodies: false,
        seconds,
      })
      expect(hit.expectCache).toBe('hit')
      expect(hit.verify).toBe('exact-json')
      expect(hit.uniqueMarker).toBeUndefined()
      expect(JSON.parse(hit.body).model).toBe('bench-cached')
      expect(direct.expectCache).toBeUndefined()
      expect(direct.verify).toBe('exact-json')
      expect(JSON.parse(direct.body).model).toBe('gpt-4o-mini')
      // The same request but for the model: the direct call is what the gateway would send upstream.
      expect({ ...JSON.parse(hit.body), model: 'gpt-4o-mini' }).toEqual(JSON.parse(direct.body))
    }
  })

  it('set hits against misses of a 50 ms upstream, each miss a request of its own', () => {
    const scenario = scenarioNamed('cache-hit-vs-miss')
    expect(targetsOf(scenario)).toEqual(['hit', 'miss'])
    const seconds = { measured: 2, leadIn: 1 }
    const hit = jobFor({
      scenario,
      target: { ...cacheGateway, cache: 'hit' },
      verifyBodies: false,
      seconds,
    })
    const miss = jobFor({
      scenario,
      target: { ...cacheGateway, cache: 'miss' },
      verifyBodies: false,
      seconds,
    })
    expect([hit.expectCache, miss.expectCache]).toEqual(['hit', 'miss'])
    expect(JSON.parse(hit.body).metadata).toEqual({ bench_latency_ms: '50' })
    expect(JSON.parse(miss.body).metadata).toEqual({ bench_latency_ms: '50' })
    expect(miss.uniqueMarker).toBeDefined()
    expect(miss.body).toContain(miss.uniqueMarker)
    expect(hit.body).not.toContain(miss.uniqueMarker)
  })
})
