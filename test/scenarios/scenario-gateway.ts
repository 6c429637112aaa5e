/**
 * What a runtime suite provides to run the shared gateway scenarios (`gateway-scenarios.ts`): a gateway listening on
 * a URL, configured from `scenarioSettings` exactly as a user would configure that runtime (environment variables on
 * Node, `--var` bindings on Workers), in front of the mock upstreams from `startScenarioUpstreams`, and the JSON log
 * lines it printed. Node (test/integration/node-scenarios.test.ts) and Workers (test/workers/workers.test.ts) both
 * start theirs from here, so both runtimes face the same configuration and the same upstreams.
 */
import { MOCK_OPENAI_API_KEY, startMockOpenAIUpstream } from '../helpers/mock-openai-upstream.ts'
import type { MockUpstream } from '../helpers/mock-upstream-server.ts'

export const SCENARIO_MASTER_KEY = 'gh-scenario-master-key'

export type ScenarioUpstreams = {
  /** The default OpenAI provider (`OPENAI_BASE_URL`). */
  openai: MockUpstream
  /** Provider `slow` from the config file: streams 50 events 200 ms apart (10 s in all), for disconnect scenarios. */
  slow: MockUpstream
  close(): Promise<void>
}

export type ScenarioGateway = {
  /** The gateway's origin (`http://127.0.0.1:8787`), no trailing slash. */
  url: string
  masterKey: string
  upstreams: ScenarioUpstreams
  /** The JSON lines the gateway logged so far (its stdout on Node, what workerd printed on Workers). */
  logLines(): Record<string, unknown>[]
}

export type GatewayScenario = {
  /** The test name, the same in both runtimes. */
  name: string
  run(gateway: ScenarioGateway): Promise<void>
}

export const startScenarioUpstreams = async (): Promise<ScenarioUpstreams> => {
  const [openai, slow] = await Promise.all([
    startMockOpenAIUpstream(),
    startMockOpenAIUpstream({ models: ['slow-model'], streamChunks: 50, chunkDelayMs: 200 }),
  ])
  return {
    openai,
    slow,
    close: async () => void (await Promise.all([openai.close(), slow.close()])),
  }
}

/**
 * The gateway's settings: `variables` are the environment (Node) or the Worker's bindings, `configYaml` the config
 * file (Node: a file named by `GATEHOUSE_CONFIG`; Workers: the `GATEHOUSE_CONFIG_YAML` binding).
 */
export const scenarioSettings = (
  upstreams: ScenarioUpstreams
): { variables: Record<string, string>; configYaml: string } => ({
  variables: {
    OPENAI_BASE_URL: upstreams.openai.baseUrl,
    OPENAI_API_KEY: MOCK_OPENAI_API_KEY,
    GATEHOUSE_MASTER_KEY: SCENARIO_MASTER_KEY,
  },
  configYaml: [
    'providers:',
    '  slow:',
    '    type: openai-compatible',
    `    baseUrl: ${upstreams.slow.baseUrl}`,
    '    apiKey: ${OPENAI_API_KEY}',
  ].join('\n'),
})

/** The JSON objects among printed lines (a runtime may print other text around them). */
export const parseLogLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('{') && line.endsWith('}'))
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>]
      } catch {
        return []
      }
    })

/** The first log line matching `predicate`, waiting for it: usage lines are written after the response. */
export const waitForLogLine = async (
  logLines: () => Record<string, unknown>[],
  predicate: (line: Record<string, unknown>) => boolean
): Promise<Record<string, unknown>> => {
  const deadline = Date.now() + 5_000
  while (Date.now() < deadline) {
    const line = logLines().find(predicate)
    if (line) return line
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const tail = logLines()
    .slice(-20)
    .map((line) => JSON.stringify(line))
    .join('\n')
  throw new Error(`no such log line from the gateway; last lines:\n${tail}`)
}
