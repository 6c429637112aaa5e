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
