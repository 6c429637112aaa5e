/**
 * Model versions through the gateway as shipped (`startNodeServer`, SQLite in its own folder), with `gatehouse models`
 * run in process against it over HTTP: version 1 (pinned by the config) and version 2 (other weights) of the tiny
 * model. Activating version 2 while streams run on version 1 drops none of them: each ends with version 1's answer, and
 * the next request gets version 2's. `/v1/models` names the version serving, the execution observers see each call's
 * version (the attempt log's debug lines), the activation outlives a restart, and rolling back is one command.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import OpenAI from 'openai'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { tinyModelName, writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import type { WireModelVersions } from '../../src/api/admin/models.route.ts'
import { runCli } from '../../src/cli/run-cli.ts'
import { startNodeServer, type NodeServer } from '../../src/runtime/node.ts'

const masterKey = 'gh-local-model-versions-key'
const model = `local/${tinyModelName}`

let root: string
let gateway: NodeServer | undefined
const logLines: string[] = []

const start = async (): Promise<NodeServer> => {
  gateway = await startNodeServer({
    env: {
      GATEHOUSE_CONFIG: 'gatehouse.yaml',
      PORT: '0',
      LOG_LEVEL: 'debug',
      GATEHOUSE_MASTER_KEY: masterKey,
    },
    cwd: root,
    stdout: (line) => logLines.push(line),
  })
  return gateway
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'local-model-versions-gateway-'))
  await Promise.all([
    writeTinyModel(join(root, 'models', tinyModelName, '1')),
    writeTinyModel(join(root, 'models', tinyModelName, '2'), { seed: 15 }),
  ])
  writeFileSync(
    join(root, 'gatehouse.yaml'),
    [
      'providers:',
      '  local:',
      '    type: local',
      '    directory: models',
      // One generation at a time: the eight streams of the switch queue on the one worker, and take longer to
      // generate than version 2 takes to load (batched, they would all be done before it is ready).
      '    maxBatch: 1',
      `    versions: { ${tinyModelName}: "1" }`,
    ].join('\n')
  )
  await start()
})

afterAll(async () => {
  await gateway?.close()
  rmSync(root, { recursive: true, force: true })
})

const client = (): OpenAI =>
  new OpenAI({ apiKey: masterKey, baseURL: `${gateway!.url}/v1`, maxRetries: 0 })

const request = (maxTokens: number) => ({
  model,
  messages: [{ role: 'user' as const, content: 'Tell me about the local model.' }],
  temperature: 0,
  max_tokens: maxTokens,
})

const answer = async (maxTokens = 24): Promise<string> =>
  (await client().chat.completions.create(request(maxTokens))).choices[0].message.content!

const gatehouse = async (
  args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> => {
  let stdout = ''
  let stderr = ''
  const code = await runCli(args, {
    env: { GATEHOUSE_URL: gateway!.url, GATEHOUSE_MASTER_KEY: masterKey },
    fetch,
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
  })
  return { code, stdout, stderr }
}

const versions = async (): Promise<WireModelVersions[]> =>
  JSON.parse((await gatehouse(['models', 'list', '--json'])).stdout).data

const displayName = async (): Promise<string> => {
  const response = await fetch(`${gateway!.url}/v1/models`, {
    headers: { 'x-api-key': masterKey, 'anthropic-version': '2023-06-01' },
  })
  const { data } = (await response.json()) as { data: { id: string; display_name: string }[] }
  return data.find((each) => each.id === model)!.display_name
}

/** The attempt log's line for each local call: its request's version. */
const inferenceVersions = (): (string | null)[] =>
  logLines
    .map((line) => JSON.parse(line) as { msg: string; modelVersion?: string | null })
    .filter((line) => line.msg === 'local inference')
    .map((line) => line.modelVersion ?? null)

describe('local model versions through the gateway', () => {
  let version1 = ''
  let version2 = ''

  it('activates version 2 under streams running on version 1, which all end with version 1 answers', async () => {
    expect(await versions()).toEqual([
      {
        object: 'model.versions',
        id: model,
        provider: 'local',
        model: tinyModelName,
        active_version: '1',
        source: 'config',
        versions: ['1', '2'],
        draining_versions: [],
      },
    ])
    version1 = await answer()
    const long1 = await answer(300)
    expect(await displayName()).toBe(`${tinyModelName} (version 1)`)

    // Eight queue on the one worker: generating them all takes longer than loading version 2. A stream's response
    // starts with its generation, so only the first is awaited before the switch; the others wait in the queue.
    const streams = Array.from({ length: 8 }, () =>
      client().chat.completions.create({ ...request(300), stream: true })
    )
    const first = (await streams[0])[Symbol.asyncIterator]()
    const firstChunk = await first.next()
    const activated = await gatehouse(['models', 'activate', `${tinyModelName}@2`])
    expect(activated.stderr).toBe('')
    expect(activated.stdout).toMatch(
      new RegExp(`^${model}: version 2 serves new requests \\(activated\\), in place of version 1`)
    )
    const readers = [
      first,
      ...(await Promise.all(streams.slice(1))).map((stream) => stream[Symbol.asyncIterator]()),
    ]
    const texts = await Promise.all(
      readers.map(async (reader, index) => {
        let text = index === 0 ? (firstChunk.value?.choices[0]?.delta.content ?? '') : ''
        for (let next = await reader.next(); !next.done; next = await reader.next())
          text += next.value.choices[0]?.delta.content ?? ''
        return text
      })
    )
    expect(texts).toEqual(Array(8).fill(long1))
    const switched = logLines
      .map((line) => JSON.parse(line) as { msg: string; callsFinishingOnPrevious?: number })
      .find((line) => line.msg === 'local model version activated')
    expect(switched?.callsFinishingOnPrevious).toBeGreaterThan(0)

    version2 = await answer()
    expect(version2).not.toBe(version1)
    expect(await displayName()).toBe(`${tinyModelName} (version 2)`)
    expect(inferenceVersions()).toEqual([...Array(10).fill('1'), '2'])
  })

  it('keeps the activation across a restart, and rolls back with one command', async () => {
    await gateway!.close()
    gateway = undefined
    await start()
    expect((await versions())[0]).toMatchObject({ active_version: '2', source: 'activation' })
    expect(await answer()).toBe(version2)

    const rolledBack = await gatehouse(['models', 'activate', `${model}@1`])
    expect(rolledBack.stdout).toMatch(new RegExp(`^${model}: version 1 serves new requests`))
    expect(await answer()).toBe(version1)
    const reset = await gatehouse(['models', 'reset', tinyModelName])
    expect(reset.stdout).toMatch(
      new RegExp(`^${model}: version 1 serves new requests \\(config\\)`)
    )
    // Version 2's workers close once its last call has ended (none was running): then it is no longer listed.
    await vi.waitFor(async () => expect((await versions())[0].draining_versions).toEqual([]))
    const listed = await gatehouse(['models', 'list'])
    expect(listed.stdout).toBe(
      [
        `${'MODEL'.padEnd(model.length)}  ACTIVE  CHOSEN BY  VERSIONS  FINISHING`,
        `${model}  1       config     1, 2      -`,
        '',
      ].join('\n')
    )
  })

  it('refuses a version that is not there, and a model with no versions, naming them', async () => {
    expect(await gatehouse(['models', 'activate', `${tinyModelName}@9`])).toEqual({
      code: 1,
      stdout: '',
      stderr: `gatehouse: \`${model}\` has no version 9: its versions are 1, 2. (HTTP 404, field version)\n`,
    })
    const unknown = await gatehouse(['models', 'activate', 'openai/gpt-4o@1'])
    expect(unknown.stderr).toBe(
      `gatehouse: No model \`openai/gpt-4o\` runs in this gateway with versions (models: ${model}). (HTTP 404, field model)\n`
    )
    expect((await gatehouse(['models', 'activate', tinyModelName])).code).toBe(2)
  })
})
