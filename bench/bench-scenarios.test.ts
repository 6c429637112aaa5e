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
    expect(names.at(-1)).toBe('streaming-converted')
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
