/**
 * The gateway with nothing configured, as `npm ci && npm start` leaves it on a fresh machine: the built `gatehouse`
 * command in a folder holding only the shipped models (`models/<name>/1/`, what `npm run model:build` writes), started
 * with an empty environment (no key, no config file; only a free port asked for). It serves the local models by
 * itself, under their prefixed and bare names, and is ready; a folder with no models starts all the same, with no
 * provider, and says so.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  embeddingModelName,
  writeEmbeddingModel,
} from '../../scripts/tiny-model/write-embedding-model.ts'
import { tinyModelName, writeTinyModel } from '../../scripts/tiny-model/write-tiny-model.ts'
import { buildPrivateBin } from '../helpers/build-private-bin.ts'
import {
  gatehouseListening,
  gatehouseLogLines,
  spawnGatehouse,
  stopGatehouse,
  type GatehouseProcess,
} from '../helpers/spawn-gatehouse.ts'

let bin = ''
const running: GatehouseProcess[] = []
const temporary: string[] = []

beforeAll(() => {
  bin = buildPrivateBin({ name: 'gatehouse-offline-default-test', needs: 'src/runtime/node.js' })
}, 300_000)

afterEach(async () => {
  for (const gatehouse of running.splice(0)) await stopGatehouse(gatehouse)
  for (const directory of temporary.splice(0)) rmSync(directory, { recursive: true, force: true })
})

const workDirectory = (): string => {
  const directory = mkdtempSync(join(tmpdir(), 'gatehouse-offline-'))
  temporary.push(directory)
  return directory
}

/** `gatehouse serve` with nothing in its environment but a free port (and the PATH a shell has). */
const startBare = async (cwd: string): Promise<{ url: string; gatehouse: GatehouseProcess }> => {
  const gatehouse = spawnGatehouse({ bin, cwd, env: { PORT: '0' } })
  running.push(gatehouse)
  return { url: await gatehouseListening(gatehouse), gatehouse }
}

describe('the gateway with no provider configured', () => {
  it('serves the local models from ./models with no key and no network, by prefixed and bare name', async () => {
    const cwd = workDirectory()
    await writeTinyModel(join(cwd, 'models', tinyModelName, '1'))
    await writeEmbeddingModel(join(cwd, 'models', embeddingModelName, '1'))
    const { url, gatehouse } = await startBare(cwd)

    const ready = await fetch(`${url}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready', providers: ['local'] })
    const key = readFileSync(join(cwd, 'data', 'master-key'), 'utf8').trim()
    const openai = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 })
    for (const model of [`local/${tinyModelName}`, tinyModelName]) {
      const response = await openai.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'Hello' }], max_tokens: 8 })
        .withResponse()
      expect(response.response.headers.get('x-gatehouse-provider')).toBe('local')
      expect(response.data.choices[0].finish_reason).toMatch(/^(length|stop)$/)
      expect(response.data.usage?.completion_tokens).toBeGreaterThan(0)
    }
    // Anthropic clients too: the local provider is both dialects' default.
    const anthropic = new Anthropic({ apiKey: key, baseURL: url, maxRetries: 0 })
    const message = await anthropic.messages.create({
      model: tinyModelName,
      max_tokens: 8,
      messages: [{ role: 'user', content: 'Hello' }],
    })
    expect(message.usage.output_tokens).toBeGreaterThan(0)
    const embedded = await openai.embeddings.create({ model: embeddingModelName, input: 'hi' })
    expect(embedded.data[0].embedding).toHaveLength(128)
    const listed = (await openai.models.list()).data.map((model) => model.id)
    expect(listed).toEqual(
      expect.arrayContaining([`local/${tinyModelName}`, `local/${embeddingModelName}`])
    )
    // Any other bare name goes to the default provider, which says what it has.
    const unknown = await openai.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] })
      .then(
        () => null,
        (error: unknown) => error as InstanceType<typeof OpenAI.APIError>
      )
    expect(unknown?.status).toBe(404)
    expect(unknown?.message).toContain(`this local provider serves ${tinyModelName}`)

    const lines = gatehouseLogLines(gatehouse)
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        msg: expect.stringMatching(/^no provider configured: serving the local models/),
        directory: join(cwd, 'models'),
      })
    )
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'local models loaded' }))
  })

  it('starts without the models folder, with no provider, saying so, and is not ready', async () => {
    const cwd = workDirectory()
    const { url, gatehouse } = await startBare(cwd)
    const ready = await fetch(`${url}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.json()).toEqual({ status: 'no providers configured', providers: [] })
    expect(gatehouseLogLines(gatehouse)).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringMatching(/^no provider configured: set OPENAI_API_KEY/),
      })
    )
  })
})
