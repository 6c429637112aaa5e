/**
 * The shared gateway scenarios (test/scenarios/gateway-scenarios.ts) on Node: the gateway as `gatehouse serve` runs it
 * (`startNodeServer`), configured through its environment and a config file, in front of the scenario upstreams. The
 * Workers suite runs the same list against `wrangler dev`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'
import { gatewayScenarios } from '../scenarios/gateway-scenarios.ts'
import {
  parseLogLines,
  scenarioSettings,
  SCENARIO_MASTER_KEY,
  startScenarioUpstreams,
} from '../scenarios/scenario-gateway.ts'
import type { ScenarioGateway, ScenarioUpstreams } from '../scenarios/scenario-gateway.ts'

let upstreams: ScenarioUpstreams | undefined
let server: NodeServer | undefined
let cwd = ''
let output = ''

beforeAll(async () => {
  upstreams = await startScenarioUpstreams()
  const { variables, configYaml } = scenarioSettings(upstreams)
  cwd = mkdtempSync(join(tmpdir(), 'gatehouse-scenarios-'))
  writeFileSync(join(cwd, 'gatehouse.yaml'), `${configYaml}\n`)
  server = await startNodeServer({
    cwd,
    env: {
      ...variables,
      GATEHOUSE_CONFIG: 'gatehouse.yaml',
      HOST: '127.0.0.1',
      PORT: '0',
      // The scenarios read usage from the log lines, as on Workers (where they are the usage record).
      USAGE_LOG: 'true',
    },
    stdout: (line) => (output += `${line}\n`),
  })
})

afterAll(async () => {
  await server?.close()
  await upstreams?.close()
  if (cwd) rmSync(cwd, { recursive: true, force: true })
})

describe('Gatehouse on Node (startNodeServer)', () => {
  const gateway = (): ScenarioGateway => ({
    url: server!.url,
    masterKey: SCENARIO_MASTER_KEY,
    upstreams: upstreams!,
    logLines: () => parseLogLines(output),
  })

  for (const scenario of gatewayScenarios) it(scenario.name, () => scenario.run(gateway()))
})
